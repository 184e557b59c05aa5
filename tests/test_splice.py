"""Splicing spoofed stretches into bona fide speech: where the joins are, and that they hide."""

import numpy as np
import pytest
from scipy import optimize

from wedefense.dataset import demo_corpus, speech_synth
from wedefense.dataset.splice import FADE, draw_stretches, splice

SR = speech_synth.SAMPLE_RATE
ATTACKS = ("A01", "A02", "A03", "A04")


def test_draw_stretches_respects_lengths_gaps_and_edges():
    counts = set()
    for seed in range(200):
        rng = np.random.default_rng(seed)
        length = int(rng.uniform(1.5, 3.0) * SR)
        stretches = draw_stretches(rng, length, SR)
        counts.add(len(stretches))
        for start, end in stretches:
            # Cross-fades and the join search may add FADE and +-SEARCH: still 0.1-1.5 s.
            assert 0.1 * SR <= end - start + FADE - 80 and end - start + FADE + 80 <= 1.5 * SR
        bounds = [s for pair in stretches for s in pair]
        assert bounds == sorted(bounds)
        assert bounds[0] > 0.05 * SR and bounds[-1] < length - 0.05 * SR
        assert all(b - a >= 0.15 * SR for a, b in zip(bounds[1:-1:2], bounds[2::2]))
        assert sum(e - s for s, e in stretches) <= 0.6 * length
    assert counts == {1, 2, 3}
    with pytest.raises(ValueError, match="too short"):
        draw_stretches(np.random.default_rng(0), int(0.1 * SR), SR)


