"""Score audio files, folders and wav.scp lists with a model bundle.

    wedefense detect --model bundle/ a.wav b.flac some_dir/ data/eval/wav.scp \\
        [--out scores.tsv] [--device cpu|cuda] [--p_spoof 0.05]

Writes (to stdout, or --out) a tab-separated table with a header line and one row per input,
in input order:

    utt<TAB>llr<TAB>decision<TAB>p_bonafide

llr is log p(x|bonafide) - log p(x|spoof) (calibrated if the bundle holds a calibration);
decision is 'bonafide' when llr >= -ln(beta), beta = Cmiss (1 - Pspoof) / (Cfa Pspoof), else
'spoof'; p_bonafide = sigmoid(llr + ln((1 - Pspoof) / Pspoof)) is the posterior at that prior.
Any sample rate is resampled and stereo is mixed down. Audio longer than the bundle's window
(30 s by default) is scored in windows and gets the mean window LLR; --window_scores writes
each window's LLR.

With a localization bundle (egs/localization), --segments writes where each input is spoofed,
one row per merged range of frames whose LLR is below the decision threshold:

    utt<TAB>start<TAB>end<TAB>llr        (seconds; llr the minimum frame LLR inside)

and --rttm the same ranges as RTTM ('SPEAKER <utt> 1 <start> <duration> <NA> <NA> spoof <NA>
<NA>'). Long audio is localized in windows on the frame grid, every frame scored once.

Audio with no usable signal (digital silence, a constant value, noise below one 16-bit step)
gets no score: its row reads 'nan<TAB>no_signal<TAB>nan' and a warning counts such files.
Unreadable inputs, and files that decode to less than their header declares ("truncated", e.g.
a cut-off download), are listed on stderr after the readable ones are scored, and the exit
status is then 2.
"""

import argparse
import logging
import sys

from wedefense.dataset.batch_seconds import CPU_BATCH_SECONDS, GPU_BATCH_SECONDS
from wedefense.dataset.timestamps import make_timestamps, write_rttm
from wedefense.metrics.detection import DEFAULT_C_FA, DEFAULT_C_MISS, DEFAULT_P_SPOOF
from wedefense.utils.cli import entry_point, setup_logging
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

logger = logging.getLogger("wedefense.detect")

HEADER = "utt\tllr\tdecision\tp_bonafide"


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+",
                        help="audio files, directories (searched recursively) and wav.scp lists")
    parser.add_argument("--model", required=True, help="bundle directory from wedefense export")
    parser.add_argument("--out", default=None, help="write the table here instead of stdout")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda or cuda:N (default: cuda if available, else cpu); "
                             "an unavailable device is an error, not a silent fall-back")
    parser.add_argument("--backend", default="auto",
                        choices=("auto", "pytorch", "torchscript", "onnx", "onnx_int8"),
                        help="which form of the bundle runs (default: %(default)s, the "
                             "fastest exact one: onnx on a CPU when the bundle has it, else "
                             "pytorch; onnx_int8 needs a bundle exported with --quantize "
                             "int8 and is not exact); the log names the one used")
    parser.add_argument("--p_spoof", type=float, default=DEFAULT_P_SPOOF,
                        help="spoof prior of the application (default: %(default)s)")
    parser.add_argument("--c_miss", type=float, default=DEFAULT_C_MISS,
                        help="cost of rejecting bona fide audio (default: %(default)s)")
    parser.add_argument("--c_fa", type=float, default=DEFAULT_C_FA,
                        help="cost of accepting spoofed audio (default: %(default)s)")
    parser.add_argument("--window_seconds", type=float, default=None,
                        help="window for long audio (default: the bundle's, 30 s)")
    parser.add_argument("--hop_seconds", type=float, default=None,
                        help="hop between windows (default: the bundle's, 15 s)")
    parser.add_argument("--window_scores", default=None,
                        help="also write per-window scores: utt<TAB>start<TAB>end<TAB>llr "
                             "(seconds)")
    parser.add_argument("--segments", default=None,
                        help="localization bundles: write the spoofed ranges here, "
                             "utt<TAB>start<TAB>end<TAB>llr")
    parser.add_argument("--rttm", default=None,
                        help="localization bundles: write the spoofed ranges here as RTTM")
    parser.add_argument("--max_batch_seconds", type=float, default=None,
                        help=f"padded audio seconds per batch (default: {CPU_BATCH_SECONDS:g} "
                             f"on CPU, {GPU_BATCH_SECONDS:g} on GPU)")
    parser.add_argument("--num_workers", type=int, default=4,
                        help="audio-reading threads (default: %(default)s)")
    return parser


