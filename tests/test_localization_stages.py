"""Stages 4-6 of a localization model: frame embeddings -> frame logits -> frame_llr.txt,
utterance llr.txt, frame calibration, merged spoofed ranges (timestamps + RTTM)."""

import numpy as np
import pytest
import yaml

from tests.test_localization_training import data, run  # noqa: F401 (fixture)
from wedefense.bin import (
    calibrate_frames,
    extract,
    frame_llr_to_ranges,
    infer,
    logits_to_llr,
)
from wedefense.dataset.frame_labels import read_timestamps
from wedefense.inference.localization_outputs import read_frame_llr, spoofed_ranges
from wedefense.metrics.scores_io import read_scores
from wedefense.utils.kaldi_io import read_vectors


@pytest.fixture
def scored(data):  # noqa: F811
    exp = data / "exp"
    run(data, exp, num_epochs=1)
    config, model = str(exp / "config.yaml"), str(exp / "models" / "best_model.pt")
    emb, post = exp / "embeddings" / "dev", exp / "posteriors" / "dev"
    extract.main(["--config", config, "--model_path", model, "--data_list",
                  str(data / "dev" / "raw.list"), "--embed_ark", str(emb / "embedding.ark"),
                  "--device", "cpu"])
    infer.main(["--config", config, "--model_path", model, "--embedding_scp",
                str(emb / "embedding.scp"), "--out_dir", str(post)])
    logits_to_llr.main(["--logits_scp", str(post / "logits.scp"), "--config", config,
                        "--output", str(post / "llr.txt")])
    return data, exp, post


def test_frame_outputs_line_up_with_the_audio(scored):
    root, exp, post = scored
    timestamps = read_timestamps(root / "dev" / "timestamps")
    embeddings = dict(read_vectors(str(exp / "embeddings" / "dev" / "embedding.scp")))
    frames = read_frame_llr(post / "frame_llr.txt")
    assert sorted(frames) == sorted(timestamps)
    for utt, (duration, _) in timestamps.items():
        starts, ends, llrs = frames[utt]
        count = int(np.ceil(round(duration / 0.02, 6)))  # the last partial frame included
        assert len(starts) == count == embeddings[utt].shape[0]
        np.testing.assert_allclose(starts, 0.02 * np.arange(count), atol=1e-9)
        np.testing.assert_allclose(ends - starts, 0.02, atol=1e-9)
    # no utterance branch: the utterance LLR is the minimum frame LLR (same frame prior)
    utt_llr = read_scores(str(post / "llr.txt"))
    for utt, (_, _, llrs) in frames.items():
        assert utt_llr[utt] == pytest.approx(llrs.min(), abs=2e-6)
    config = yaml.safe_load(open(exp / "config.yaml"))
    assert config["frame_class_counts"][1] > 0


def test_calibration_and_ranges(scored):
    root, exp, post = scored
    calib = exp / "frame_calibration.json"
    calibrate_frames.main(["train", "--scores", str(post / "frame_llr.txt"), "--labels",
                           str(root / "dev" / "timestamps"), "--out", str(calib)])
    calibrate_frames.main(["apply", "--model", str(calib), "--scores",
                           str(post / "frame_llr.txt"), "--out", str(post / "cal.txt")])
    before, after = read_frame_llr(post / "frame_llr.txt"), read_frame_llr(post / "cal.txt")
    for utt in before:  # an increasing affine map: the order of frames is kept
        assert np.array_equal(np.argsort(before[utt][2], kind="stable"),
                              np.argsort(after[utt][2], kind="stable"))
    frame_llr_to_ranges.main(["--scores", str(post / "cal.txt"), "--timestamps",
                              str(post / "spoofed_timestamps"), "--rttm",
                              str(post / "spoofed.rttm"), "--threshold", "0"])
    predicted = read_timestamps(post / "spoofed_timestamps")
    assert sorted(predicted) == sorted(after)
    rttm = [line.split() for line in open(post / "spoofed.rttm")]
    spoofed = [(u, s, e) for u, (_, ranges) in predicted.items() for s, e, lab in ranges
               if lab == "spoof"]
    assert len(rttm) == len(spoofed)
    for fields, (utt, start, end) in zip(rttm, spoofed):
        assert fields[1] == utt and float(fields[3]) == pytest.approx(start, abs=1e-3)
        assert float(fields[4]) == pytest.approx(end - start, abs=2e-3) and fields[7] == "spoof"


def test_spoofed_ranges_merge_adjacent_frames():
    starts = np.arange(6) * 0.02
    llrs = np.array([1.0, -1.0, -3.0, 2.0, -0.5, 0.1])
    assert spoofed_ranges(starts, starts + 0.02, llrs, 0.0) == [
        (0.02, pytest.approx(0.06), -3.0), (0.08, pytest.approx(0.1), -0.5)]
