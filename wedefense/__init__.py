"""WeDefense: a toolkit to defend against fake audio.

Importing the package has no side effects; submodules are imported on demand.
"""

__version__ = "0.1.0"
