"""Speech-like audio for the demo corpus: a source-filter talker, four vocoders and a room.

Bona fide audio comes from a formant synthesizer that keeps the cues of natural phonation:
glottal pulses with jitter and shimmer, breath noise riding on the voice, formants that glide
between syllable targets. Each vocoder analyses such a dry utterance and resynthesises it the way
a real vocoder family does, losing some of those cues (jitter smoothed away, harmonics smeared or
made perfectly regular, spectral detail quantised). The room (:func:`simulate_channel`) is applied
afterwards to both classes alike, so level, noise, reverberation and silence carry no label.
All randomness comes from the ``rng`` argument (a :class:`numpy.random.Generator`), so an
utterance is a pure function of its seed.
"""

import dataclasses

import numpy as np
from scipy import fft as sp_fft
from scipy import ndimage, signal

SAMPLE_RATE = 16000
CONTROL_HOP = 80  # 5 ms: formant, amplitude and f0 tracks change at this rate

# F1-F3 (Hz) of a male voice (Peterson & Barney averages); a speaker scales them.
_VOWELS = np.array([
    (270, 2290, 3010), (390, 1990, 2550), (530, 1840, 2480), (660, 1720, 2410),
    (730, 1090, 2440), (570, 840, 2410), (440, 1020, 2240), (300, 870, 2240),
    (640, 1190, 2390), (490, 1350, 1690)], dtype=float)
_APPROXIMANTS = np.array([(380, 1100, 2700), (380, 1150, 1600), (320, 750, 2300),
                          (280, 2150, 2900)], dtype=float)
# Place of articulation: (F1, F2, F3) locus the formants move towards, and the frication
# channel its burst excites (0: alveolar /s/-like, 1: postalveolar /sh/, 2: labial /f/).
_PLACES = (((300, 900, 2300), 2), ((320, 1700, 2700), 0), ((300, 2100, 2500), 1))
_FRICATION_BANDS = ((5500.0, 3000.0), (3300.0, 2000.0), (4000.0, 6000.0))  # centre, bandwidth
_FRICATION_LEVELS = (1.0, 0.9, 0.35)  # /f/ is much weaker than sibilants
_UPPER_FORMANTS = (3400.0, 4400.0)  # F4, F5 of the male reference tract
_BANDWIDTHS = (70.0, 95.0, 140.0, 220.0, 300.0)
_PITCH_LOW_PASS = signal.butter(6, 3600.0, fs=SAMPLE_RATE, output="sos")
_HIGH_PASS = signal.butter(2, 50.0, btype="highpass", fs=SAMPLE_RATE, output="sos")
_TELEPHONE_BAND = signal.butter(4, (300.0, 3400.0), btype="bandpass", fs=SAMPLE_RATE,
                                output="sos")


@dataclasses.dataclass(frozen=True)
class Speaker:
    """Voice parameters: utterances of one speaker share them, speakers differ in them."""

    f0_hz: float  # median f0
    f0_range_st: float  # accent and declination excursion, semitones
    formant_scale: float  # inverse vocal-tract length: > 1 raises every formant
    jitter: float  # relative cycle-to-cycle period perturbation
    shimmer: float  # cycle-to-cycle log-amplitude perturbation
    breathiness: float  # aspiration noise mixed into voicing
    open_quotient: float  # open phase of the glottal cycle: higher gives a softer, darker voice
    rate: float  # multiplies segment durations


def draw_speaker(rng, shifted=False):
    """A random adult voice; male and female-like voices differ in f0 and tract length.

    ``shifted`` draws from other ranges (higher and lower voices, rougher and breathier
    phonation, faster and slower talkers), for testing on voices unlike the training ones."""
    if shifted:
        return _draw_shifted_speaker(rng)
    female = rng.random() < 0.5
    return Speaker(
        f0_hz=rng.uniform(170.0, 240.0) if female else rng.uniform(85.0, 140.0),
        f0_range_st=rng.uniform(2.5, 6.0),
        formant_scale=rng.uniform(1.10, 1.22) if female else rng.uniform(0.92, 1.04),
        jitter=rng.uniform(0.004, 0.012),
        shimmer=rng.uniform(0.04, 0.1),
        breathiness=rng.uniform(0.03, 0.08),
        open_quotient=rng.uniform(0.4, 0.65),
        rate=rng.uniform(0.85, 1.2))