def test_splice_changes_exactly_the_ranges_it_reports():
    rng = np.random.default_rng(0)
    host = speech_synth.synthesize_bonafide(rng, speech_synth.draw_speaker(rng), seconds=2.0)
    donor = speech_synth.VOCODERS["A02"](host, rng)
    stretches = [(4000, 9000), (14000, 20000)]
    out, ranges = splice(host, donor, stretches)
    assert len(ranges) == 2
    changed = np.zeros(len(host), bool)
    for (start, end), (nominal_start, nominal_end) in zip(ranges, stretches):
        assert abs(start + FADE // 2 - nominal_start) <= 40
        assert abs(end - FADE // 2 - nominal_end) <= 40
        changed[start:end] = True
        # Every 10 ms segment inside a range holds donor material.
        for k in range(start, end - 160, 160):
            assert not np.allclose(out[k:k + 160], host[k:k + 160])
    np.testing.assert_array_equal(out[~changed], host[~changed])
    with pytest.raises(ValueError, match="differ in length"):
        splice(host, donor[:-1], stretches)


def test_cross_fade_keeps_power_for_correlated_and_uncorrelated_signals():
    rng = np.random.default_rng(1)
    noise = rng.standard_normal(SR)
    for donor in (noise, rng.standard_normal(SR)):  # identical, then independent
        out, _ = splice(noise, donor, [(4000, 12000)], fade=1600)
        power = np.convolve(out ** 2, np.ones(400) / 400, mode="valid")
        assert 0.75 < power.min() and power.max() < 1.3


def test_segment_labels_mark_every_segment_a_range_touches():
    labels = demo_corpus.segment_labels([(150, 161), (480, 481)], 500, 160)
    assert labels.tolist() == ["0", "0", "1", "0"]  # the last, partial segment is included
    assert demo_corpus.segment_labels([], 480, 160).tolist() == ["1", "1", "1"]


def test_channel_reports_where_the_dry_signal_starts():
    dry = np.zeros(8000)
    dry[3000] = 1.0
    wav, lead = speech_synth.simulate_channel(dry, np.random.default_rng(2), return_offset=True)
    assert np.argmax(np.abs(wav - np.median(wav))) == lead + 3000
    same = speech_synth.simulate_channel(dry, np.random.default_rng(2))
    np.testing.assert_array_equal(wav, same)


# ------------------------------------------------------------------ can a join be found?

def naive_splice(host, donor, stretches):
    """Hard cuts, donor at its own level: the joins a careless splicer leaves."""
    out = host.copy()
    for start, end in stretches:
        out[start:end] = donor[start:end]
    return out, [(start - FADE // 2, end + FADE // 2) for start, end in stretches]


HOP = 80  # 5 ms analysis frames


def join_features(wav, points):
    """Per candidate sample: level step, spectral flux peak (all and > 4 kHz), zero-crossing-rate
    step and waveform-step peak, each relative to the same utterance's typical value."""
    spec = np.abs(speech_synth.stft(wav - wav.mean(), 256, HOP)) ** 2
    log_spec = np.log(spec + 1e-10)
    energy = np.log(spec.sum(axis=1) + 1e-10)
    flux = np.abs(np.diff(log_spec, axis=0)).mean(axis=1)
    high_flux = np.abs(np.diff(log_spec[:, 64:], axis=0)).mean(axis=1)
    crossings = np.abs(np.diff(np.signbit(wav - wav.mean()).astype(float)))
    step = np.abs(np.diff(wav))
    rows = []
    for t in points:
        c = int(round(t / HOP))
        before, after = slice(max(c - 4, 0), c), slice(c + 1, c + 5)
        near = slice(max(c - 2, 0), c + 2)
        zcr = abs(crossings[t:t + 320].mean() - crossings[max(t - 320, 0):t].mean())
        local = np.sqrt(np.mean(wav[max(t - 320, 0):t + 320] ** 2)) + 1e-9
        rows.append([abs(energy[after].mean() - energy[before].mean()),
                     flux[near].max() - np.median(flux),
                     high_flux[near].max() - np.median(high_flux),
                     zcr, step[max(t - 40, 0):t + 40].max() / local])
    return np.array(rows)


def fit_logistic(z, y, l2=1e-2):
    """Weights of an L2 logistic regression on design matrix ``z`` (last column the bias)."""
    sign = 2.0 * y - 1.0

    def loss(w):
        s = z @ w
        grad = z.T @ (-sign / (1.0 + np.exp(sign * s))) / len(y)
        grad[:-1] += 2 * l2 * w[:-1]
        return np.mean(np.logaddexp(0.0, -sign * s)) + l2 * w[:-1] @ w[:-1], grad

    return optimize.minimize(loss, np.zeros(z.shape[1]), jac=True, method="L-BFGS-B").x


def logistic_accuracy(x, y, folds=5):
    """Cross-validated accuracy of a logistic regression on standardised features."""
    order = np.random.default_rng(0).permutation(len(y))
    correct = 0
    for fold in range(folds):
        test = order[fold::folds]
        train = np.setdiff1d(order, test)
        mean, std = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
        z = np.c_[(x - mean) / std, np.ones(len(x))]
        w = fit_logistic(z[train], y[train])
        correct += np.sum((z[test] @ w > 0) == (y[test] == 1))
    return correct / len(y)


def join_detection_accuracy(splicer, num_utts=40):
    """Join points of spliced utterances against random points of the same utterances unspliced
    (same speaker, content and room), each utterance contributing as many of one as the other."""
    features, labels = [], []
    rng = np.random.default_rng(7)
    for index in range(num_utts):
        attack = ATTACKS[index % len(ATTACKS)]
        host, donor, stretches, channel_rng = demo_corpus.partial_sources(
            0, "eval", index, 20 + index % 8, attack)
        spliced, ranges = splicer(host, donor, stretches)
        wav, lead = speech_synth.simulate_channel(spliced, channel_rng, return_offset=True)
        *_, fresh_rng = demo_corpus.partial_sources(0, "eval", index, 20 + index % 8, attack)
        clean, _ = speech_synth.simulate_channel(host, fresh_rng, return_offset=True)
        joins = [lead + p for start, end in ranges for p in (start + FADE // 2, end - FADE // 2)]
        others = lead + rng.integers(800, len(host) - 800, size=len(joins))
        features += [join_features(wav, joins), join_features(clean, others)]
        labels += [1] * len(joins) + [0] * len(joins)
    return logistic_accuracy(np.concatenate(features), np.array(labels, dtype=float))


def test_a_join_detector_finds_naive_joins():
    assert join_detection_accuracy(naive_splice) >= 0.7


def test_the_corpus_joins_stay_near_chance():
    assert abs(join_detection_accuracy(splice) - 0.5) <= 0.1
