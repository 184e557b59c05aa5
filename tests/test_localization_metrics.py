import json
import subprocess
import sys

import numpy as np
import pytest

from wedefense.dataset.timestamps import make_timestamps, write_timestamps
from wedefense.metrics.detection import compute_eer
from wedefense.metrics.frame_scores import frame_times, read_frame_scores, write_frame_scores
from wedefense.metrics.localization import count_eer, evaluate_localization, weighted_eer
from wedefense.utils.errors import InputError

# Hand-worked case. "p" lasts 0.08 s, spoofed in [0.03, 0.05); "b" is bona fide, 0.04 s.
# 20 ms frames.
P_LLR = [0.4, -1.0, 0.3, 2.0]
B_LLR = [1.0, -0.2]


def frame_file(tmp_path, utts, step=0.02, name="frame_llr.txt"):
    items = []
    for utt, llr in utts:
        starts, ends = frame_times(len(llr), step)
        items.append((utt, starts, ends, llr))
    path = tmp_path / name
    write_frame_scores(path, items)
    return path


def hand_case(tmp_path):
    scores = read_frame_scores(frame_file(tmp_path, [("p", P_LLR), ("b", B_LLR)]))
    reference = {"p": make_timestamps(0.08, [(0.03, 0.05)]), "b": make_timestamps(0.04)}
    return scores, reference


def test_segment_eer_hand_worked(tmp_path):
    scores, reference = hand_case(tmp_path)
    res = evaluate_localization(scores, reference, resolutions=(0.01, 0.02, 0.04, 0.16))
    # 20 ms: p's segments are bona 0.4, spoof -1 ([.02,.04) holds [.03,.04)), spoof 0.3, bona 2
    assert res["segment_eer"]["0.02"] == compute_eer([0.4, 2.0, 1.0, -0.2], [-1.0, 0.3])
    # 40 ms: a coarser segment scores its minimum frame: p -> -1 and 0.3 (both spoof), b -> -0.2
    assert res["segment_eer"]["0.04"] == compute_eer([-0.2], [-1.0, 0.3])
    # 10 ms: finer than the frames, each frame's score repeats in its two segments
    bona = [0.4, 0.4, -1.0, 0.3, 2.0, 2.0] + [1.0, 1.0, -0.2, -0.2]
    assert res["segment_eer"]["0.01"] == compute_eer(bona, [-1.0, 0.3])
    # 160 ms: one segment per utterance (the last partial one is the whole utterance)
    assert res["segment_eer"]["0.16"] == compute_eer([-0.2], [-1.0])
    assert list(res["segment_eer"]) == ["0.01", "0.02", "0.04", "0.16"]


def test_range_eer_is_measured_in_time(tmp_path):
    scores, reference = hand_case(tmp_path)
    res = evaluate_localization(scores, reference, resolutions=(0.02,))
    # Time (s) per LLR: -1: bona .01 spoof .01 | -0.2: bona .02 | 0.3: bona .01 spoof .01 |
    # 0.4, 1, 2: bona .02 each. Total bona .10, spoof .02. Rejecting up to the bona fide part of
    # 0.3 gives Pmiss .4, Pfa .5, the closest pair: EER .45.
    assert res["range_eer"] == pytest.approx(0.45)
    # here every boundary is on the 10 ms grid, so counting 10 ms segments measures time too
    assert res["range_eer"] == pytest.approx(
        evaluate_localization(scores, reference, resolutions=(0.01,))["segment_eer"]["0.01"])


def test_range_eer_does_not_count_frames(tmp_path):
    # The same LLR track cut into 10 ms frames instead of 20 ms: range EER unchanged, while a
    # frame-counting EER would weigh things differently if the frames had unequal lengths.
    scores, reference = hand_case(tmp_path)
    fine = read_frame_scores(frame_file(tmp_path, [("p", np.repeat(P_LLR, 2)),
                                                   ("b", np.repeat(B_LLR, 2))], step=0.01,
                                        name="fine"))
    a = evaluate_localization(scores, reference, resolutions=(0.02,))["range_eer"]
    assert evaluate_localization(fine, reference, resolutions=(0.02,))["range_eer"] == a
    # unequal frames: one long bona fide frame with a low score weighs by its 0.3 s
    path = tmp_path / "uneven"
    write_frame_scores(path, [("u", [0.0, 0.3], [0.3, 0.4], [-5.0, -6.0]),
                              ("v", [0.0], [0.1], [1.0])])
    ref = {"u": make_timestamps(0.4, [(0.3, 0.4)]), "v": make_timestamps(0.1)}
    # bona: 0.3 s at -5, 0.1 s at 1; spoof 0.1 s at -6 -> Pmiss 0 vs Pfa 0 after rejecting -6
    assert evaluate_localization(read_frame_scores(path), ref, (0.1,))["range_eer"] == 0.0
    path.write_text("u 0.0000 0.3000 -7.0\nu 0.3000 0.4000 -6.0\nv 0.0000 0.1000 1.0\n")
    # now the long bona fide frame is rejected first: Pmiss .75 at Pfa 1 is the closest pair
    # (rejecting the spoofed frame next gives .75 vs 0): EER (.75 + 1) / 2
    got = evaluate_localization(read_frame_scores(path), ref, (0.1,))["range_eer"]
    assert got == weighted_eer([-7.0, -6.0, 1.0], [0.3, 0.0, 0.1], [0.0, 0.1, 0.0])
    assert got == pytest.approx(0.875)


