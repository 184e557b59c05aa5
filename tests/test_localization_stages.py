"""Stages 4-6 of a localization model: frame embeddings -> frame logits -> frame_llr.txt,
utterance llr.txt, frame calibration, merged spoofed ranges (timestamps + RTTM)."""

import json

import numpy as np
import pytest
import yaml

from tests.test_localization_training import data, run  # noqa: F401 (fixture)
from wedefense.bin import (
    calibrate_frames,
    embeddings_to_logits,
    extract,
    frame_llr_to_ranges,
    logits_to_llr,
)
from wedefense.dataset.timestamps import read_timestamps
from wedefense.metrics.frame_scores import read_frame_scores
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
    embeddings_to_logits.main(["--config", config, "--model_path", model, "--embedding_scp",
                str(emb / "embedding.scp"), "--out_dir", str(post)])
    logits_to_llr.main(["--logits_scp", str(post / "logits.scp"), "--config", config,
                        "--output", str(post / "llr.txt")])
    return data, exp, post


def test_frame_outputs_line_up_with_the_audio(scored):
    root, exp, post = scored
    timestamps = read_timestamps(root / "dev" / "timestamps")
    embeddings = dict(read_vectors(str(exp / "embeddings" / "dev" / "embedding.scp")))
    frames = {utt: rest for utt, *rest in read_frame_scores(post / "frame_llr.txt").items()}
    assert sorted(frames) == sorted(timestamps)
    for utt, ts in timestamps.items():
        starts, ends, llrs = frames[utt]
        count = int(np.ceil(round(ts.duration_s / 0.02, 6)))  # the last partial one included
        assert len(starts) == count == embeddings[utt].shape[0]
        np.testing.assert_allclose(starts, 0.02 * np.arange(count), atol=1e-9)
        np.testing.assert_allclose(ends - starts, 0.02, atol=1e-9)
    # no utterance branch: the utterance LLR is the minimum frame LLR (same frame prior)
    utt_llr = read_scores(str(post / "llr.txt"))
    for utt, (_, _, llrs) in frames.items():
        assert utt_llr[utt] == pytest.approx(llrs.min(), abs=6e-6)  # frame_llr.txt: 5 decimals
    config = yaml.safe_load(open(exp / "config.yaml"))
    assert config["frame_class_counts"][1] > 0


def test_calibration_and_ranges(scored):
    root, exp, post = scored
    calib = exp / "frame_calibration.json"
    calibrate_frames.main(["train", "--scores", str(post / "frame_llr.txt"), "--labels",
                           str(root / "dev" / "timestamps"), "--out", str(calib)])
    calibrate_frames.main(["apply", "--model", str(calib), "--scores",
                           str(post / "frame_llr.txt"), "--out", str(post / "cal.txt")])
    before = read_frame_scores(post / "frame_llr.txt")
    after = read_frame_scores(post / "cal.txt")
    assert before.utts == after.utts
    # an increasing affine map (up to the file's 5 decimals): the order of frames is kept
    weight = json.load(open(calib))["weights"][0]
    assert weight > 0
    np.testing.assert_allclose(after.llr, weight * before.llr + json.load(open(calib))["offset"],
                               atol=1e-4)
    frame_llr_to_ranges.main(["--scores", str(post / "cal.txt"), "--timestamps",
                              str(post / "spoofed_timestamps"), "--rttm",
                              str(post / "spoofed.rttm"), "--threshold", "0"])
    predicted = read_timestamps(post / "spoofed_timestamps")
    assert sorted(predicted) == sorted(after.utts)
    rttm = [line.split() for line in open(post / "spoofed.rttm")]
    spoofed = [(u, s, e) for u, ts in predicted.items() for s, e in ts.spoof_seconds()]
    assert len(rttm) == len(spoofed)
    for fields, (utt, start, end) in zip(rttm, spoofed):
        assert fields[1] == utt and float(fields[3]) == pytest.approx(start, abs=1e-3)
        assert float(fields[4]) == pytest.approx(end - start, abs=2e-3) and fields[7] == "spoof"