def _draw_shifted_speaker(rng):
    high = rng.random() < 0.5  # child-like high voices, or very low ones
    return Speaker(
        f0_hz=rng.uniform(240.0, 320.0) if high else rng.uniform(65.0, 85.0),
        f0_range_st=rng.uniform(1.0, 2.5) if rng.random() < 0.5 else rng.uniform(6.0, 9.0),
        formant_scale=rng.uniform(1.22, 1.32) if high else rng.uniform(0.85, 0.92),
        jitter=rng.uniform(0.012, 0.02),
        shimmer=rng.uniform(0.1, 0.16),
        breathiness=rng.uniform(0.08, 0.14),
        open_quotient=rng.uniform(0.3, 0.4) if rng.random() < 0.5 else rng.uniform(0.65, 0.75),
        rate=rng.uniform(0.7, 0.85) if rng.random() < 0.5 else rng.uniform(1.2, 1.35))


# --------------------------------------------------------------------------- bona fide talker

class _Plan:
    """Per-control-frame targets, appended segment by segment."""

    def __init__(self):
        self.formants, self.bw_scale, self.voicing, self.aspiration = [], [], [], []
        self.frication, self.stressed, self.phrase_starts = [], [], [0]
        self.length = 0

    def add(self, seconds, formants, voicing=0.0, aspiration=0.0, frication=None, bw_scale=1.0,
            stressed=False):
        n = max(1, int(round(seconds * SAMPLE_RATE / CONTROL_HOP)))
        self.formants.append(np.repeat(np.asarray(formants, float)[None], n, axis=0))
        self.voicing.append(np.full(n, voicing))
        self.aspiration.append(np.full(n, aspiration))
        fric = np.zeros((n, 3))
        if frication is not None:
            fric[:, frication[0]] = frication[1]
        self.frication.append(fric)
        self.bw_scale.append(np.full(n, bw_scale))
        if stressed:
            self.stressed.append((self.length, n))
        self.length += n


def _add_consonant(plan, rng, rate, vowel):
    """One consonant; its formant locus is pulled towards the vowel (coarticulation)."""
    kind = rng.choice(4, p=(0.3, 0.35, 0.15, 0.2))
    if kind == 0:  # fricative, sometimes voiced
        channel = int(rng.integers(3))
        locus = _PLACES[(1, 2, 0)[channel]][0]
        voiced = rng.random() < 0.3
        plan.add(rng.uniform(0.07, 0.13) * rate, 0.5 * (np.asarray(locus) + vowel),
                 voicing=0.35 if voiced else 0.0,
                 frication=(channel, _FRICATION_LEVELS[channel] * (0.6 if voiced else 1.0)))
    elif kind == 1:  # stop: closure, burst, aspiration if voiceless
        locus, channel = _PLACES[int(rng.integers(3))]
        locus = 0.6 * np.asarray(locus) + 0.4 * vowel
        voiced = rng.random() < 0.4
        plan.add(rng.uniform(0.04, 0.08) * rate, locus, voicing=0.12 if voiced else 0.0)
        plan.add(rng.uniform(0.008, 0.015), locus, frication=(channel, 1.2))
        if not voiced:
            plan.add(rng.uniform(0.02, 0.05) * rate, locus, aspiration=0.5)
    elif kind == 2:  # nasal murmur: low F1, damped upper formants
        f2 = (1100.0, 1600.0)[int(rng.integers(2))]
        plan.add(rng.uniform(0.05, 0.09) * rate, (280.0, f2, 2400.0), voicing=0.45, bw_scale=2.0)
    else:  # approximant
        plan.add(rng.uniform(0.05, 0.08) * rate, _APPROXIMANTS[int(rng.integers(4))],
                 voicing=0.7)


def _plan_utterance(rng, speaker, seconds):
    """Syllables (onset consonant + vowel, optional coda) grouped into words and phrases."""
    plan = _Plan()
    target = seconds * SAMPLE_RATE / CONTROL_HOP
    syllables_left_in_word = int(rng.integers(1, 4))
    while plan.length < target:
        vowel = _VOWELS[int(rng.integers(len(_VOWELS)))]
        if rng.random() < 0.75:
            _add_consonant(plan, rng, speaker.rate, vowel)
        stressed = rng.random() < 0.35
        final = plan.length > 0.85 * target
        duration = rng.uniform(0.09, 0.2) * speaker.rate * (1.3 if stressed else 1.0)
        plan.add(duration * (1.4 if final else 1.0), vowel, voicing=1.0, stressed=stressed)
        if rng.random() < 0.3:
            _add_consonant(plan, rng, speaker.rate, vowel)
        syllables_left_in_word -= 1
        if syllables_left_in_word == 0:
            syllables_left_in_word = int(rng.integers(1, 4))
            if rng.random() < 0.2 and not final:  # a pause resets the declination
                plan.add(rng.uniform(0.1, 0.25), vowel)
                plan.phrase_starts.append(plan.length)
    return plan


