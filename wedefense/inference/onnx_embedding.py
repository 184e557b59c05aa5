"""Stage 4's fast CPU path: a trained model's utterance embedding run by ONNX Runtime.

ONNX Runtime's convolutions ran 1.4-2x faster than PyTorch's on our CPUs for the same ResNet
(benchmarks/results/inference_paths.md, detect_speed.md). The graph is exported once per
checkpoint and cached beside it (``avg_model.pt`` -> ``avg_model.embedding.onnx``), marked with
the SHA-256 of the checkpoint and the config, so that a retrained checkpoint or an edited config
is never paired with a stale graph.
Before use its embeddings are compared with PyTorch's on a probe batch; a graph that disagrees
by more than :data:`PARITY_TOLERANCE` is not used.
"""

import copy
import hashlib
import importlib.util
import json
import os
import tempfile

import numpy as np
import torch
from torch import nn

from wedefense.inference.bundle import export_onnx
from wedefense.inference.bundle_reader import onnx_session
from wedefense.inference.fast_paths import fold_batchnorm
from wedefense.models.spoof_model import min_samples
from wedefense.utils import distributed
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_path

BACKENDS = ("auto", "pytorch", "onnx")

# largest |ONNX - PyTorch| embedding difference accepted, relative to the largest |value|
# (issue 17: every exact path agrees with PyTorch fp32 to 1e-4)
PARITY_TOLERANCE = 1e-4
MODEL_KEY = "wedefense_model_sha256"  # of the checkpoint and config, in the graph's metadata


class _EmbeddingGraph(nn.Module):
    """The graph of ``model.embed`` for one unpadded utterance per call."""

    def __init__(self, model):
        super().__init__()
        self.model = copy.deepcopy(model).eval()
        for module in self.model.modules():
            if hasattr(module, "unpadded_input"):
                module.unpadded_input = True

    # min_samples() and the exporter read these
    @property
    def frontend(self):
        return self.model.frontend

    @property
    def backbone(self):
        return self.model.backbone

    def forward(self, wav, lengths):
        return self.model.embed(wav, lengths)


def can_export(config, model):
    """Whether the ONNX path suits this model: utterance embeddings of a framed or raw-waveform
    front-end. SSL models (hundreds of MB of graph, minutes to export) and frame models stay on
    PyTorch."""
    return config.get("frontend") != "ssl" and not getattr(model, "is_frame_model", False)


def graph_path(checkpoint):
    return os.path.splitext(checkpoint)[0] + ".embedding.onnx"


