"""Localization metrics of frame LLRs against reference spoofed ranges.

    python -m wedefense.bin.evaluate_localization --scores posteriors/eval/frame_llr.txt \\
        --labels data/eval/timestamps --output_json results_eval.json \\
        [--resolutions 0.02 0.04 0.08 0.16 0.32 0.64] [--threshold T] [--attacks utt2attack] \\
        [--utt2dur data/eval/utt2dur] [--output_txt results_eval.txt] \\
        [--plot_dir plots --plot_utts U1 U2 --wav_scp data/eval/wav.scp]

Definitions: wedefense/metrics/localization.py and README.md ("Localization formats and metrics").
"""

import argparse
import json
import os

from wedefense.dataset.tables import read_table
from wedefense.dataset.timestamps import read_reference
from wedefense.metrics.detection import bayes_threshold
from wedefense.metrics.frame_scores import read_frame_scores
from wedefense.metrics.localization import DEFAULT_RESOLUTIONS, evaluate_localization
from wedefense.utils.cli import entry_point
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open


def get_parser():
    parser = argparse.ArgumentParser(
        description="Segment EER at several resolutions, range-based EER, utterance EER and "
                    "precision/recall/F1 of spoofed time, from frame LLRs (positive = bona "
                    "fide). Writes the numbers as JSON (EERs as fractions).")
    parser.add_argument("--scores", required=True,
                        help="frame_llr.txt: '<utt> <start_s> <end_s> <llr>' per frame")
    parser.add_argument("--labels", required=True,
                        help="reference: a timestamp table ('<utt> <dur> <bonafide|spoof> "
                             "<start>-<end>-<label> ...'), PartialSpoof <set>_seglab_<r>.npy, "
                             "or RTTM (needs --utt2dur)")
    parser.add_argument("--utt2dur", help="'<utt> <seconds>'; needed for RTTM, and makes "
                                          "seglab durations exact")
    parser.add_argument("--resolutions", type=float, nargs="+", default=DEFAULT_RESOLUTIONS,
                        help="segment EER resolutions in seconds (default: %(default)s)")
    parser.add_argument("--threshold", type=float,
                        help="LLR below which a frame is decided spoof for precision/recall/F1 "
                             "(default: the Bayes threshold -ln(beta) of Pspoof=0.05, Cmiss=1, "
                             "Cfa=10, about -0.642)")
    parser.add_argument("--attacks", help="utt2attack '<utt> <attack>': adds per-attack rows")
    parser.add_argument("--output_json", required=True)
    parser.add_argument("--output_txt", help="also write a table for humans")
    parser.add_argument("--plot_dir", help="write <utt>.png for the --plot_utts (matplotlib)")
    parser.add_argument("--plot_utts", nargs="+", default=[], help="utterances to plot")
    parser.add_argument("--wav_scp", help="'<utt> <path>', the audio of the plotted utterances")
    return parser


def _fmt(value, percent=True):
    if value is None:
        return "n/a"
    return f"{100 * value:.2f}" if percent else f"{value:.4f}"


def format_table(results):
    keys = list(results["segment_eer"])
    rows = [("pooled", results)] + list(results.get("per_attack", {}).items())
    head = ["system"] + [f"seg{k}" for k in keys] + ["range", "utt", "P", "R", "F1"]
    lines = ["EERs in %, precision/recall/F1 of spoofed time at LLR threshold "
             f"{results['threshold']:.4f}", "\t".join(head)]
    for name, r in rows:
        cells = [name] + [_fmt(r["segment_eer"][k]) for k in keys]
        cells += [_fmt(r["range_eer"]), _fmt(r["utterance_eer"])]
        cells += [_fmt(r[k], percent=False) for k in ("precision", "recall", "f1")]
        lines.append("\t".join(cells))
    return "\n".join(lines) + "\n"


def _plots(args, scores, reference, threshold):
    if not args.wav_scp:
        raise InputError("--plot_dir needs --wav_scp to draw the waveforms")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError("--plot_dir needs matplotlib: pip install -e '.[plot]'") from None
    from wedefense.dataset.audio import load_audio
    from wedefense.metrics.localization_plots import plot_utterance

    wavs = read_table(args.wav_scp, rest=True)
    index = scores.index()
    for utt in args.plot_utts:
        if utt not in index:
            raise InputError(f"--plot_utts: '{utt}' is not in the scores", args.scores)
        if utt not in wavs:
            raise InputError(f"--plot_utts: '{utt}' is not in the wav.scp", args.wav_scp)
    paths = []
    for utt in args.plot_utts:
        wav = load_audio(wavs[utt], 16000)
        starts, ends, llr = scores.frames(index[utt])
        paths.append(plot_utterance(os.path.join(args.plot_dir, f"{utt}.png"), utt, wav, 16000,
                                    reference[utt].spoof_seconds(), starts, ends, llr,
                                    threshold))
    return paths


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    if args.plot_utts and not args.plot_dir:
        raise InputError("--plot_utts needs --plot_dir")
    durations = read_table(args.utt2dur, value_type=float) if args.utt2dur else None
    reference = read_reference(args.labels, durations)
    tolerance = None
    if str(args.labels).endswith(".npy") and durations is None:
        # without durations a seglab utterance lasts a whole number of segments: up to one
        # segment longer than the audio its frames cover
        tolerance = _seglab_resolution(args.labels)
    scores = read_frame_scores(args.scores)
    utt2attack = read_table(args.attacks) if args.attacks else None
    threshold = bayes_threshold() if args.threshold is None else args.threshold
    results = evaluate_localization(scores, reference, args.resolutions, threshold, utt2attack,
                                    tolerance)
    plots = _plots(args, scores, reference, threshold) if args.plot_dir else []
    if plots:
        results["plots"] = plots
    text = format_table(results)
    if args.output_txt:
        with atomic_open(args.output_txt) as f:
            f.write(text)
    with atomic_open(args.output_json) as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(text, end="")


def _seglab_resolution(path):
    return float(str(path).rsplit("_seglab_", 1)[1][:-len(".npy")])


if __name__ == "__main__":
    main()
