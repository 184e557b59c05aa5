"""Draw stage-4 embeddings in 2-D (t-SNE, or UMAP when installed), coloured by attack or class.

    python -m wedefense.bin.plot_embeddings --scp exp/x/embeddings/eval/embedding.scp \\
        --utt2lab data/eval/utt2lab --utt2attack data/eval/utt2attack \\
        --seen_attacks A01,A02,A03 --out exp/x/embeddings/eval/map.png

Attacks not in --seen_attacks (those training never saw) are drawn as crosses. The projection
is cached in --cache_dir (default: .embedding_map_cache beside --out), keyed by a hash of the
embeddings and settings, so a redraw is instant.
"""

import argparse
import logging
import os

from wedefense.explain.embedding_map import METHODS, cached_projection, load_points, plot_map
from wedefense.utils.cli import entry_point, setup_logging


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scp", required=True, help="embedding.scp of stage 4")
    parser.add_argument("--utt2lab", required=True)
    parser.add_argument("--utt2attack", help="colour by attack ('-' for bona fide)")
    parser.add_argument("--seen_attacks", help="comma-separated attacks seen in training")
    parser.add_argument("--out", required=True, help="the PNG to write")
    parser.add_argument("--method", choices=METHODS, default="tsne")
    parser.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity")
    parser.add_argument("--max_points", type=int, default=5000,
                        help="subsample larger sets (each attack keeps its share)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache_dir", help="where projections are cached")
    return parser.parse_args(argv)


@entry_point
def main(argv=None):
    args = get_args(argv)
    setup_logging()
    ids, vectors, classes, attacks = load_points(args.scp, args.utt2lab, args.utt2attack,
                                                 args.max_points, args.seed)
    cache_dir = args.cache_dir or os.path.join(os.path.dirname(os.path.abspath(args.out)),
                                               ".embedding_map_cache")
    coords, path, hit = cached_projection(ids, vectors, cache_dir, args.method, args.seed,
                                          args.perplexity)
    logging.info("%s projection of %d embeddings %s %s", args.method, len(ids),
                 "read from" if hit else "cached in", path)
    seen = set(args.seen_attacks.split(",")) if args.seen_attacks else None
    plot_map(args.out, coords, classes, attacks, seen,
             title=f"{os.path.basename(os.path.dirname(os.path.abspath(args.scp)))}: "
                   f"{args.method} of {len(ids)} embeddings")
    logging.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