def _sha256(path, config):
    """Of the checkpoint's bytes and the config the model was built from."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    digest.update(json.dumps(config, sort_keys=True, default=str).encode())
    return digest.hexdigest()


class OnnxEmbedder:
    """``embed(wavs, lengths)`` like :meth:`SpoofModel.embed`, run by ONNX Runtime on CPU one
    utterance at a time (the graph skips padding masks; on a CPU batching gains little,
    benchmarks/results/extract_speed.md); ``model_digest`` is the SHA-256 of the checkpoint and
    config the graph was exported from (None if unmarked)."""

    is_frame_model = False

    def __init__(self, path, threads):
        self.session = onnx_session(path, threads)
        self.source = path
        self.model_digest = self.session.get_modelmeta().custom_metadata_map.get(MODEL_KEY)

    def embed(self, wavs, lengths):
        wavs = wavs.numpy().astype(np.float32, copy=False)
        out = [self.session.run(None, {"wav": wavs[i:i + 1, :n],
                                       "lengths": np.array([n], dtype=np.int64)})[0]
               for i, n in enumerate(lengths.tolist())]
        return torch.from_numpy(np.concatenate(out))


def _cached(path, digest, threads):
    if os.path.isfile(path):
        try:
            embedder = OnnxEmbedder(path, threads)
        except Exception:  # a damaged cache is exported again, not an error
            return None
        if embedder.model_digest == digest:
            return embedder
    return None


def _export(model, path, sample_rate, digest):
    import onnx

    with atomic_path(path) as tmp:
        export_onnx(_EmbeddingGraph(model), tmp, sample_rate, output_names=["embedding"])
        graph = onnx.load(tmp)
        onnx.helper.set_model_props(graph, {MODEL_KEY: digest})
        onnx.save(graph, tmp)


def ensure_graph(model, checkpoint, config, sample_rate, threads=None):
    """An :class:`OnnxEmbedder` of ``model`` (built from ``config``, trained weights from
    ``checkpoint``), from the cache beside the checkpoint when it was exported from these, else
    exported now (into the cache, or for this run only when the checkpoint's folder is
    read-only)."""
    path, digest = graph_path(checkpoint), _sha256(checkpoint, config)
    embedder = _cached(path, digest, threads)
    if embedder is not None:
        return embedder
    if os.access(os.path.dirname(os.path.abspath(path)), os.W_OK):
        _export(model, path, sample_rate, digest)
        return OnnxEmbedder(path, threads)
    with tempfile.TemporaryDirectory() as tmp:  # the session keeps the graph in memory
        _export(model, os.path.join(tmp, os.path.basename(path)), sample_rate, digest)
        embedder = OnnxEmbedder(os.path.join(tmp, os.path.basename(path)), threads)
    embedder.source = f"exported for this run: {os.path.dirname(path)} is read-only"
    return embedder


def parity_error(embedder, model, sample_rate, seed=0):
    """Largest |ONNX - PyTorch| embedding difference on a padded probe batch of noise, relative
    to the largest |PyTorch value|."""
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([max(2 * sample_rate, min_samples(model)),
                            max(sample_rate, min_samples(model))])
    wavs = 0.1 * torch.randn(2, int(lengths.max()), generator=g)
    wavs[1, int(lengths[1]):] = 0.0
    with torch.inference_mode():
        reference = model.embed(wavs, lengths).float()
    got = embedder.embed(wavs, lengths)
    return float((got - reference).abs().max() / reference.abs().max().clamp(min=1e-12))


def _onnx_embedder(model, model_path, config, sample_rate, threads, rank, world_size):
    # rank 0 exports; every rank reaches the barrier, so a failed export cannot hang the others
    embedder, failure = None, None
    if rank == 0:
        try:
            embedder = ensure_graph(model, model_path, config, sample_rate, threads)
        except Exception as e:
            failure = e
    if world_size > 1:
        distributed.barrier()
    if failure is not None:
        raise failure
    if embedder is None:  # rank 0's cache, or this rank's own export if it could not write one
        embedder = ensure_graph(model, model_path, config, sample_rate, threads)
    error = parity_error(embedder, model, sample_rate)
    if error > PARITY_TOLERANCE:
        raise RuntimeError(f"its embeddings differ from PyTorch's by {error:.1e} (relative), "
                           f"more than {PARITY_TOLERANCE:g}")
    return embedder


def fastest_embedder(backend, config, model, model_path, sample_rate, device, threads,
                     rank=0, world_size=1):
    """``(model or embedder, description)`` of the inference path ``backend`` asks for."""
    def pytorch(why=""):
        return fold_batchnorm(model), f"PyTorch fp32, BatchNorm folded, on {device}{why}"

    if backend == "pytorch":
        return pytorch()
    if device != "cpu":
        if backend == "onnx":
            raise InputError("--backend onnx runs on a CPU; use --device cpu")
        return pytorch()
    missing = [m for m in ("onnxruntime", "onnxscript")
               if importlib.util.find_spec(m) is None]
    if backend == "auto" and (missing or not can_export(config, model)):
        return pytorch()
    if missing:
        raise InputError(f"--backend onnx needs {' and '.join(missing)}: "
                         "pip install -e '.[export]'")
    try:
        embedder = _onnx_embedder(model, model_path, config, sample_rate, threads, rank,
                                  world_size)
    except Exception as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        if backend == "onnx":
            raise InputError(f"the ONNX path cannot be used: {reason}", model_path) from e
        return pytorch(f" (ONNX path not used: {reason})")
    return embedder, f"ONNX Runtime fp32 ({embedder.source}) on cpu"
