"""Score audio with a model bundle: waveforms, files, folders and ``wav.scp`` lists.

    from wedefense import Detector
    detector = Detector.load("bundle/")
    llr = detector.score(waveform, sample_rate)        # float, > 0 leans bona fide
    for r in detector.score_files(["a.wav", "clips/", "data/eval/wav.scp"]):
        print(r.utt, r.llr, r.decision, r.p_bonafide)

Any sample rate is resampled to the bundle's, several channels are averaged to one.

Long audio. Audio up to ``window_seconds`` (30 s by default) is scored whole, exactly as the recipe
scores an utterance in stages 4-6. Longer audio is cut into windows of that length, ``hop_seconds``
(15 s) apart, the last one aligned with the end so that every sample is covered and every window
has the full length; the file's LLR is the **mean** of its window LLRs. The mean keeps the scale of
one window's LLR, which is what the model and its calibration were fitted to: the sum would be the
LLR of independent windows, but overlapping windows of one recording (same speaker, channel and,
usually, the same generator) are far from independent, so summing would make scores grow with
duration and be overconfident. ``Detector.score_windows`` and ``FileScore.windows`` give the
per-window LLRs for locating a spoofed stretch inside a long recording (a partially spoofed file
can have a bona fide mean and one clearly spoof window).

No usable signal. Audio without one (digital silence, a constant value, noise below one 16-bit
step; see :mod:`wedefense.inference.audio_checks`) gets no LLR: ``score`` raises an
:class:`InputError`, and ``score_files`` gives it ``decision="no_signal"`` with ``llr`` None. A
file that decodes to less than its header declares (a cut-off download) is an error,
"truncated", not a score of the part that is left.

Decisions use the Bayes threshold (README.md, "Stage 6"): bona fide when ``llr >= -ln(beta)``,
``beta = Cmiss (1 - Pspoof) / (Cfa Pspoof)``; ``p_bonafide`` is the posterior at the application
prior, ``sigmoid(llr + ln((1 - Pspoof) / Pspoof))``. Both assume the LLR is calibrated: export
the bundle with a calibration model (``wedefense/bin/calibrate.py``) for decisions you can trust.
"""

import dataclasses
import math
import os
import re
import sys
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional, Tuple

import numpy as np

from wedefense.dataset.audio import load_audio
from wedefense.dataset.batch_seconds import default_batch_seconds, length_batches
from wedefense.dataset.prepare import audio_duration
from wedefense.inference import bundle_reader
from wedefense.inference.audio_checks import TRUNCATED_FRACTION, declared_seconds, has_signal
from wedefense.inference.frame_windows import num_frames, plan_windows, stitch
from wedefense.inference.inputs import expand_inputs
from wedefense.inference.spoofed_ranges import spoofed_ranges
from wedefense.metrics.detection import (
    DEFAULT_C_FA,
    DEFAULT_C_MISS,
    DEFAULT_P_SPOOF,
    bayes_threshold,
)
from wedefense.utils.errors import InputError

BACKENDS = ("auto", "pytorch", "torchscript", "onnx", "onnx_int8")
# Localization of long audio: each window's frames this close to a cut are left to the
# neighbouring window, which sees them with context on both sides (frame_windows.py).
DEFAULT_CONTEXT_SECONDS = 1.0


@dataclasses.dataclass
class Window:
    start: float  # seconds
    end: float
    llr: float