def _smooth(x, frames):
    """Moving Hann average along axis 0: turns step targets into gliding transitions."""
    window = np.hanning(frames + 2)[1:-1]
    return ndimage.convolve1d(x, window / window.sum(), axis=0, mode="nearest")


def _f0_contour(rng, speaker, plan):
    """Semitone contour: declination per phrase, accents on stressed vowels, a final fall/rise."""
    n = plan.length
    t = np.arange(n, dtype=float)
    st = np.zeros(n)
    bounds = plan.phrase_starts + [n]
    for start, end in zip(bounds[:-1], bounds[1:]):
        if end > start:
            st[start:end] = np.linspace(0.4, -0.4, end - start) * speaker.f0_range_st
    for start, length in plan.stressed:
        centre = start + 0.5 * length
        height = rng.uniform(0.5, 1.0) * speaker.f0_range_st
        st += height * np.exp(-0.5 * ((t - centre) / (0.6 * length)) ** 2)
    last = min(n, 40)
    ending = rng.uniform(2.0, 5.0) if rng.random() < 0.2 else -rng.uniform(1.0, 3.0)
    st[n - last:] += np.linspace(0.0, ending, last)
    st += 2.5 * _smooth(rng.standard_normal(n), 40)  # slow wander, about 0.6 semitone
    return speaker.f0_hz * 2.0 ** (st / 12.0)


def glottal_pulses(f0, rng=None, jitter=0.0, shimmer=0.0, open_quotient=0.6):
    """Differentiated Rosenberg glottal flow following per-sample ``f0``; returns (pulses, flow).

    Cycle lengths get relative ``jitter`` and amplitudes log-normal ``shimmer``; the pulse shape is
    evaluated at the exact sub-sample phase, so without jitter the train is perfectly regular.
    """
    n = len(f0)
    max_cycles = int(np.sum(f0) / SAMPLE_RATE * 1.1) + 4
    stretch = 1.0 + jitter * rng.standard_normal(max_cycles) if jitter else np.ones(max_cycles)
    onsets = np.empty(max_cycles)
    position = 0.0
    count = 0
    while position < n and count < max_cycles - 1:
        onsets[count] = position
        position += SAMPLE_RATE / f0[int(position)] * stretch[count]
        count += 1
    onsets[count] = position
    onsets = onsets[:count + 1]
    periods = np.diff(onsets)
    samples = np.arange(n, dtype=float)
    cycle = np.searchsorted(onsets, samples, side="right") - 1
    phase = (samples - onsets[cycle]) / periods[cycle]  # 0..1 within the cycle
    peak = 0.6 * open_quotient  # opening takes 60% of the open phase
    flow = np.where(phase < peak, 0.5 - 0.5 * np.cos(np.pi * phase / peak),
                    np.where(phase < open_quotient,
                             np.cos(0.5 * np.pi * (phase - peak) / (open_quotient - peak)), 0.0))
    if shimmer:
        flow *= np.exp(shimmer * rng.standard_normal(count))[cycle]
    return np.diff(flow, prepend=0.0), flow  # lip radiation ~ differentiation


