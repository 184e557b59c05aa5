"""WeDefense: a toolkit to defend against fake audio.

Importing the package has no side effects; submodules are imported on demand, and so is
``wedefense.Detector`` (which brings in torch only when first used):

    from wedefense import Detector
    detector = Detector.load("exp/x/bundle")
"""

__version__ = "0.1.0"


def __getattr__(name):
    # lazy, so that `import wedefense` stays cheap (no torch) for the CLI and tools
    if name == "Detector":
        from wedefense.inference.detector import Detector

        return Detector
    raise AttributeError(f"module 'wedefense' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + ["Detector"])
