"""Reading a model bundle without torch: its manifest, its calibration, an ONNX Runtime session.

The bundle layout and what each file holds are described in :mod:`wedefense.inference.bundle`,
which writes bundles and rebuilds their PyTorch model. This module is the part a reader needs
to run ``model.onnx``, which maps waveforms to LLRs by itself (prior and calibration folded in):
importing torch costs one to several seconds, more than scoring a file, so ``wedefense detect``
on the ONNX path must not (tests/test_startup.py checks it never does).
"""

import json
import math
import os

import wedefense
from wedefense.inference.cpu_threads import cpu_threads
from wedefense.utils.errors import InputError

FORMAT = "wedefense-model-bundle"
# Bump on any change a reader of the previous version would misread; readers accept only the
# versions they list here.
# 2: weights in model.safetensors instead of a pickled model.pt
FORMAT_VERSION = 2
SUPPORTED_VERSIONS = (1, 2)

MANIFEST = "bundle.json"
CONFIG = "config.yaml"
WEIGHTS = "model.safetensors"
CALIBRATION = "calibration.json"
FRAME_CALIBRATION = "frame_calibration.json"
TORCHSCRIPT = "model.ts"
ONNX = "model.onnx"
ONNX_INT8 = "model.int8.onnx"

# Long audio is scored in windows of this many seconds, hop apart (see detector.py for why);
# anything up to one window is scored whole, exactly as recipe stages 4-6 score it.
DEFAULT_WINDOW_SECONDS = 30.0
DEFAULT_HOP_SECONDS = 15.0


def read_manifest(bundle_dir):
    """The checked manifest of a bundle directory; InputError if it is not one we can read."""
    path = os.path.join(bundle_dir, MANIFEST)
    if not os.path.isdir(bundle_dir):
        raise InputError("model bundle directory not found", bundle_dir)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except FileNotFoundError:
        raise InputError(f"not a WeDefense model bundle (no {MANIFEST}; make one with "
                         "wedefense export)", bundle_dir) from None
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg})", path, e.lineno) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InputError(f"not a WeDefense model bundle (expected \"format\": \"{FORMAT}\")",
                         path)
    version = manifest.get("format_version")
    if version not in SUPPORTED_VERSIONS:
        raise InputError(
            f"bundle format version {version!r} (written by wedefense "
            f"{manifest.get('wedefense_version', '?')}) is not supported by wedefense "
            f"{wedefense.__version__}, which reads version(s) "
            f"{', '.join(map(str, SUPPORTED_VERSIONS))}; re-export the bundle with this "
            "version or install a matching wedefense", path)
    for key in ("sample_rate", "classes", "class_counts", "files"):
        if key not in manifest:
            raise InputError(f"bundle manifest has no '{key}'", path)
    _check_manifest(manifest, bundle_dir, path)
    return manifest


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _check_manifest(manifest, bundle_dir, path):
    """Types of the entries a reader uses, and every listed file present in the bundle."""
    rate = manifest["sample_rate"]
    if not (isinstance(rate, int) and not isinstance(rate, bool) and rate > 0):
        raise InputError(f"bundle manifest: 'sample_rate' must be a positive integer, got "
                         f"{rate!r}", path)
    classes, counts = manifest["classes"], manifest["class_counts"]
    if not (isinstance(classes, list) and classes and isinstance(counts, list)
            and len(counts) == len(classes)):
        raise InputError("bundle manifest: 'classes' and 'class_counts' must be lists of the "
                         "same non-zero length", path)
    for key in ("min_samples", "window_seconds", "hop_seconds"):
        if key in manifest and not (_is_number(manifest[key]) and manifest[key] > 0):
            raise InputError(f"bundle manifest: '{key}' must be a positive number, got "
                             f"{manifest[key]!r}", path)
    files = manifest["files"]
    if not isinstance(files, dict):
        raise InputError("bundle manifest: 'files' must map roles to file names", path)
    for role in ("config", "weights"):
        if role not in files:
            raise InputError(f"bundle manifest: 'files' has no '{role}' entry", path)
    for role, name in files.items():
        if not (isinstance(name, str) and name and os.path.basename(name) == name
                and name not in (".", "..")):
            raise InputError(f"bundle manifest: files.{role} must be a file name inside the "
                             f"bundle, got {name!r}", path)
        if not os.path.isfile(os.path.join(bundle_dir, name)):
            raise InputError(f"the bundle is incomplete: {name} ({role}, listed in "
                             f"{MANIFEST}) is missing", bundle_dir)


def read_calibration(path):
    """A one-system calibration model written by ``wedefense/bin/calibrate.py train``."""
    from wedefense.calibration.logistic import load_model

    model = load_model(path)
    if model["num_systems"] != 1:
        raise InputError(f"a bundle holds one system, but this model fuses "
                         f"{model['num_systems']}", path)
    return model


def onnx_session(path, threads=None, providers=("CPUExecutionProvider",)):
    """An onnxruntime session with ``threads`` intra-op threads (None: :func:`cpu_threads`)
    that do not spin between operators (same reason as
    :func:`~wedefense.inference.cpu_threads.prefer_passive_openmp`)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or cpu_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(path, options, providers=list(providers))
