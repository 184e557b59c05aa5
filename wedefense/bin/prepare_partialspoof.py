"""Stage 1 for PartialSpoof-layout corpora: protocols -> data/{train,dev,eval}.

    python -m wedefense.bin.prepare_partialspoof <corpus_dir> <data_dir>

<corpus_dir> holds database/{train,dev,eval}/con_wav and database/protocols/. Writes wav.scp,
utt2lab, lab2utt, utt2dur (from headers), utt2spk and utt2attack for each set.
"""

import argparse

from wedefense.dataset import partialspoof
from wedefense.utils.cli import entry_point


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus_dir")
    parser.add_argument("data_dir")
    parser.add_argument("--num_workers", type=int, default=8,
                        help="threads reading audio headers")
    args = parser.parse_args(argv)
    summary = partialspoof.prepare(args.corpus_dir, args.data_dir, args.num_workers)
    for subset, s in summary.items():
        counts = ", ".join(f"{k}={v}" for k, v in s.items() if k not in ("num_utts", "hours"))
        print(f"{subset}: {s['num_utts']} utterances, {s['hours']:.2f} h ({counts})")


if __name__ == "__main__":
    main()
