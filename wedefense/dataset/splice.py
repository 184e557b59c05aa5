"""Splice stretches of one signal into another without an audible or measurable join.

Partially spoofed demo utterances replace a few stretches of a bona fide waveform (the host) by
the same content resynthesised by a vocoder (the donor), so host and donor are time aligned and
a join needs no silence. What could still give a join away is a level step, a phase jump (a
click) or a dip where two partly cancelling signals are cross-faded; :func:`splice` avoids each:
the donor stretch is scaled to the host's RMS, every join moves (by at most ``search`` samples)
to where the two waveforms agree best, and the cross-fade gains are normalised for the measured
correlation of the two signals so the power stays constant through the fade.
"""

import numpy as np

FADE = 480  # 30 ms at 16 kHz: with 10-20 ms fades a spectral-flux peak still gives joins away
SEARCH = 40  # 2.5 ms either way
_MAX_GAIN_DB = 6.0


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x)) + 1e-20))


def _best_join(host, donor, centre, half, search):
    """Sample near ``centre`` where ``host`` and ``donor`` differ least over +-``half``."""
    lo = max(half, centre - search)
    hi = min(len(host) - half, centre + search)
    if hi <= lo:
        return int(np.clip(centre, half, len(host) - half))
    diff = np.square(host[lo - half:hi + half] - donor[lo - half:hi + half])
    energy = np.convolve(diff, np.ones(2 * half), mode="valid")  # window starting at each q-half
    return lo + int(np.argmin(energy[:hi - lo]))


def _fade_in(host, donor):
    """Gains taking ``host`` to ``donor`` over their length at constant expected power."""
    n = len(host)
    phase = 0.5 * np.pi * (np.arange(n) + 0.5) / n
    a, b = np.cos(phase), np.sin(phase)
    denom = np.sqrt(np.sum(host * host) * np.sum(donor * donor)) + 1e-20
    rho = float(np.clip(np.sum(host * donor) / denom, 0.0, 1.0))
    norm = np.sqrt(1.0 + 2.0 * rho * a * b)  # |a h + b d|^2 = a^2 + b^2 + 2 rho a b for unit h, d
    return a / norm, b / norm


def _gain(host, donor):
    gain = _rms(host) / _rms(donor)
    return float(np.clip(gain, 10 ** (-_MAX_GAIN_DB / 20), 10 ** (_MAX_GAIN_DB / 20)))


def splice(host, donor, stretches, fade=FADE, search=SEARCH):
    """Replace ``stretches`` of ``host`` by ``donor``; return (waveform, spoofed sample ranges).

    ``stretches`` are sorted, non-overlapping ``(start, end)`` sample pairs: the nominal centres
    of the two joins. The ranges returned are where any donor sample enters, cross-fades
    included, so a labelling that calls a segment spoof when any part of it is spoof is exact.
    """
    host = np.asarray(host, dtype=float)
    donor = np.asarray(donor, dtype=float)
    if host.shape != donor.shape:
        raise ValueError(f"host and donor differ in length: {host.shape} vs {donor.shape}")
    half = fade // 2
    out = host.copy()
    ranges = []
    for start, end in stretches:
        scaled = _gain(host[start:end], donor[start:end]) * donor
        enter = _best_join(host, scaled, start, half, search)
        leave = _best_join(host, scaled, end, half, search)
        a_in, b_in = _fade_in(host[enter - half:enter + half], scaled[enter - half:enter + half])
        b_out, a_out = _fade_in(scaled[leave - half:leave + half], host[leave - half:leave + half])
        out[enter - half:enter + half] = (a_in * host[enter - half:enter + half]
                                          + b_in * scaled[enter - half:enter + half])
        out[enter + half:leave - half] = scaled[enter + half:leave - half]
        out[leave - half:leave + half] = (b_out * scaled[leave - half:leave + half]
                                          + a_out * host[leave - half:leave + half])
        ranges.append((enter - half, leave + half))
    return out, ranges


def draw_stretches(rng, length, sample_rate, min_seconds=0.1, max_seconds=1.5, max_count=3,
                   max_share=0.6, edge_seconds=0.05, gap_seconds=0.15, fade=FADE, search=SEARCH):
    """One to ``max_count`` sorted join-centre pairs for a signal of ``length`` samples.

    Each stretch, cross-fades included, lasts ``min_seconds``-``max_seconds``; together they take
    at most ``max_share`` of the signal, with at least ``gap_seconds`` of host between them and
    ``edge_seconds`` at either end.
    """
    margin = fade // 2 + search
    shortest = int(min_seconds * sample_rate) - fade + 2 * search
    longest = int(max_seconds * sample_rate) - fade - 2 * search
    edge = int(edge_seconds * sample_rate) + margin
    gap = int(gap_seconds * sample_rate) + 2 * margin
    usable = length - 2 * edge
    budget = int(min(max_share * length, usable))
    if budget < shortest:
        raise ValueError(f"{length} samples are too short for a {min_seconds} s stretch")
    count = int(rng.integers(1, max_count + 1))
    # Fewer stretches while they cannot fit; a single one always can.
    while count > 1 and (budget - (count - 1) * gap) // count < shortest:
        count -= 1
    cap = min(longest, (budget - (count - 1) * gap) // count)
    lengths = rng.integers(shortest, cap + 1, size=count)
    free = usable - int(lengths.sum()) - (count - 1) * gap
    cuts = np.sort(rng.integers(0, free + 1, size=count))
    starts = edge + cuts + np.arange(count) * gap + np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return [(int(s), int(s + n)) for s, n in zip(starts, lengths)]