def test_utterance_eer_and_precision_recall(tmp_path):
    scores, reference = hand_case(tmp_path)
    res = evaluate_localization(scores, reference, resolutions=(0.02,), threshold=0.0)
    assert res["utterance_eer"] == compute_eer([-0.2], [-1.0])  # minimum frame LLR
    # flagged (< 0): p's frame 2 (0.01 s of it spoofed) and b's frame 2: 0.04 s, 0.01 s right
    assert res["precision"] == pytest.approx(0.25)
    assert res["recall"] == pytest.approx(0.5)
    assert res["f1"] == pytest.approx(1 / 3)
    assert res["counts"]["spoof_seconds"] == pytest.approx(0.02)
    assert res["counts"]["utterances"] == 2 and res["counts"]["spoof_utterances"] == 1
    # nothing flagged: precision undefined, recall 0
    res = evaluate_localization(scores, reference, resolutions=(0.02,), threshold=-10.0)
    assert res["precision"] is None and res["recall"] == 0.0 and res["f1"] is None


def test_default_threshold_is_bayes(tmp_path):
    scores, reference = hand_case(tmp_path)
    res = evaluate_localization(scores, reference, resolutions=(0.02,))
    assert res["threshold"] == pytest.approx(-np.log(0.95 / 0.5))
    assert res["recall"] == pytest.approx(0.5)  # only -1.0 is below -0.642


def test_count_eer_is_the_detection_eer_ties_included():
    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=400), 1)  # many ties
    is_spoof = rng.random(400) < 0.3
    ranks = np.unique(scores, return_inverse=True)[1]
    assert count_eer(2 * ranks + is_spoof) == compute_eer(scores[~is_spoof], scores[is_spoof])
    distinct = rng.normal(size=300)  # without ties, unit weights give the same EER too
    spoof = rng.random(300) < 0.5
    assert weighted_eer(distinct, ~spoof, spoof) == compute_eer(distinct[~spoof],
                                                                distinct[spoof])


def test_last_frame_is_cut_or_stretched_to_the_duration(tmp_path):
    # frames cover 0.08 s, audio 0.07 s: the last frame ends at 0.07
    scores = read_frame_scores(frame_file(tmp_path, [("p", P_LLR), ("b", B_LLR)]))
    reference = {"p": make_timestamps(0.07, [(0.03, 0.05)]), "b": make_timestamps(0.05)}
    res = evaluate_localization(scores, reference, resolutions=(0.02,))
    assert res["counts"]["bonafide_seconds"] == pytest.approx(0.07 - 0.02 + 0.05)


@pytest.mark.parametrize("reference, message", [
    ({"p": make_timestamps(0.08)}, "1 scored utterance(s) have no labels, the first is 'b'"),
    ({"p": make_timestamps(0.08), "b": make_timestamps(0.04), "c": make_timestamps(1.0)},
     "1 labelled utterance(s) have no scores, the first is 'c'"),
    ({"p": make_timestamps(0.2), "b": make_timestamps(0.04)},
     "the frames of 'p' end at 0.08 s but its labels last 0.2 s"),
])
def test_bad_input_names_the_utterance(tmp_path, reference, message):
    scores, _ = hand_case(tmp_path)
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        evaluate_localization(scores, reference)


def test_per_attack_rows_pool_each_attack_with_all_bona_fide(tmp_path):
    path = frame_file(tmp_path, [("p", P_LLR), ("q", [-3.0, 1.0]), ("b", B_LLR)])
    reference = {"p": make_timestamps(0.08, [(0.03, 0.05)]), "q": make_timestamps(0.04, [(0, .02)]),
                 "b": make_timestamps(0.04)}
    res = evaluate_localization(read_frame_scores(path), reference, (0.02,),
                                utt2attack={"p": "A01", "q": "A02", "b": "-"})
    alone = evaluate_localization(read_frame_scores(frame_file(
        tmp_path, [("p", P_LLR), ("b", B_LLR)], name="pb")),
        {k: reference[k] for k in ("p", "b")}, (0.02,))
    assert sorted(res["per_attack"]) == ["A01", "A02"]
    row = res["per_attack"]["A01"]
    for key in ("segment_eer", "range_eer", "utterance_eer", "precision", "recall", "f1"):
        assert row[key] == alone[key]
    assert res["per_attack"]["A02"]["counts"]["utterances"] == 2
    with pytest.raises(InputError, match="'q' has no attack"):
        evaluate_localization(read_frame_scores(path), reference, (0.02,),
                              utt2attack={"p": "A01"})


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "wedefense.bin.evaluate_localization", *args],
                          capture_output=True, text=True)