@dataclasses.dataclass
class FileScore:
    """The score of one input; ``error`` is set (and the scores are None) if it failed, and
    ``decision`` is "no_signal" (the scores None) for audio without a usable signal."""

    utt: str
    path: str
    llr: Optional[float] = None
    decision: Optional[str] = None  # "bonafide", "spoof" or "no_signal"
    p_bonafide: Optional[float] = None
    duration: Optional[float] = None  # seconds
    windows: List[Window] = dataclasses.field(default_factory=list)
    error: Optional[str] = None
    # localization bundles: merged spoofed ranges (start_s, end_s, min frame llr)
    spoofed: List[Tuple[float, float, float]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Localization:
    """Where one waveform is spoofed: per frame ``[starts[k], ends[k])`` seconds its LLR, and
    the frames below the decision threshold merged into ``(start, end, llr)`` ranges, ``llr``
    the minimum frame LLR inside; ``llr`` is the utterance LLR, as :meth:`Detector.score`."""

    starts: np.ndarray
    ends: np.ndarray
    frame_llr: np.ndarray
    spoofed: List[Tuple[float, float, float]]
    llr: float


def window_bounds(num_samples, window, hop):
    """``[(start, end)]`` sample ranges covering ``num_samples``: one range if it fits a window,
    else full windows ``hop`` apart plus one ending exactly at the end."""
    if num_samples <= window:
        return [(0, num_samples)]
    starts = list(range(0, num_samples - window, hop)) + [num_samples - window]
    return [(s, s + window) for s in starts]


_DEVICE = re.compile(r"cpu|cuda(:\d+)?")


def _check_device(device):
    """``device`` as a string, or None for "the GPU if there is one"; InputError unless it is
    cpu, cuda or cuda:N."""
    if device is None:
        return None
    name = str(device).strip().lower()
    if not _DEVICE.fullmatch(name):
        raise InputError(f"unknown device '{device}' (use cpu, cuda or cuda:N)")
    return name


def _first_line(error):
    return (str(error).strip().splitlines() or [""])[0][:300]


class _TorchBackend:
    def __init__(self, module, device):
        import torch

        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise InputError("CUDA is not available (no usable GPU, or this torch is built "
                                 "without CUDA); use --device cpu")
            index = int(device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise InputError(f"no GPU {device}: this machine has "
                                 f"{torch.cuda.device_count()} (cuda:0 ...)")
        self.torch = torch
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.on_cpu = self.device.type == "cpu"
        self.description = f"PyTorch fp32 on {self.device}"

    def __call__(self, wavs, lengths):
        torch = self.torch
        with torch.inference_mode():
            out = self.module(torch.from_numpy(wavs).to(self.device),
                              torch.from_numpy(lengths).to(self.device))
        if isinstance(out, tuple):  # a localization model: (frame LLRs, utterance LLRs)
            return tuple(o.double().cpu().numpy() for o in out)
        return out.double().cpu().numpy()


class _OnnxBackend:
    def __init__(self, path, device, num_threads=None):
        try:
            import onnxruntime
        except ImportError:
            raise InputError("the onnx backend needs onnxruntime: pip install -e '.[export]' "
                             "(from the repository root)") from None
        has_cuda = "CUDAExecutionProvider" in onnxruntime.get_available_providers()
        if device is None:
            device = "cuda" if has_cuda else "cpu"
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if not has_cuda:
                raise InputError("this onnxruntime has no CUDAExecutionProvider (it needs the "
                                 "onnxruntime-gpu package); use --device cpu")
            index = int(device.partition(":")[2] or 0)
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": index}))
        from wedefense.inference.bundle_reader import onnx_session

        self.threads = num_threads or None
        try:
            self.session = onnx_session(path, self.threads, providers)
        except Exception as e:  # onnxruntime raises its own types for a damaged file
            raise InputError(f"cannot load the ONNX model ({type(e).__name__}: "
                             f"{_first_line(e)})", path) from None
        self.on_cpu = self.session.get_providers()[0] == "CPUExecutionProvider"
        if device.startswith("cuda") and self.on_cpu:
            # onnxruntime falls back to the CPU when CUDA fails to start; say so instead
            raise InputError("onnxruntime could not start CUDA (see its warnings above: "
                             "a CUDA or cuDNN library is missing or does not match); "
                             "use --device cpu")
        threads = self.session.get_session_options().intra_op_num_threads
        self.description = (f"ONNX Runtime {os.path.basename(path)} on "
                            + (f"CPU, {threads} thread(s)" if self.on_cpu else "CUDA"))

    def __call__(self, wavs, lengths):
        out = self.session.run(None, {"wav": wavs, "lengths": lengths})
        if len(out) > 1:  # a localization model: (frame LLRs, utterance LLRs)
            return tuple(np.asarray(o, dtype=np.float64) for o in out)
        return np.asarray(out[0], dtype=np.float64)


def _may_have_gpu():
    """False when no GPU driver is there for torch to find: saves importing torch (1-4 s, more
    than scoring a file) just to learn there is no GPU."""
    if sys.platform == "darwin":  # torch has no CUDA there
        return False
    if not sys.platform.startswith("linux"):
        return True
    # NVIDIA driver, AMD ROCm, CUDA under WSL2
    return any(os.path.exists(p) for p in ("/proc/driver/nvidia/gpus", "/dev/nvidiactl",
                                           "/dev/kfd", "/dev/dxg"))


def _fastest_exact_backend(files, device):
    """onnxruntime on a CPU (1.2-1.5x PyTorch eager, same scores to 1e-6: inference_paths.md);
    PyTorch on a GPU or when the bundle or onnxruntime lacks ONNX."""
    import importlib.util

    if (device in (None, "cpu") and "onnx" in files
            and importlib.util.find_spec("onnxruntime") is not None):
        if device == "cpu" or not _may_have_gpu():
            return "onnx"
        import torch

        if not torch.cuda.is_available():
            return "onnx"
    return "pytorch"


class Detector:
    """A loaded bundle plus the operating point that turns its LLRs into decisions."""

    def __init__(self, backend, manifest, bundle_dir=None, p_spoof=DEFAULT_P_SPOOF,
                 c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA, window_seconds=None,
                 hop_seconds=None):
        self._backend = backend
        self.path = getattr(backend, "description", type(backend).__name__)
        self.default_batch_seconds = default_batch_seconds(
            "cpu" if getattr(backend, "on_cpu", True) else "cuda")
        self.manifest = manifest
        self.bundle_dir = bundle_dir
        self.sample_rate = int(manifest["sample_rate"])
        self.classes = list(manifest["classes"])
        self.class_counts = list(manifest["class_counts"])
        self.calibrated = "calibration" in manifest["files"]
        self.min_samples = max(1, int(manifest.get("min_samples", 1)))
        self.task = manifest.get("task", "detection")
        self.hop_samples = int(manifest.get("hop_samples", 0)) or None
        self.context_seconds = DEFAULT_CONTEXT_SECONDS
        if window_seconds is None:
            window_seconds = manifest.get("window_seconds", bundle_reader.DEFAULT_WINDOW_SECONDS)
        if hop_seconds is None:
            hop_seconds = min(window_seconds, manifest.get("hop_seconds", window_seconds / 2))
        self.window_seconds, self.hop_seconds = self._check_windows(window_seconds, hop_seconds)
        self.set_operating_point(p_spoof, c_miss, c_fa)

    def _check_windows(self, window, hop):
        """``(window, hop)`` in seconds as floats; InputError unless a window holds enough
        samples for the model and the hop is positive and at most the window."""
        try:
            window, hop = float(window), float(hop)
        except (TypeError, ValueError):
            raise InputError(f"window and hop must be numbers of seconds, got {window!r} and "
                             f"{hop!r}") from None
        shortest = self.min_samples / self.sample_rate
        if not (math.isfinite(window) and round(window * self.sample_rate) >= self.min_samples):
            raise InputError(f"window_seconds must be at least {shortest:g} s, the shortest "
                             f"audio this model scores; got {window:g}")
        if not (math.isfinite(hop) and round(hop * self.sample_rate) >= 1 and hop <= window):
            raise InputError(f"hop_seconds must be positive and at most window_seconds "
                             f"({window:g}); got {hop:g}")
        return window, hop

    @classmethod
    def load(cls, path, device="cpu", backend="auto", num_threads=None, **kwargs):
        """Load a bundle directory written by ``wedefense export``.

        ``device``: "cpu", "cuda" or "cuda:N" (InputError if it is not available), or None for
        a GPU if there is one. ``backend``: "pytorch" rebuilds the model from config.yaml and
        the weights (BatchNorm folded into the convolutions, exact), running nothing from the
        bundle; "torchscript" runs the operator graph in model.ts, "onnx" runs model.onnx with
        onnxruntime, "onnx_int8" its int8 copy (``wedefense export --quantize int8``, not
        exact). "auto" (the default) takes the fastest exact one: onnx on a CPU when the bundle
        has it and onnxruntime is installed, else pytorch. ``self.path`` says which runs.
        ``num_threads``: onnxruntime CPU threads (None: all cores, one on an oversubscribed
        machine). Keyword arguments (p_spoof, c_miss, c_fa, window_seconds, hop_seconds) are
        passed to the constructor.
        """
        path = os.fspath(path)
        device = _check_device(device)
        if backend not in BACKENDS:
            raise InputError(f"unknown backend '{backend}' (known: {', '.join(BACKENDS)})")
        manifest = bundle_reader.read_manifest(path)
        files = manifest["files"]
        if backend == "auto":
            backend = _fastest_exact_backend(files, device)
        if backend == "pytorch":
            from wedefense.inference.bundle import load_llr_model
            from wedefense.inference.fast_paths import fold_batchnorm

            runner = _TorchBackend(fold_batchnorm(load_llr_model(path, manifest)), device)
        elif backend == "torchscript":
            import torch

            if "torchscript" not in files:
                raise InputError("this bundle has no TorchScript model", path)
            model_path = os.path.join(path, files["torchscript"])
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    scripted = torch.jit.load(model_path, map_location="cpu")
            except Exception as e:  # torch raises many types for a damaged file
                raise InputError(f"cannot load the TorchScript model ({type(e).__name__}: "
                                 f"{_first_line(e)})", model_path) from None
            runner = _TorchBackend(scripted, device)
            runner.description = f"TorchScript {files['torchscript']} on {runner.device}"
        else:
            role = "onnx" if backend == "onnx" else "onnx_int8"
            if role not in files:
                raise InputError("this bundle has no " + ("ONNX model" if role == "onnx" else
                                 "int8 model (export it with --quantize int8)"), path)
            runner = _OnnxBackend(os.path.join(path, files[role]), device, num_threads)
        detector = cls(runner, manifest, bundle_dir=path, **kwargs)
        detector.path = f"{backend}: {runner.description}"
        return detector

    def set_operating_point(self, p_spoof=DEFAULT_P_SPOOF, c_miss=DEFAULT_C_MISS,
                            c_fa=DEFAULT_C_FA):
        self.threshold = bayes_threshold(p_spoof, c_miss, c_fa)
        self.p_spoof, self.c_miss, self.c_fa = p_spoof, c_miss, c_fa
        self._prior_log_odds = math.log((1 - p_spoof) / p_spoof)

    def decide(self, llr):
        return "bonafide" if llr >= self.threshold else "spoof"

    def p_bonafide(self, llr):
        x = llr + self._prior_log_odds
        # the two branches keep exp() from overflowing for scores of either sign
        return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))

    # --- waveforms ------------------------------------------------------------------------

    def _prepare(self, waveform, sample_rate):
        """Mono float32 at the bundle rate from a (samples,) or (channels, samples) array."""
        if hasattr(waveform, "detach"):
            waveform = waveform.detach().cpu().numpy()
        wav = np.asarray(waveform, dtype=np.float32)
        if wav.ndim == 2:
            # (channels, samples) as torchaudio returns it; (samples, channels) as soundfile does
            wav = wav.mean(axis=0 if wav.shape[0] <= wav.shape[1] else 1)
        if wav.ndim != 1:
            raise InputError(f"expected a (samples,) or (channels, samples) waveform, "
                             f"got shape {wav.shape}")
        try:
            rate = int(sample_rate)
        except (TypeError, ValueError, OverflowError):
            rate = None
        if rate is None or rate != sample_rate or rate <= 0:
            raise InputError(f"sample rate must be a positive whole number of Hz, got "
                             f"{sample_rate!r}")
        if rate != self.sample_rate:
            from scipy.signal import resample_poly

            g = math.gcd(rate, self.sample_rate)
            wav = resample_poly(wav, self.sample_rate // g, rate // g)
            wav = wav.astype(np.float32)
        return wav

    def _check_length(self, wav):
        if len(wav) == 0:
            raise InputError("audio has no samples")
        if len(wav) < self.min_samples:
            raise InputError(f"audio is too short to score ({len(wav) / self.sample_rate:.4f} s;"
                             f" at least {self.min_samples / self.sample_rate:.4f} s needed)")
        if not np.isfinite(wav).all():
            raise InputError("audio contains NaN or inf samples")

    def _check_signal(self, wav):
        if not has_signal(wav):
            raise InputError("audio has no usable signal (silence or a constant value); "
                             "it gets no score")

    def _segments(self, wav):
        window = int(round(self.window_seconds * self.sample_rate))
        hop = int(round(self.hop_seconds * self.sample_rate))
        return window_bounds(len(wav), window, hop)

    def _run(self, pieces, max_batch_seconds=None, max_batch_size=64, frames=False):
        """LLRs of a list of 1-D float32 arrays, batched by length (padding is masked); with
        ``frames`` (localization bundles) also each piece's frame LLRs: ``(frame_llrs, llrs)``."""
        llrs = np.empty(len(pieces))
        frame_llrs = [None] * len(pieces)
        max_batch_seconds = max_batch_seconds or self.default_batch_seconds
        batches = length_batches([len(p) for p in pieces],
                                 max_batch_seconds * self.sample_rate, max_batch_size)
        for batch in batches:
            lengths = np.array([len(pieces[i]) for i in batch], dtype=np.int64)
            wavs = np.zeros((len(batch), int(lengths.max())), dtype=np.float32)
            for row, i in enumerate(batch):
                wavs[row, :lengths[row]] = pieces[i]
            out = self._backend(wavs, lengths)
            if isinstance(out, tuple):
                frame_out, out = out
                for row, i in enumerate(batch):
                    frame_llrs[i] = frame_out[row, :num_frames(lengths[row], self.hop_samples)]
            llrs[batch] = out
        return (frame_llrs, llrs) if frames else llrs

    def score_windows(self, waveform, sample_rate):
        """``[Window(start, end, llr)]`` of one waveform (one window if it is short)."""
        wav = self._prepare(waveform, sample_rate)
        self._check_length(wav)
        self._check_signal(wav)
        bounds = self._segments(wav)
        llrs = self._run([wav[s:e] for s, e in bounds])
        return [Window(s / self.sample_rate, e / self.sample_rate, float(v))
                for (s, e), v in zip(bounds, llrs)]

    def score(self, waveform, sample_rate):
        """The LLR of one waveform (the mean over windows for long audio); InputError for
        audio without a usable signal."""
        return float(np.mean([w.llr for w in self.score_windows(waveform, sample_rate)]))

    def localize(self, waveform, sample_rate):
        """Where a waveform is spoofed (:class:`Localization`), with a localization bundle.

        Audio longer than the bundle's window is scored in windows on the frame grid, each
        frame taken from the one window that sees it with ``context_seconds`` on both sides
        (wedefense/inference/frame_windows.py), so no frame is counted twice; ``llr`` is the
        mean of the windows' utterance LLRs, as :meth:`score` takes it."""
        self._need_localization()
        wav = self._prepare(waveform, sample_rate)
        self._check_length(wav)
        self._check_signal(wav)
        return self._localize(wav)

    def _need_localization(self):
        if self.task != "localization" or not self.hop_samples:
            raise InputError("this bundle scores whole utterances: localizing needs a bundle of "
                             "a localization model (task: localization, egs/localization)",
                             self.bundle_dir)

    def _localize(self, wav, max_batch_seconds=None):
        hop = self.hop_samples
        window_frames = max(1, int(round(self.window_seconds * self.sample_rate)) // hop)
        context = min(int(math.ceil(self.context_seconds * self.sample_rate / hop)),
                      (window_frames - 1) // 2)
        plan = plan_windows(len(wav), hop, window_frames, context)
        frame_llrs, llrs = self._run([wav[w.start:w.end] for w in plan], max_batch_seconds,
                                     frames=True)
        frame_llr = stitch(plan, frame_llrs, hop)
        k = np.arange(len(frame_llr))
        starts = k * hop / self.sample_rate
        ends = np.minimum((k + 1) * hop, len(wav)) / self.sample_rate
        if not (np.isfinite(frame_llr).all() and np.isfinite(llrs).all()):
            raise InputError("the model gave a non-finite score")
        spoofed = [(float(a), float(b), float(v))
                   for a, b, v in spoofed_ranges(starts, ends, frame_llr, self.threshold)]
        return Localization(starts, ends, frame_llr, spoofed, float(np.mean(llrs)))

    # --- files ----------------------------------------------------------------------------

    def score_files(self, inputs, on_error="raise", max_batch_seconds=None, num_workers=4,
                    progress=None):
        """Score audio files, directories and ``wav.scp`` lists; results in input order.

        Files are read ``num_workers`` at a time in threads while the model runs, and scored in
        batches of similar length holding at most ``max_batch_seconds`` of padded audio.
        ``on_error="raise"`` stops at the first unusable input with an :class:`InputError`;
        ``"skip"`` scores every readable file and returns a :class:`FileScore` with ``error``
        set for each failure. ``progress``: a tqdm bar (None: only on a terminal).
        """
        if max_batch_seconds is None:
            max_batch_seconds = self.default_batch_seconds
        elif not max_batch_seconds > 0:
            raise InputError(f"max_batch_seconds must be positive, got {max_batch_seconds}")
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        results = []
        for utt, path, error in expand_inputs(inputs):
            if error is not None and on_error == "raise":
                raise InputError(error, path)
            results.append(FileScore(utt, path) if error is None
                           else FileScore(os.path.basename(path), path, error=error))
        readable = [r for r in results if r.error is None]

        def fail(result, error):
            if on_error == "raise":
                raise InputError(str(error)) if not isinstance(error, InputError) else error
            result.error = str(error)

        with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
            durations = list(pool.map(_header_duration, [r.path for r in readable]))
            for r, d in zip(readable, durations):
                if isinstance(d, InputError):
                    fail(r, d)
                else:
                    r.duration = d
            todo = sorted((r for r in results if r.error is None), key=lambda r: r.duration)
            groups = _groups(todo, max_batch_seconds)
            from tqdm import tqdm

            bar = tqdm(total=len(todo), unit="file", disable=None if progress is None
                       else not progress, leave=False, desc="scoring")
            pending = self._load_group(pool, groups[0]) if groups else None
            for g, group in enumerate(groups):
                loaded = [f.result() for f in pending]
                if g + 1 < len(groups):  # read the next files while the model runs
                    pending = self._load_group(pool, groups[g + 1])
                self._score_group(group, loaded, fail, max_batch_seconds)
                bar.update(len(group))
            bar.close()
        return results

    def _load_group(self, pool, group):
        return [pool.submit(_load, r.path, self.sample_rate) for r in group]

    def _score_group(self, group, loaded, fail, max_batch_seconds):
        pieces, owners = [], []
        for r, wav in zip(group, loaded):
            if isinstance(wav, InputError):
                fail(r, wav)
                continue
            try:
                self._check_length(wav)
            except InputError as e:
                fail(r, InputError(str(e), r.path))
                continue
            r.duration = len(wav) / self.sample_rate
            if not has_signal(wav):
                r.decision = "no_signal"
                continue
            if self.task == "localization":  # windows on the frame grid, one file at a time
                try:
                    loc = self._localize(wav, max_batch_seconds)
                except InputError as e:
                    fail(r, InputError(str(e), r.path))
                    continue
                r.llr, r.spoofed = loc.llr, loc.spoofed
                r.decision, r.p_bonafide = self.decide(r.llr), self.p_bonafide(r.llr)
                continue
            for s, e in self._segments(wav):
                pieces.append(wav[s:e])
                owners.append((r, s, e))
        if not pieces:
            return
        llrs = self._run(pieces, max_batch_seconds)
        for (r, s, e), v in zip(owners, llrs):
            r.windows.append(Window(s / self.sample_rate, e / self.sample_rate, float(v)))
        for r in group:
            if r.error is None and r.windows:
                r.llr = float(np.mean([w.llr for w in r.windows]))
                if not math.isfinite(r.llr):
                    fail(r, InputError("the model gave a non-finite score", r.path))
                    r.llr = None
                    continue
                r.decision = self.decide(r.llr)
                r.p_bonafide = self.p_bonafide(r.llr)


def _header_duration(path):
    if not os.path.isfile(path):
        return InputError("audio file not found", path)
    try:
        return audio_duration(path)
    except InputError as e:
        return e
    except Exception as e:  # e.g. a file we may not read
        return InputError(f"cannot read audio: {e}", path)


def _load(path, sample_rate):
    try:
        wav = load_audio(path, sample_rate)
    except InputError as e:
        return e
    except Exception as e:  # a decoder error libsndfile does not classify
        return InputError(f"cannot read audio: {e}", path)
    declared, got = declared_seconds(path), len(wav) / sample_rate
    if declared is not None and got < TRUNCATED_FRACTION * declared:
        return InputError(f"truncated: decodes to {got:.2f} s of the {declared:.2f} s its "
                          "header declares", path)
    return wav


def _groups(results, max_seconds):
    """Consecutive files holding about ``max_seconds`` of audio to score (at least one file),
    so that memory stays bounded however many files there are."""
    groups, current, total = [], [], 0.0
    for r in results:
        if current and total + r.duration > max_seconds:
            groups.append(current)
            current, total = [], 0.0
        current.append(r)
        total += r.duration
    if current:
        groups.append(current)
    return groups
