"""Stage 4b: extract one embedding per utterance into Kaldi ark/scp.

    python wedefense/bin/extract.py --config exp/x/config.yaml \\
        --model_path exp/x/models/avg_model.pt --data_list data/eval/raw.list \\
        --embed_ark exp/x/embeddings/eval/embedding.ark [--device cpu|cuda]

Whole utterances, sorted by length into padded batches (padding is masked inside the model, so
a batched embedding equals the one computed alone). The scp is written beside the ark.
"""

import argparse
import os

import torch

from wedefense.dataset.dataset import read_raw_list
from wedefense.dataset.loader import utterance_loader
from wedefense.models.registry import load_trained_model
from wedefense.utils.cli import entry_point
from wedefense.utils.kaldi_io import write_vectors


def default_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="exp_dir/config.yaml from training")
    parser.add_argument("--model_path", required=True, help="checkpoint with the weights")
    parser.add_argument("--data_list", required=True, help="raw.list of the set to embed")
    parser.add_argument("--embed_ark", required=True, help="output ark; the scp goes beside it")
    parser.add_argument("--device", default=default_device())
    parser.add_argument("--max_batch_seconds", type=float, default=200.0,
                        help="padded audio seconds per batch (memory bound)")
    parser.add_argument("--num_workers", type=int, default=1, help="audio-reading processes")
    args = parser.parse_args(argv)

    config, model = load_trained_model(args.config, args.model_path, args.device)
    sample_rate = config.get("dataset_args", {}).get("sample_rate", 16000)
    items = read_raw_list(args.data_list)
    loader = utterance_loader(items, sample_rate, args.max_batch_seconds,
                              num_workers=args.num_workers)
    embeddings = {}
    with torch.inference_mode():
        for keys, wavs, lengths in loader:
            out = model.embed(wavs.to(args.device), lengths.to(args.device)).float().cpu()
            embeddings.update(zip(keys, out.numpy()))
    scp = os.path.splitext(args.embed_ark)[0] + ".scp"
    # keep the list's order, so every later file lines up with raw.list
    write_vectors(args.embed_ark, scp, ((it["key"], embeddings[it["key"]]) for it in items))
    print(f"wrote {len(items)} embeddings to {scp}")


if __name__ == "__main__":
    main()
