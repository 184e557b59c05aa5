"""Stage 3: train a spoof detector (run under torchrun; a plain `python` run is one process).

    torchrun --standalone --nproc_per_node=1 -m wedefense.bin.train --config conf/resnet.yaml \\
        --exp_dir exp/resnet --train_data data/train/raw.list --train_label data/train/utt2lab \\
        --val_data data/dev/raw.list --val_label data/dev/utt2lab [--resume] [--key.sub value ...]

Any config key can be overridden after the known options (``--optimizer_args.lr 0.01``). The
resolved config, with the class names and training class counts, is saved to
``<exp_dir>/config.yaml``; it is all later stages need to rebuild the model.
Writes train.log, tensorboard/, models/model_<epoch>.pt (full resume state, loadable with
torch.load(..., weights_only=True)) and models/best_model.pt (weights of the epoch with the
best dev metric).

Nothing is written before the config, the options, the training list and the dev set are
checked. With a raw.list the training class counts (the prior stage 6 removes) are counted from
the list itself, and a label in --train_label that differs from the list's is an error; a
shard.list names only tars, so its counts come from --train_label. An epoch's checkpoint is
written before its validation, so a failing validation loses no training; --resume validates
such an epoch first. --resume after an early stop trains nothing.

One run per exp_dir: rank 0 holds <exp_dir>/.lock (host, pid, start time) until it ends; a
second run on the same exp_dir is refused at once, naming the holder. Workers end within a
second or two when torchrun dies, even by SIGKILL, and when the process whose pid is in the
environment variable WEDEFENSE_LAUNCHER_PID dies (a recipe exports WEDEFENSE_LAUNCHER_PID=$$
before torchrun, so killing run.sh stops the training).
"""

import argparse

from wedefense.training.trainer import train
from wedefense.utils.cli import entry_point
from wedefense.utils.config_schema import schema_help


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, epilog=schema_help(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="YAML training config")
    parser.add_argument("--exp_dir", required=True, help="experiment directory to write")
    parser.add_argument("--train_data", required=True, help="training raw.list or shard.list")
    parser.add_argument("--train_label", required=True,
                        help="training utt2lab: the class counts of a shard list; a raw list "
                             "is counted itself and checked against it")
    parser.add_argument("--val_data", help="dev raw.list or shard.list; without it no best "
                        "model is chosen")
    parser.add_argument("--val_label", help="dev utt2lab")
    parser.add_argument("--data_type", default="raw", choices=["raw", "shard"],
                        help="list format of --train_data (shard: streamed tar by tar); "
                             "--val_data may be either")
    parser.add_argument("--checkpoint", help="model_<epoch>.pt to resume from")
    parser.add_argument("--resume", action="store_true",
                        help="resume from the latest model_<epoch>.pt in exp_dir/models")
    return parser.parse_known_args(argv)


@entry_point
def main(argv=None):
    train(*parse_args(argv))


if __name__ == "__main__":
    main()