def _formant_cascade(excitation, formants, bandwidths, block=2 * CONTROL_HOP):
    """Time-varying cascade of resonators, one direct-form filter per 10 ms block.

    A single order-10 ``lfilter`` call per block is far cheaper than five resonators, and the
    state carried across blocks keeps the output continuous while the formants move.
    """
    step = block // CONTROL_HOP
    centres = np.minimum(np.arange(0, len(formants), step) + step // 2, len(formants) - 1)
    formants, bandwidths = formants[centres], bandwidths[centres]
    r = np.exp(-np.pi * bandwidths / SAMPLE_RATE)
    c1 = -2.0 * r * np.cos(2.0 * np.pi * formants / SAMPLE_RATE)
    c2 = r * r
    n_frames, n_formants = formants.shape
    a = np.zeros((n_frames, 2 * n_formants + 1))
    a[:, 0] = 1.0
    for k in range(n_formants):  # multiply the denominator polynomials in place
        a[:, 2:] += c2[:, k:k + 1] * a[:, :-2] + c1[:, k:k + 1] * a[:, 1:-1]
        a[:, 1] += c1[:, k] * a[:, 0]
    gain = a.sum(axis=1)  # unity gain at DC, as in a cascade formant synthesizer
    out = np.empty_like(excitation)
    state = np.zeros(2 * n_formants)
    for i in range(n_frames):
        part = slice(i * block, (i + 1) * block)
        out[part], state = signal.lfilter(gain[i:i + 1], a[i], excitation[part], zi=state)
    return out


def _band_noise(rng, n, centre, bandwidth):
    """Unit-RMS white noise through one resonance (zeros at DC and Nyquist): a cheap hiss."""
    r = np.exp(-np.pi * bandwidth / SAMPLE_RATE)
    a = [1.0, -2.0 * r * np.cos(2.0 * np.pi * centre / SAMPLE_RATE), r * r]
    noise = signal.lfilter([1.0, 0.0, -1.0], a, rng.standard_normal(n))
    return noise / _rms(noise)


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def synthesize_bonafide(rng, speaker, seconds=None):
    """A dry utterance (no room, no padding) of random syllables spoken by ``speaker``.

    ``seconds`` is the approximate speech length (default: drawn from 1.5-3.0 s). The result is
    scaled to an RMS of 0.1 so later level choices do not depend on the content.
    """
    if seconds is None:
        seconds = rng.uniform(1.5, 3.0)
    plan = _plan_utterance(rng, speaker, seconds)
    n_frames = plan.length
    n = n_frames * CONTROL_HOP
    scale = speaker.formant_scale * rng.uniform(0.97, 1.03)
    lower = _smooth(np.concatenate(plan.formants), 11) * scale
    upper = np.broadcast_to(np.asarray(_UPPER_FORMANTS) * scale, (n_frames, 2))
    formants = np.minimum(np.concatenate([lower, upper], axis=1), 0.45 * SAMPLE_RATE)
    bw_scale = _smooth(np.concatenate(plan.bw_scale), 7)
    bandwidths = np.asarray(_BANDWIDTHS) * rng.uniform(0.85, 1.2) * bw_scale[:, None]
    bandwidths[:, 2:] *= bw_scale[:, None]  # nasal murmur damps the upper formants further

    t = np.arange(n)
    frame_times = np.arange(n_frames) * CONTROL_HOP + CONTROL_HOP / 2

    def per_sample(track, frames):
        smoothed = _smooth(np.concatenate(track), frames)
        if smoothed.ndim == 1:
            return np.interp(t, frame_times, smoothed)
        return np.stack([np.interp(t, frame_times, c) for c in smoothed.T], axis=1)

    voicing = per_sample(plan.voicing, 5)
    aspiration = per_sample(plan.aspiration, 3)
    frication = per_sample(plan.frication, 3)

    f0 = np.interp(t, frame_times, _f0_contour(rng, speaker, plan))
    source, flow = glottal_pulses(f0, rng, speaker.jitter, speaker.shimmer, speaker.open_quotient)
    # Real glottal closures are more abrupt than Rosenberg's pulse: tilt the source up so the
    # voice keeps natural energy at 2-4 kHz.
    source = signal.lfilter([1.0, -0.6], [1.0], source)
    source /= _rms(source[voicing > 0.5]) if np.any(voicing > 0.5) else _rms(source)
    # Breath noise is strongest while the glottis is open, as in real breathy phonation.
    flow_norm = flow / (flow.max() + 1e-12)
    breath = aspiration + speaker.breathiness * voicing * (0.4 + flow_norm)
    excitation = voicing * source + breath * rng.standard_normal(n)
    voice = _formant_cascade(excitation, formants, bandwidths)

    voiced_level = _rms(voice[voicing > 0.5]) if np.any(voicing > 0.5) else _rms(voice)
    hiss = np.zeros(n)
    for channel, (centre, bandwidth) in enumerate(_FRICATION_BANDS):
        if np.any(frication[:, channel] > 0):
            centre = min(centre * scale, 0.45 * SAMPLE_RATE)
            hiss += frication[:, channel] * _band_noise(rng, n, centre, bandwidth * scale)
    dry = voice + 0.3 * voiced_level * hiss
    return 0.1 * dry / _rms(dry)


# --------------------------------------------------------------------------- analysis helpers

def _frames(x, size, hop):
    """Frames of ``x`` centred on multiples of ``hop`` (zero padded), shape (ceil(n/hop), size)."""
    n_frames = -(-len(x) // hop)
    padded = np.pad(x, (size // 2, size // 2 + hop))
    return np.lib.stride_tricks.sliding_window_view(padded, size)[::hop][:n_frames]


def stft(x, n_fft, hop):
    """Hann-windowed one-sided STFT, frames centred on multiples of ``hop``."""
    window = np.hanning(n_fft + 1)[:-1].astype(x.dtype)
    return sp_fft.rfft(_frames(x, n_fft, hop) * window, axis=1)


def istft(spec, n_fft, hop, length):
    """Weighted overlap-add inverse of :func:`stft` (``n_fft`` must be a multiple of ``hop``)."""
    frames = sp_fft.irfft(spec, n=n_fft, axis=1)
    window = np.hanning(n_fft + 1)[:-1].astype(frames.dtype)
    frames *= window
    n_frames, chunks = len(frames), n_fft // hop
    out = np.zeros((n_frames + chunks, hop), frames.dtype)
    norm = np.zeros((n_frames + chunks, hop), frames.dtype)
    window_sq = (window * window).reshape(chunks, hop)
    frames = frames.reshape(n_frames, chunks, hop)
    for c in range(chunks):  # chunk c of frame f lands on output chunk f + c
        out[c:c + n_frames] += frames[:, c]
        norm[c:c + n_frames] += window_sq[c]
    out = (out / np.maximum(norm, 1e-3)).reshape(-1)
    start = n_fft // 2
    return out[start:start + length]


def _hz_to_mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz) / 700.0)


def _mel_to_hz(mel):
    return 700.0 * np.expm1(np.asarray(mel) / 1127.0)


def mel_filterbank(n_fft, n_mels, sample_rate=SAMPLE_RATE, fmin=0.0, fmax=None):
    """HTK-style triangular mel filters, shape (n_mels, n_fft // 2 + 1)."""
    fmax = sample_rate / 2 if fmax is None else fmax
    edges = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    freqs = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
    rising = (freqs[None] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    falling = (edges[2:, None] - freqs[None]) / (edges[2:, None] - edges[1:-1, None])
    return np.maximum(0.0, np.minimum(rising, falling))


def estimate_f0(x, hop=160, fmin=60.0, fmax=400.0):
    """Autocorrelation pitch tracker -> (smoothed f0 per frame, voiced flags).

    The f0 returned is what vocoders use: median filtered and averaged over ~50 ms, so it has
    none of the cycle-to-cycle jitter or micro-prosody of the input. Unvoiced frames get f0
    interpolated from their neighbours so carriers stay continuous.
    """
    # Pitch lives below 4 kHz: analyse at 8 kHz, a quarter of the FFT work.
    rate = SAMPLE_RATE // 2
    low = signal.sosfilt(_PITCH_LOW_PASS, x)[::2]
    size = int(0.04 * rate)  # 40 ms: two periods of the lowest f0
    frames = _frames(low, size, hop // 2)[:-(-len(x) // hop)]
    frames = frames - frames.mean(axis=1, keepdims=True)
    window = np.hanning(size)
    n_fft = 2 * size  # long enough for a linear (not circular) autocorrelation
    power = np.abs(sp_fft.rfft(frames * window, n=n_fft, axis=1)) ** 2
    ac = sp_fft.irfft(power, n=n_fft, axis=1)
    window_ac = sp_fft.irfft(np.abs(sp_fft.rfft(window, n=n_fft)) ** 2, n=n_fft)
    lo, hi = int(rate / fmax), int(rate / fmin)
    normalised = (ac[:, lo - 1:hi + 2] / (ac[:, :1] + 1e-12)) / (window_ac[lo - 1:hi + 2]
                                                                 / window_ac[0])
    # A slight preference for short lags avoids locking onto twice the period.
    bias = 1.0 - 0.25 * np.arange(hi - lo + 1) / (hi - lo)
    best = np.argmax(normalised[:, 1:-1] * bias, axis=1) + 1
    rows = np.arange(len(best))
    left, centre, right = (normalised[rows, best + d] for d in (-1, 0, 1))
    # Parabolic interpolation: sub-sample lags, so f0 is not quantised to the 8 kHz grid.
    curvature = left - 2.0 * centre + right
    offset = np.where(curvature < 0, 0.5 * (left - right) / np.minimum(curvature, -1e-12), 0.0)
    energy = ac[:, 0]
    voiced = (centre > 0.45) & (energy > 1e-3 * energy.max())
    voiced = signal.medfilt(voiced.astype(float), 5) > 0.5
    log_f0 = np.log(rate / (best + lo - 1 + np.clip(offset, -0.5, 0.5)))
    if np.any(voiced):
        idx = np.flatnonzero(voiced)
        log_f0 = np.interp(np.arange(len(log_f0)), idx, signal.medfilt(log_f0[idx], 7))
    log_f0 = _smooth(log_f0, 9)
    return np.exp(log_f0), voiced


def _regular_pulses(f0_frames, n, hop):
    """Unit-power glottal pulses at a perfectly regular rate following ``f0_frames``: no jitter.

    Vocoders excite with a glottal-like pulse, not an impulse, as LPC-10 did; it also keeps
    their peak-to-RMS ratio close to natural speech, so peaks do not give spoofs away.
    """
    f0 = np.interp(np.arange(n), np.arange(len(f0_frames)) * hop, f0_frames)
    pulses = glottal_pulses(f0)[0]
    return pulses / _rms(pulses)


# --------------------------------------------------------------------------- vocoders

def griffin_lim_vocoder(x, rng, n_mels=None, n_iter=8):
    """A01: Griffin-Lim phase recovery from a coarse mel magnitude spectrogram.

    The coarse mel smears the harmonics above a few hundred Hz into a smooth envelope and the
    few Griffin-Lim iterations leave phase incoherence, as in early neural-TTS front ends.
    """
    n_fft, hop = 512, 128
    fbank = mel_filterbank(n_fft, n_mels or int(rng.integers(28, 49)))
    magnitude = np.abs(stft(x, n_fft, hop))
    # einsum rather than a BLAS product: BLAS threads would oversubscribe the pool's cores.
    mel = np.einsum("fk,mk->fm", magnitude, fbank)
    # Spread each band's average back over its bins: a smooth, non-negative inverse.
    target = np.einsum("fm,mk->fk", mel / fbank.sum(axis=1), fbank)
    target /= np.maximum(fbank.sum(axis=0), 1e-6)
    target = target.astype(np.float32)  # single precision halves the cost of the iterations
    spec = target * np.exp(2j * np.pi * rng.random(target.shape)).astype(np.complex64)
    for _ in range(n_iter):
        rebuilt = stft(istft(spec, n_fft, hop, len(x)), n_fft, hop)
        spec = rebuilt * (target / np.maximum(np.abs(rebuilt), 1e-10))
    return istft(spec, n_fft, hop, len(x)).astype(np.float64)


def _levinson(r, order):
    """Levinson-Durbin on rows of autocorrelations -> LPC polynomials."""
    a = np.zeros((len(r), order + 1))
    a[:, 0] = 1.0
    error = r[:, 0].copy()
    for i in range(1, order + 1):
        k = -np.sum(a[:, :i] * r[:, i:0:-1], axis=1) / error
        a[:, 1:i + 1] += k[:, None] * a[:, i - 1::-1][:, :i]
        error *= 1.0 - k * k
    return a


def lpc_vocoder(x, rng, order=16, hop=160):
    """A02: LPC analysis/resynthesis with a hard pulse/noise excitation switch.

    Jitter-free pulses make the voice buzzy (a clean harmonic comb, no breath noise), the pulse's
    own tilt on top of the LPC envelope darkens it, the filter steps every 10 ms and voicing is
    all-or-nothing per frame.
    """
    size = 400
    frames = _frames(x, size, hop) * np.hanning(size)
    n_fft = 1024
    r = sp_fft.irfft(np.abs(sp_fft.rfft(frames, n=n_fft, axis=1)) ** 2, n=n_fft, axis=1)
    r = r[:, :order + 1]
    r[:, 0] = r[:, 0] * (1.0 + 1e-6) + 1e-12  # white-noise correction keeps Levinson stable
    a = _levinson(r, order)
    f0, voiced = estimate_f0(x, hop)
    n_frames = len(f0)
    n = n_frames * hop
    voiced_samples = np.repeat(voiced, hop)
    excitation = np.where(voiced_samples, _regular_pulses(f0, n, hop), rng.standard_normal(n))
    out = np.empty(n)
    state = np.zeros(order)
    for i in range(n_frames):
        block = slice(i * hop, (i + 1) * hop)
        out[block], state = signal.lfilter([1.0], a[i], excitation[block], zi=state)
    # The pulse is not white, so the LPC gain alone would misjudge the level: match each
    # frame's energy to the input instead.
    target = np.sqrt(np.mean(np.square(_frames(x, size, hop)), axis=1))
    made = np.sqrt(np.mean(np.square(_frames(out[:len(x)], size, hop)), axis=1)) + 1e-9
    envelope = np.interp(np.arange(len(x)), np.arange(n_frames) * hop, target / made)
    return out[:len(x)] * envelope


def _band_edges(n_bands, n_fft):
    """Bin index where each of ``n_bands`` mel-spaced bands (100 Hz - Nyquist) starts."""
    hz = _mel_to_hz(np.linspace(_hz_to_mel(100.0), _hz_to_mel(SAMPLE_RATE / 2), n_bands + 1))
    edges = np.round(hz * n_fft / SAMPLE_RATE).astype(int)
    edges[0] = 0
    edges[-1] = n_fft // 2 + 1
    return edges


def channel_vocoder(x, rng, n_bands=20, noise_above_hz=None):
    """A03: channel vocoder; band envelopes modulate a regular pulse (or noise) carrier.

    Each band gets one level per frame, so the spectrum turns into a staircase; upper bands are
    carried by noise, lower ones by jitter-free pulses when voiced.
    """
    n_fft, hop = 640, 160
    noise_above_hz = noise_above_hz or rng.uniform(2500.0, 4500.0)
    spec = stft(x, n_fft, hop)
    f0, voiced = estimate_f0(x, hop)
    n = len(f0) * hop
    voicing = np.interp(np.arange(n), np.arange(len(f0)) * hop, voiced.astype(float))
    noise = rng.standard_normal(n)
    carrier = stft(voicing * _regular_pulses(f0, n, hop) + (1.0 - voicing) * noise, n_fft, hop)
    noise_spec = stft(noise, n_fft, hop)
    edges = _band_edges(n_bands, n_fft)
    out = np.empty_like(spec)
    for lo, hi in zip(edges[:-1], edges[1:]):
        source = noise_spec if lo * SAMPLE_RATE / n_fft >= noise_above_hz else carrier
        band_energy = _smooth(np.mean(np.abs(spec[:, lo:hi]) ** 2, axis=1), 3)
        carrier_energy = np.mean(np.abs(source[:, lo:hi]) ** 2, axis=1) + 1e-12
        out[:, lo:hi] = source[:, lo:hi] * np.sqrt(np.maximum(band_energy, 0.0)
                                                   / carrier_energy)[:, None]
    return istft(out, n_fft, hop, len(x))


def harmonic_noise_vocoder(x, rng, max_voiced_hz=None):
    """A04: harmonic-plus-noise resynthesis with a smoothed f0 and no phase transmitted.

    Harmonics below ``max_voiced_hz`` follow a jitter-free f0 with smoothed amplitudes, but each
    32 ms synthesis frame gets random phases (as in magnitude-only sinusoidal coders), which
    smears them; above ``max_voiced_hz`` (and in unvoiced frames) only shaped noise remains.
    Unseen in training, it shares those traits with A01-A03 rather than being alien to them.
    """
    n_fft, hop = 640, CONTROL_HOP
    max_voiced_hz = max_voiced_hz or rng.uniform(1800.0, 3500.0)
    spec = stft(x, n_fft, hop)
    magnitude = np.abs(spec)
    n_frames = len(spec)
    n = n_frames * hop
    coarse_f0, coarse_voiced = estimate_f0(x, 2 * hop)
    f0 = np.interp(np.arange(n_frames) / 2, np.arange(len(coarse_f0)), coarse_f0)
    voiced = coarse_voiced[np.arange(n_frames) // 2]
    window_sum = np.sum(np.hanning(n_fft + 1)[:-1])
    n_harmonics = int(max_voiced_hz / f0.min())
    # Peak-pick each harmonic within +-1 bin of k * f0, then smooth its track over ~35 ms.
    harmonic_hz = f0[:, None] * np.arange(1, n_harmonics + 1)
    centre = np.round(harmonic_hz * n_fft / SAMPLE_RATE).astype(int)
    rows = np.arange(n_frames)[:, None]
    peak = np.max([magnitude[rows, np.clip(centre + d, 0, n_fft // 2)] for d in (-1, 0, 1)],
                  axis=0)
    amplitude = _smooth(2.0 * peak / window_sum, 7)
    amplitude *= (harmonic_hz < max_voiced_hz) & voiced[:, None]
    t = np.arange(n)
    centres = np.arange(n_frames) * hop
    f0_samples = np.interp(t, centres, f0)
    rotor = np.exp(2j * np.pi * np.cumsum(f0_samples) / SAMPLE_RATE)
    partial = rotor.copy()
    harmonics = np.zeros(n)
    for k in range(n_harmonics):
        if np.any(amplitude[:, k] > 0):
            harmonics += np.interp(t, centres, amplitude[:, k]) * partial.real
        partial = partial * rotor
    frames = stft(harmonics, 512, 128)
    harmonics = istft(frames * np.exp(2j * np.pi * rng.random(frames.shape)), 512, 128, n)
    # Noise: white noise STFT shaped by the spectral envelope, kept above the voiced band.
    envelope = _smooth(magnitude.T, 9).T
    freqs = np.arange(n_fft // 2 + 1) * SAMPLE_RATE / n_fft
    keep = np.where(voiced[:, None], freqs[None] >= max_voiced_hz, True)
    noise_spec = stft(rng.standard_normal(n), n_fft, hop)[:n_frames]
    noise_gain = envelope / np.sqrt(np.sum(np.hanning(n_fft + 1)[:-1] ** 2))
    noise = istft(noise_spec * noise_gain * keep, n_fft, hop, n)
    return (harmonics + noise)[:len(x)]


VOCODERS = {
    "A01": griffin_lim_vocoder,
    "A02": lpc_vocoder,
    "A03": channel_vocoder,
    "A04": harmonic_noise_vocoder,
}


# --------------------------------------------------------------------------- room and recording


def _room_impulse_response(rng, shifted=False):
    """Direct path plus an exponentially decaying, progressively darker noise tail."""
    rt60 = rng.uniform(0.5, 0.9) if shifted else rng.uniform(0.1, 0.4)
    n = int(rt60 * SAMPLE_RATE)
    t = np.arange(n) / SAMPLE_RATE
    tail = rng.standard_normal(n) * np.exp(-6.91 * t / rt60)
    tail[:int(rng.uniform(0.002, 0.01) * SAMPLE_RATE)] = 0.0  # first reflections arrive later
    tail = signal.lfilter([0.6], [1.0, -0.4], tail)  # walls absorb high frequencies
    drr_db = rng.uniform(0.0, 5.0) if shifted else rng.uniform(5.0, 15.0)
    tail *= 10.0 ** (-drr_db / 20.0) / np.sqrt(np.sum(tail * tail))
    tail[0] += 1.0
    return tail


def background_noise(rng, n):
    """Stationary noise with a random spectral slope (white to brown), sometimes mains hum."""
    size = sp_fft.next_fast_len(n, real=True)
    spectrum = sp_fft.rfft(rng.standard_normal(size))
    freqs = sp_fft.rfftfreq(size, 1.0 / SAMPLE_RATE)
    slope = rng.uniform(0.5, 2.0)
    spectrum *= np.maximum(freqs, 20.0) ** (-slope / 2.0) * (freqs > 15.0)
    noise = sp_fft.irfft(spectrum, n=size)[:n]
    noise /= _rms(noise)
    if rng.random() < 0.3:
        mains = (50.0, 60.0)[int(rng.integers(2))]
        t = np.arange(n) / SAMPLE_RATE
        hum = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 2 * np.pi)) / h
                  for h in (1, 2, 3))
        noise += rng.uniform(0.3, 1.0) * hum
    return noise


def simulate_channel(dry, rng, return_offset=False, shifted=False):
    """Room, recording and level: identical for both classes, so none of it reveals the label.

    Removes DC and rumble (a microphone high-pass, which also hides any DC a vocoder leaves),
    adds leading/trailing silence, reverberation, background noise at a random SNR, a random
    overall RMS and DC offset, and scales down (never clips) a too-loud result. With
    ``return_offset`` it returns ``(recording, lead)``: sample ``i`` of ``dry`` is sample
    ``lead + i`` of the recording, which places labels given in ``dry``'s time.

    ``shifted`` gives another channel than any default one: a larger, more reverberant room,
    noise at 10-20 dB SNR and a telephone band (300-3400 Hz)."""
    dry = signal.sosfilt(_HIGH_PASS, dry)
    lead, trail = (int(rng.uniform(0.15, 0.5) * SAMPLE_RATE) for _ in range(2))
    speech = np.concatenate([np.zeros(lead), dry, np.zeros(trail)])
    speech = signal.fftconvolve(speech, _room_impulse_response(rng, shifted))[:len(speech)]
    snr_db = rng.uniform(10.0, 20.0) if shifted else rng.uniform(25.0, 45.0)
    active = _rms(speech[lead:lead + len(dry)])
    noise = background_noise(rng, len(speech)) * active * 10.0 ** (-snr_db / 20.0)
    mixed = speech + noise
    if shifted:
        mixed = signal.sosfilt(_TELEPHONE_BAND, mixed)
    mixed *= 10.0 ** (rng.uniform(-32.0, -22.0) / 20.0) / _rms(mixed)
    mixed += rng.uniform(-0.003, 0.003)
    peak = np.max(np.abs(mixed))
    if peak > 0.98:
        mixed *= 0.98 / peak
    return (mixed, lead) if return_offset else mixed
