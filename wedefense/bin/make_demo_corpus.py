"""Stage 0 of the demo recipes: synthesise the built-in spoofing corpus in PartialSpoof's layout.

    python -m wedefense.bin.make_demo_corpus --out_dir corpus [--task localization] [--seed 0]
        [--num_workers 2]

Writes <out_dir>/database/{train,dev,eval}/con_wav/*.wav (16 kHz mono PCM_16) and the CM
protocols under <out_dir>/database/protocols/PartialSpoof_LA_cm_protocols/, ready for
prepare_partialspoof.py. Bona fide speech comes from a source-filter synthesizer; spoofs are
vocoded (A01 Griffin-Lim, A02 LPC, A03 channel vocoder; eval adds the unseen A04
harmonic-plus-noise without phase). Level, noise, reverberation, silence and DC are drawn alike
for both classes. The default size (1500 utterances of 2-4 s, about 77 minutes) takes some 35 s
of CPU time, so about 20 s with 2 idle cores. The same seed gives byte-identical files whatever
--num_workers; rerunning with the same options on a complete corpus returns at once.

--task localization writes partially spoofed utterances instead (one to three stretches of
0.1-1.5 s of vocoded speech spliced into bona fide speech, joins hidden) plus PartialSpoof's
database/segment_labels/<set>_seglab_<r>.npy for r = 0.01 ... 0.64 s; defaults 400/100/200
utterances, a quarter bona fide.
"""

import argparse
import logging

from wedefense.dataset.demo_corpus import (
    DEFAULT_BONAFIDE_FRACTION,
    DEFAULT_COUNTS,
    LOCALIZATION_BONAFIDE_FRACTION,
    LOCALIZATION_COUNTS,
    TASKS,
    generate_demo_corpus,
    write_noise_and_rirs,
)
from wedefense.utils.cli import entry_point, setup_logging


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out_dir", required=True,
                        help="corpus root; 'database/' is created inside it")
    parser.add_argument("--task", choices=TASKS, default="detection",
                        help="detection: whole utterances bona fide or spoofed; localization: "
                             "partially spoofed utterances with segment labels "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default: %(default)s)")
    for split, count in DEFAULT_COUNTS.items():
        parser.add_argument(f"--num_{split}", type=int, default=None,
                            help=f"utterances in {split} (default: {count}, "
                                 f"{LOCALIZATION_COUNTS[split]} for localization)")
    parser.add_argument("--bonafide_fraction", type=float, default=None,
                        help="share of bona fide utterances in every split; spoofs are split "
                             f"evenly over the attacks (default: {DEFAULT_BONAFIDE_FRACTION}, "
                             f"{LOCALIZATION_BONAFIDE_FRACTION} for localization)")
    parser.add_argument("--shifted", action="store_true",
                        help="other voices (higher/lower, rougher, faster/slower) and another "
                             "channel (reverberant room, 10-20 dB SNR, telephone band) than the "
                             "default corpus: an evaluation set for generalisation; use another "
                             "--seed for other content")
    parser.add_argument("--noise_and_rirs", action="store_true",
                        help="write only synthetic noise and room impulse responses, "
                             "<out_dir>/{noise,rirs}/wav.scp, for the noise + reverb configs "
                             "(stand-ins for MUSAN and RIRS_NOISES)")
    parser.add_argument("--num_workers", type=int, default=2,
                        help="synthesis processes; the output does not depend on it "
                             "(default: %(default)s)")
    return parser


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    setup_logging(logging.INFO)
    if args.noise_and_rirs:
        for scp in write_noise_and_rirs(args.out_dir, seed=args.seed):
            print(f"wrote {scp}")
        return
    summary = generate_demo_corpus(args.out_dir, seed=args.seed, num_train=args.num_train,
                                   num_dev=args.num_dev, num_eval=args.num_eval,
                                   bonafide_fraction=args.bonafide_fraction,
                                   num_workers=args.num_workers, task=args.task,
                                   shifted=args.shifted)
    state = "reused complete corpus" if summary["reused"] else "wrote corpus"
    print(f"{state} {summary['root']}")
    for split, info in summary["splits"].items():
        attacks = ", ".join(f"{a}={n}" for a, n in info["attacks"].items())
        print(f"{split}: {info['num_utts']} utterances ({info['num_bonafide']} bonafide, "
              f"{info['num_spoof']} spoof: {attacks}), {info['speakers']} speakers, "
              f"{info['seconds'] / 60:.1f} min"
              + (f", {info['stretches']} spoofed stretches, {info['spoofed_seconds'] / 60:.1f} min"
                 " spoofed" if "stretches" in info else ""))


if __name__ == "__main__":
    main()
