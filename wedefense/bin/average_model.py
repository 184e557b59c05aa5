"""Stage 4a: average the weights of the last N epoch checkpoints.

    python -m wedefense.bin.average_model --src_path exp/x/models --num 5 \\
        --dst_model exp/x/models/avg_model.pt [--min_epoch 1 --max_epoch 100]

Only model_<epoch>.pt files count; best_model.pt or other files in the folder are ignored.
Integer buffers (e.g. BatchNorm's batch counter) are taken from the newest checkpoint.
"""

import argparse

import torch

from wedefense.utils.checkpoint import epoch_checkpoints, model_state, save_checkpoint
from wedefense.utils.cli import entry_point
from wedefense.utils.errors import InputError


def average_states(paths):
    avg = None
    for path in paths:
        state = model_state(path)
        if avg is None:
            avg = {k: v.clone().double() if v.is_floating_point() else v.clone()
                   for k, v in state.items()}
            continue
        if state.keys() != avg.keys():
            raise InputError("checkpoint has different parameters from the first one", path)
        for k, v in state.items():
            avg[k] = avg[k] + v.double() if v.is_floating_point() else v.clone()
    return {k: (v / len(paths)).float() if v.is_floating_point() else v
            for k, v in avg.items()}


@entry_point
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src_path", required=True, help="folder with model_<epoch>.pt")
    parser.add_argument("--dst_model", required=True, help="output checkpoint")
    parser.add_argument("--num", type=int, default=5, help="how many of the last epochs")
    parser.add_argument("--min_epoch", type=int, default=0)
    parser.add_argument("--max_epoch", type=int, default=1 << 30)
    args = parser.parse_args(argv)
    if args.num < 1:
        parser.error("--num must be at least 1")
    found = {e: p for e, p in epoch_checkpoints(args.src_path).items()
             if args.min_epoch <= e <= args.max_epoch}
    if not found:
        raise InputError("no model_<epoch>.pt checkpoints in range", args.src_path)
    epochs = sorted(found)[-args.num:]
    if len(epochs) < args.num:
        print(f"warning: only {len(epochs)} checkpoints available, averaging those")
    save_checkpoint({"model": average_states([found[e] for e in epochs]),
                     "averaged_epochs": epochs}, args.dst_model)
    print(f"averaged epochs {epochs} into {args.dst_model}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
