"""Stage 5: project embeddings to logits and class posteriors (softmax), both ark/scp.

    python -m wedefense.bin.embeddings_to_logits --config exp/x/config.yaml \\
        --model_path exp/x/models/avg_model.pt \\
        --embedding_scp exp/x/embeddings/eval/embedding.scp --out_dir exp/x/posteriors/eval

Writes out_dir/logits.{ark,scp} and out_dir/posteriors.{ark,scp}; the class order is
``classes`` in config.yaml. No labels are needed: margin heads score without them.
A localization model (``task: localization``) also writes out_dir/frame_logits.{ark,scp}, one
(frames, classes) matrix per utterance; its utterance logits are its utterance branch's or the
minimum-LLR frame's (wedefense/inference/localization_outputs.py).
"""

import argparse
import os

import numpy as np
import torch

from wedefense.inference.localization_outputs import is_localization, logits_from_embeddings
from wedefense.models.registry import load_trained_model
from wedefense.utils.cli import entry_point
from wedefense.utils.kaldi_io import read_vectors, write_vectors


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="exp_dir/config.yaml from training")
    parser.add_argument("--model_path", required=True, help="checkpoint with the weights")
    parser.add_argument("--embedding_scp", required=True)
    parser.add_argument("--out_dir", required=True)
    args = parser.parse_args(argv)

    config, model = load_trained_model(args.config, args.model_path)
    pairs = read_vectors(args.embedding_scp)
    keys = [k for k, _ in pairs]
    if is_localization(config):
        scored = logits_from_embeddings(model, pairs)
        write_vectors(os.path.join(args.out_dir, "frame_logits.ark"),
                      os.path.join(args.out_dir, "frame_logits.scp"),
                      ((k, frame) for k, frame, _ in scored))
        pairs = [(k, utt) for k, _, utt in scored]
    with torch.inference_mode():
        emb = torch.from_numpy(np.stack([v for _, v in pairs]))
        logits = emb if is_localization(config) else model.projection(emb).float()
        posteriors = torch.softmax(logits, dim=-1)
    write_vectors(os.path.join(args.out_dir, "logits.ark"),
                  os.path.join(args.out_dir, "logits.scp"), zip(keys, logits.numpy()))
    write_vectors(os.path.join(args.out_dir, "posteriors.ark"),
                  os.path.join(args.out_dir, "posteriors.scp"), zip(keys, posteriors.numpy()))
    print(f"wrote logits and posteriors of {len(keys)} utterances to {args.out_dir} "
          f"(classes {config['classes']})")


if __name__ == "__main__":
    main()
