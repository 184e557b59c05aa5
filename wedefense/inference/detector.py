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

Decisions use the Bayes threshold of DESIGN.md §4: bona fide when ``llr >= -ln(beta)``,
``beta = Cmiss (1 - Pspoof) / (Cfa Pspoof)``; ``p_bonafide`` is the posterior at the application
prior, ``sigmoid(llr + ln((1 - Pspoof) / Pspoof))``. Both assume the LLR is calibrated: export
the bundle with a calibration model (``wedefense/bin/calibrate.py``) for decisions you can trust.
"""

import dataclasses
import math
import os
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import List, Optional

import numpy as np

from wedefense.dataset.audio import load_audio
from wedefense.dataset.dataset import length_batches
from wedefense.dataset.loader import default_batch_seconds
from wedefense.dataset.prepare import audio_duration
from wedefense.inference import bundle as bundle_io
from wedefense.metrics.detection import (
    DEFAULT_C_FA,
    DEFAULT_C_MISS,
    DEFAULT_P_SPOOF,
    bayes_threshold,
)
from wedefense.utils.errors import InputError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au",
                    ".snd", ".w64", ".caf", ".sph", ".nist")
BACKENDS = ("pytorch", "torchscript", "onnx")


@dataclasses.dataclass
class Window:
    start: float  # seconds
    end: float
    llr: float


@dataclasses.dataclass
class FileScore:
    """The score of one input; ``error`` is set (and the scores are None) if it failed."""

    utt: str
    path: str
    llr: Optional[float] = None
    decision: Optional[str] = None  # "bonafide" or "spoof"
    p_bonafide: Optional[float] = None
    duration: Optional[float] = None  # seconds
    windows: List[Window] = dataclasses.field(default_factory=list)
    error: Optional[str] = None


def window_bounds(num_samples, window, hop):
    """``[(start, end)]`` sample ranges covering ``num_samples``: one range if it fits a window,
    else full windows ``hop`` apart plus one ending exactly at the end."""
    if num_samples <= window:
        return [(0, num_samples)]
    starts = list(range(0, num_samples - window, hop)) + [num_samples - window]
    return [(s, s + window) for s in starts]


def _is_audio(path):
    return path.lower().endswith(AUDIO_EXTENSIONS)


def _read_scp(path):
    entries, failures = [], []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split(maxsplit=1)
            if not fields:
                continue
            if len(fields) < 2:
                failures.append((f"{path}:{lineno}", "expected '<utt> <audio path>'"))
                continue
            utt, wav = fields[0], fields[1].strip()
            if wav.endswith("|"):
                failures.append((utt, f"{path}:{lineno}: piped commands are not supported; "
                                      "convert the audio to files first"))
                continue
            entries.append((utt, wav))
    return entries, failures


def collect_inputs(inputs):
    """Expand audio files, directories (searched recursively for audio) and ``wav.scp`` lists
    into ``(entries [(utt, path)], failures [(input, message)])``.

    Ids are the file names without extension; where two files share a name, the path relative
    to the directory given (or the full path) is used instead, so every id is unique.
    """
    entries, failures = [], []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            found = []
            for root, dirs, files in os.walk(item):
                dirs.sort()
                found += [os.path.join(root, f) for f in sorted(files) if _is_audio(f)]
            if not found:
                failures.append((item, "no audio files in this directory (looked for "
                                       f"{', '.join(AUDIO_EXTENSIONS)})"))
            entries += [(None, p, item) for p in found]
        elif os.path.isfile(item) and not _is_audio(item):
            # a Kaldi-style list; anything else that is not audio fails as unreadable below
            scp_entries, scp_failures = _read_scp(item)
            if not scp_entries and not scp_failures:
                scp_failures.append((item, "no audio files listed"))
            entries += [(utt, p, None) for utt, p in scp_entries]
            failures += scp_failures
        elif not os.path.exists(item):
            failures.append((item, "file or directory not found"))
        else:
            entries.append((None, item, None))
    stems = {}
    for utt, path, _ in entries:
        if utt is None:
            stem = os.path.splitext(os.path.basename(path))[0]
            stems[stem] = stems.get(stem, 0) + 1
    named, seen = [], set()
    for utt, path, root in entries:
        if utt is None:
            utt = os.path.splitext(os.path.basename(path))[0]
            if stems[utt] > 1:
                rel = os.path.relpath(path, root) if root else path
                utt = os.path.splitext(rel)[0].replace(os.sep, "/").lstrip("./")
        utt = "_".join(utt.split())  # ids are whitespace-free table keys
        if utt in seen:
            failures.append((path, f"duplicate id '{utt}'"))
            continue
        seen.add(utt)
        named.append((utt, path))
    return named, failures


class _TorchBackend:
    def __init__(self, module, device):
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.module = module.to(self.device).eval()
        self.on_cpu = self.device.type == "cpu"

    def __call__(self, wavs, lengths):
        torch = self.torch
        with torch.inference_mode():
            llr = self.module(torch.from_numpy(wavs).to(self.device),
                              torch.from_numpy(lengths).to(self.device))
        return llr.double().cpu().numpy()


class _OnnxBackend:
    def __init__(self, path, device):
        try:
            import onnxruntime
        except ImportError:
            raise InputError("the onnx backend needs onnxruntime: "
                             "pip install 'wedefense[export]'") from None
        providers = ["CPUExecutionProvider"]
        if str(device).startswith("cuda"):
            providers.insert(0, "CUDAExecutionProvider")
        self.session = onnxruntime.InferenceSession(path, providers=providers)
        self.on_cpu = self.session.get_providers()[0] == "CPUExecutionProvider"

    def __call__(self, wavs, lengths):
        out = self.session.run(None, {"wav": wavs, "lengths": lengths})[0]
        return np.asarray(out, dtype=np.float64)


class Detector:
    """A loaded bundle plus the operating point that turns its LLRs into decisions."""

    def __init__(self, backend, manifest, bundle_dir=None, p_spoof=DEFAULT_P_SPOOF,
                 c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA, window_seconds=None,
                 hop_seconds=None):
        self._backend = backend
        self.default_batch_seconds = default_batch_seconds(
            "cpu" if getattr(backend, "on_cpu", True) else "cuda")
        self.manifest = manifest
        self.bundle_dir = bundle_dir
        self.sample_rate = int(manifest["sample_rate"])
        self.classes = list(manifest["classes"])
        self.class_counts = list(manifest["class_counts"])
        self.calibrated = "calibration" in manifest["files"]
        self.min_samples = int(manifest.get("min_samples", 1))
        window = window_seconds or manifest.get("window_seconds",
                                                bundle_io.DEFAULT_WINDOW_SECONDS)
        hop = hop_seconds or min(window, manifest.get("hop_seconds", window / 2))
        if not 0 < hop <= window:
            raise InputError(f"need 0 < hop <= window, got hop={hop}, window={window}")
        self.window_seconds, self.hop_seconds = float(window), float(hop)
        self.set_operating_point(p_spoof, c_miss, c_fa)

    @classmethod
    def load(cls, path, device="cpu", backend="pytorch", **kwargs):
        """Load a bundle directory written by ``wedefense export``.

        ``backend``: "pytorch" rebuilds the model from config.yaml and model.pt, "torchscript"
        runs model.ts, "onnx" runs model.onnx with onnxruntime. Keyword arguments (p_spoof,
        c_miss, c_fa, window_seconds, hop_seconds) are passed to the constructor.
        """
        path = os.fspath(path)
        manifest = bundle_io.read_manifest(path)
        files = manifest["files"]
        if backend == "pytorch":
            runner = _TorchBackend(bundle_io.load_llr_model(path, manifest), device)
        elif backend == "torchscript":
            import torch

            if "torchscript" not in files:
                raise InputError("this bundle has no TorchScript model", path)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                scripted = torch.jit.load(os.path.join(path, files["torchscript"]),
                                          map_location="cpu")
            runner = _TorchBackend(scripted, device)
        elif backend == "onnx":
            if "onnx" not in files:
                raise InputError("this bundle has no ONNX model", path)
            runner = _OnnxBackend(os.path.join(path, files["onnx"]), device)
        else:
            raise InputError(f"unknown backend '{backend}' (known: {', '.join(BACKENDS)})")
        return cls(runner, manifest, bundle_dir=path, **kwargs)

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
        if int(sample_rate) != self.sample_rate:
            from scipy.signal import resample_poly

            g = math.gcd(int(sample_rate), self.sample_rate)
            wav = resample_poly(wav, self.sample_rate // g, int(sample_rate) // g)
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

    def _segments(self, wav):
        window = int(round(self.window_seconds * self.sample_rate))
        hop = int(round(self.hop_seconds * self.sample_rate))
        return window_bounds(len(wav), window, hop)

    def _run(self, pieces, max_batch_seconds=None, max_batch_size=64):
        """LLRs of a list of 1-D float32 arrays, batched by length (padding is masked)."""
        llrs = np.empty(len(pieces))
        max_batch_seconds = max_batch_seconds or self.default_batch_seconds
        batches = length_batches([len(p) for p in pieces],
                                 max_batch_seconds * self.sample_rate, max_batch_size)
        for batch in batches:
            lengths = np.array([len(pieces[i]) for i in batch], dtype=np.int64)
            wavs = np.zeros((len(batch), int(lengths.max())), dtype=np.float32)
            for row, i in enumerate(batch):
                wavs[row, :lengths[row]] = pieces[i]
            llrs[batch] = self._backend(wavs, lengths)
        return llrs

    def score_windows(self, waveform, sample_rate):
        """``[Window(start, end, llr)]`` of one waveform (one window if it is short)."""
        wav = self._prepare(waveform, sample_rate)
        self._check_length(wav)
        bounds = self._segments(wav)
        llrs = self._run([wav[s:e] for s, e in bounds])
        return [Window(s / self.sample_rate, e / self.sample_rate, float(v))
                for (s, e), v in zip(bounds, llrs)]

    def score(self, waveform, sample_rate):
        """The LLR of one waveform (the mean over windows for long audio)."""
        return float(np.mean([w.llr for w in self.score_windows(waveform, sample_rate)]))

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
        max_batch_seconds = max_batch_seconds or self.default_batch_seconds
        if on_error not in ("raise", "skip"):
            raise ValueError("on_error must be 'raise' or 'skip'")
        if isinstance(inputs, (str, os.PathLike)):
            inputs = [inputs]
        entries, failures = collect_inputs(inputs)
        results = [FileScore(utt, path) for utt, path in entries]
        failed = [FileScore(os.path.basename(name), name, error=msg) for name, msg in failures]

        def fail(result, error):
            if on_error == "raise":
                raise InputError(str(error)) if not isinstance(error, InputError) else error
            result.error = str(error)

        for name, msg in failures:
            if on_error == "raise":
                raise InputError(msg, name)
        with ThreadPoolExecutor(max_workers=max(1, num_workers)) as pool:
            durations = list(pool.map(_header_duration, [r.path for r in results]))
            for r, d in zip(results, durations):
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
        return results + failed

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


def _load(path, sample_rate):
    try:
        return load_audio(path, sample_rate)
    except InputError as e:
        return e
    except Exception as e:  # a decoder error libsndfile does not classify
        return InputError(f"cannot read audio: {e}", path)


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
