"""Stage 6: convert the logits of a trained detector into bona fide vs spoof LLR scores.

    python -m wedefense.bin.logits_to_llr --logits_scp posteriors/eval/logits.scp \\
        --config exp/resnet18/config.yaml --output posteriors/eval/llr.txt

For a localization model (``task: localization`` in the config) it also reads
``frame_logits.scp`` beside ``--logits_scp`` and writes ``frame_llr.txt`` beside ``--output``
(``<utt> <start_s> <end_s> <llr>`` per frame; wedefense/inference/localization_outputs.py).
"""

import argparse
import io
import logging
import os

import kaldiio
import numpy as np

from wedefense.calibration.llr import bonafide_classes_of, logits_to_llr, removes_training_prior
from wedefense.dataset.tables import iter_lines
from wedefense.inference import localization_outputs as loc
from wedefense.metrics.frame_scores import write_frame_scores
from wedefense.metrics.scores_io import write_scores
from wedefense.utils.cli import entry_point, setup_logging
from wedefense.utils.config import load_yaml
from wedefense.utils.errors import InputError

logger = logging.getLogger("wedefense.logits_to_llr")


def get_parser():
    parser = argparse.ArgumentParser(
        description="Turn per-utterance logits (stage 5) into log-likelihood-ratio scores "
                    "LLR = log p(x|bonafide) - log p(x|spoof), removing the training class prior "
                    "(README.md, 'Stage 6'). Classes other than the bona fide ones are pooled as "
                    "spoof. "
                    "For OC-softmax and P2SGrad heads, whose logits are not log posteriors, no "
                    "prior is removed: the output is a score that needs calibration.")
    parser.add_argument("--logits_scp", required=True,
                        help="Kaldi scp of float32 logit vectors, one per utterance, in the class "
                             "order of the config (posteriors/<set>/logits.scp)")
    parser.add_argument("--config", required=True,
                        help="the training config.yaml; its top-level 'classes' (names in logit "
                             "order) and 'class_counts' (training-set counts) set the priors")
    parser.add_argument("--output", required=True,
                        help="score file to write (posteriors/<set>/llr.txt): header "
                             "'filename<TAB>cm-score', then one '<utt><TAB><llr>' line each")
    parser.add_argument("--bonafide_classes",
                        help="comma-separated class names counted as bona fide (default: the "
                             "config's 'bonafide_classes', else 'bonafide')")
    return parser


def read_class_info(path):
    """``(classes, class_counts, bonafide_classes, remove_prior)`` from a training config,
    checked; ``remove_prior`` is :func:`removes_training_prior` of its head."""
    config = load_yaml(path)
    classes, counts = config.get("classes"), config.get("class_counts")
    if not (isinstance(classes, list) and classes and all(isinstance(c, str) for c in classes)):
        raise InputError("'classes' must be a non-empty list of class names "
                         f"(in logit order), got {classes!r}", path)
    # counts may be fractional: with speed-perturbed copies they are expected chunk counts
    if not (isinstance(counts, list)
            and all(isinstance(n, (int, float)) and not isinstance(n, bool) for n in counts)):
        raise InputError(f"'class_counts' must be a list of numbers, got {counts!r}", path)
    if len(counts) != len(classes):
        raise InputError(f"{len(classes)} classes but {len(counts)} class counts", path)
    return classes, counts, bonafide_classes_of(config, path), removes_training_prior(config, path)


def read_logits(scp_path, num_classes):
    """``(utts, logits (N, C))`` in scp order; bad lines and vectors name the scp line."""
    entries = []
    seen = set()
    for lineno, fields in iter_lines(scp_path):
        if len(fields) < 2:
            raise InputError("expected '<utt> <ark path>'", scp_path, lineno)
        if fields[0] in seen:
            raise InputError(f"duplicate id '{fields[0]}'", scp_path, lineno)
        seen.add(fields[0])
        entries.append((lineno, fields[0], " ".join(fields[1:])))
    if not entries:
        raise InputError("no utterances in the file", scp_path)
    # kaldiio refuses blank lines, so it is handed the lines already checked above; the
    # sequential loader keeps each ark open instead of reopening it for every utterance.
    lines = io.StringIO("".join(f"{utt} {location}\n" for _, utt, location in entries))
    loader = kaldiio.load_scp_sequential(lines)
    logits = np.empty((len(entries), num_classes), dtype=np.float64)
    for i, (lineno, utt, _) in enumerate(entries):
        try:
            _, vector = next(loader)
        except Exception as e:  # kaldiio reports bad arks with assorted exception types
            raise InputError(f"cannot load '{utt}' ({type(e).__name__}: {e})", scp_path,
                             lineno) from None
        vector = np.asarray(vector)
        if vector.shape != (num_classes,):
            raise InputError(f"'{utt}' has logits of shape {vector.shape}, expected "
                             f"({num_classes},) for the classes in the config", scp_path, lineno)
        if not np.isfinite(vector).all():
            raise InputError(f"non-finite logits for '{utt}'", scp_path, lineno)
        logits[i] = vector
    return [utt for _, utt, _ in entries], logits


def write_frame_llrs(args, config):
    """frame_logits.scp beside --logits_scp -> frame_llr.txt beside --output."""
    from wedefense.utils.kaldi_io import read_vectors

    scp = os.path.join(os.path.dirname(args.logits_scp), "frame_logits.scp")
    rows = []
    for utt, logits in read_vectors(scp):
        if logits.ndim != 2 or logits.shape[1] != len(config["classes"]):
            raise InputError(f"'{utt}' has frame logits of shape {logits.shape}, expected "
                             f"(frames, {len(config['classes'])})", scp)
        if not np.isfinite(logits).all():
            raise InputError(f"non-finite frame logits for '{utt}'", scp)
        rows.append((utt, loc.frame_llrs(logits, config, args.config)))
    out = os.path.join(os.path.dirname(args.output), "frame_llr.txt")
    write_frame_scores(out, loc.frame_llr_rows(rows, float(config.get("frame_resolution", 0.02))))
    logger.info("wrote frame LLRs of %d utterances to %s", len(rows), out)


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging()
    classes, counts, bonafide_classes, remove_prior = read_class_info(args.config)
    if args.bonafide_classes:
        bonafide_classes = tuple(name for name in args.bonafide_classes.split(",") if name)
    utts, logits = read_logits(args.logits_scp, len(classes))
    config = load_yaml(args.config)
    if loc.is_localization(config):
        counts = loc.utterance_prior_counts(config, args.config)
        write_frame_llrs(args, config)
    try:
        llr = logits_to_llr(logits, classes, counts, bonafide_classes, remove_prior)
    except InputError as e:
        # The logits are checked above, so what is left is the class description.
        raise InputError(str(e), args.config) from None
    if not remove_prior:
        logger.info("the head's logits are not log posteriors (OC-softmax, P2SGrad): no "
                    "training prior removed; the scores need calibration to be LLRs")
    write_scores(args.output, utts, llr)
    logger.info("wrote %d LLR scores to %s", len(utts), args.output)


if __name__ == "__main__":
    main()