def format_rows(results):
    yield HEADER + "\n"
    for r in results:
        if r.decision == "no_signal":
            yield f"{r.utt}\tnan\tno_signal\tnan\n"
        elif r.error is None:
            yield f"{r.utt}\t{r.llr:.6f}\t{r.decision}\t{r.p_bonafide:.6f}\n"


def format_segments(results):
    yield "utt\tstart\tend\tllr\n"
    for r in results:
        for start, end, llr in r.spoofed:
            yield f"{r.utt}\t{start:.3f}\t{end:.3f}\t{llr:.6f}\n"


def spoofed_timestamps(results):
    """``{utt: Timestamps}`` of the scored inputs (silent ones included, with no ranges)."""
    return {r.utt: make_timestamps(r.duration, [(a, b) for a, b, _ in r.spoofed], r.path)
            for r in results}


def _write(path, lines):
    if path is None:
        sys.stdout.writelines(lines)
        sys.stdout.flush()
        return
    with atomic_open(path) as f:
        f.writelines(lines)


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging()
    from wedefense.inference.cpu_threads import prefer_passive_openmp

    prefer_passive_openmp()
    from wedefense.inference.detector import Detector

    detector = Detector.load(args.model, device=args.device,
                             backend=args.backend, p_spoof=args.p_spoof, c_miss=args.c_miss,
                             c_fa=args.c_fa, window_seconds=args.window_seconds,
                             hop_seconds=args.hop_seconds)
    logger.info("inference path: %s", detector.path)
    if (args.segments or args.rttm) and detector.task != "localization":
        raise InputError("--segments and --rttm need a localization bundle (egs/localization); "
                         "this one scores whole utterances", args.model)
    if not detector.calibrated:
        logger.info("this bundle has no calibration: the LLRs are the model's raw ones, so "
                    "decisions and p_bonafide are only as good as its own calibration")
    results = detector.score_files(args.inputs, on_error="skip",
                                   max_batch_seconds=args.max_batch_seconds,
                                   num_workers=args.num_workers)
    scored = [r for r in results if r.error is None]
    failed = [r for r in results if r.error is not None]
    silent = [r.utt for r in scored if r.decision == "no_signal"]
    if silent:
        logger.warning("%d input(s) have no usable signal and no score (decision no_signal), "
                       "e.g. %s", len(silent), ", ".join(silent[:3]))
    if scored:
        _write(args.out, format_rows(scored))
        if args.window_scores:
            _write(args.window_scores,
                   ["utt\tstart\tend\tllr\n"]
                   + [f"{r.utt}\t{w.start:.3f}\t{w.end:.3f}\t{w.llr:.6f}\n"
                      for r in scored for w in r.windows])
        if args.segments:
            _write(args.segments, format_segments(scored))
        if args.rttm:
            write_rttm(args.rttm, spoofed_timestamps(scored))
        logger.info("scored %d input(s); decision threshold llr >= %.4f (p_spoof=%g, "
                    "c_miss=%g, c_fa=%g)%s", len(scored), detector.threshold, args.p_spoof,
                    args.c_miss, args.c_fa, f"; wrote {args.out}" if args.out else "")
    if failed:
        print(f"error: {len(failed)} input(s) could not be scored:", file=sys.stderr)
        for r in failed:
            message = r.error if r.path in r.error else f"{r.path}: {r.error}"
            print(f"  {message}", file=sys.stderr)
        sys.exit(2)
    if not scored:
        raise InputError("nothing to score")


if __name__ == "__main__":
    main()