def test_cli_json_keys_and_labels_in_three_formats(tmp_path):
    scores_path = frame_file(tmp_path, [("p", P_LLR), ("b", B_LLR)])
    reference = {"p": make_timestamps(0.08, [(0.03, 0.05)]), "b": make_timestamps(0.04)}
    write_timestamps(tmp_path / "timestamps", reference)
    out = tmp_path / "out.json"
    proc = run_cli("--scores", str(scores_path), "--labels", str(tmp_path / "timestamps"),
                   "--resolutions", "0.02", "0.04", "--output_json", str(out),
                   "--output_txt", str(tmp_path / "out.txt"))
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert {"segment_eer", "range_eer", "utterance_eer", "precision", "recall", "f1",
            "counts"} <= set(res)
    assert list(res["segment_eer"]) == ["0.02", "0.04"]
    assert res["range_eer"] == pytest.approx(0.45)
    # the same reference as PartialSpoof 10 ms segment labels ('1' bona fide, '0' spoof)
    np.save(tmp_path / "eval_seglab_0.01.npy", {
        "p": np.array(list("11101111")), "b": np.array(list("1111"))}, allow_pickle=True)
    out2 = tmp_path / "out2.json"
    proc = run_cli("--scores", str(scores_path), "--labels",
                   str(tmp_path / "eval_seglab_0.01.npy"), "--resolutions", "0.02", "0.04",
                   "--output_json", str(out2))
    assert proc.returncode == 0, proc.stderr
    res2 = json.loads(out2.read_text())
    # seglab at 10 ms marks [.03,.04) only, so compare with that reference
    ref2 = {"p": make_timestamps(0.08, [(0.03, 0.04)]), "b": make_timestamps(0.04)}
    want = evaluate_localization(read_frame_scores(scores_path), ref2, (0.02, 0.04))
    assert res2["segment_eer"] == want["segment_eer"] and res2["range_eer"] == want["range_eer"]
    # and as RTTM with utt2dur
    (tmp_path / "ref.rttm").write_text("SPEAKER p 1 0.03 0.02 <NA> <NA> spoof <NA> <NA>\n")
    (tmp_path / "utt2dur").write_text("p 0.08\nb 0.04\n")
    out3 = tmp_path / "out3.json"
    proc = run_cli("--scores", str(scores_path), "--labels", str(tmp_path / "ref.rttm"),
                   "--utt2dur", str(tmp_path / "utt2dur"), "--resolutions", "0.02", "0.04",
                   "--output_json", str(out3))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out3.read_text())["range_eer"] == res["range_eer"]


def test_cli_bad_input_one_line_no_output(tmp_path):
    scores_path = frame_file(tmp_path, [("p", P_LLR), ("b", B_LLR)])
    write_timestamps(tmp_path / "timestamps", {"p": make_timestamps(0.08, [(0.03, 0.05)])})
    out = tmp_path / "out.json"
    proc = run_cli("--scores", str(scores_path), "--labels", str(tmp_path / "timestamps"),
                   "--output_json", str(out))
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "'b'" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
    text = scores_path.read_text().replace("-1.00000", "nan")
    scores_path.write_text(text)
    write_timestamps(tmp_path / "timestamps", {"p": make_timestamps(0.08, [(0.03, 0.05)]),
                                               "b": make_timestamps(0.04)})
    proc = run_cli("--scores", str(scores_path), "--labels", str(tmp_path / "timestamps"),
                   "--output_json", str(out))
    assert proc.returncode == 2 and ":2: non-finite LLR for 'p'" in proc.stderr
    assert not out.exists()


def test_cli_plot(tmp_path):
    pytest.importorskip("matplotlib")
    import soundfile

    scores_path = frame_file(tmp_path, [("p", P_LLR), ("b", B_LLR)])
    write_timestamps(tmp_path / "timestamps", {"p": make_timestamps(0.08, [(0.03, 0.05)]),
                                               "b": make_timestamps(0.04)})
    soundfile.write(tmp_path / "p.wav", np.zeros(1280, dtype=np.float32), 16000)
    (tmp_path / "wav.scp").write_text(f"p {tmp_path / 'p.wav'}\n")
    common = ["--scores", str(scores_path), "--labels", str(tmp_path / "timestamps"),
              "--output_json", str(tmp_path / "o.json"), "--plot_dir", str(tmp_path / "plots"),
              "--plot_utts", "p"]
    proc = run_cli(*common)
    assert proc.returncode == 2 and "--wav_scp" in proc.stderr
    proc = run_cli(*common, "--wav_scp", str(tmp_path / "wav.scp"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "plots" / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_all_bona_fide_reference_gives_null_eers(tmp_path):
    scores, _ = hand_case(tmp_path)
    res = evaluate_localization(scores, {"p": make_timestamps(0.08), "b": make_timestamps(0.04)},
                                (0.02,))
    assert res["segment_eer"]["0.02"] is None and res["range_eer"] is None
    assert res["utterance_eer"] is None and res["recall"] is None
