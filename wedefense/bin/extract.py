"""Stage 4b: extract one embedding per utterance into Kaldi ark/scp (a localization model,
``task: localization`` in its config: one (frames, dim) matrix of frame embeddings per utterance).

    python -m wedefense.bin.extract --config exp/x/config.yaml \\
        --model_path exp/x/models/avg_model.pt --data_list data/eval/raw.list \\
        --embed_ark exp/x/embeddings/eval/embedding.ark [--device cpu|cuda]

Whole utterances, sorted by length into padded batches (padding is masked inside the model, so
a batched embedding equals the one computed alone). The scp is written beside the ark.

On a CPU the default backend (auto) runs the embedding graph with ONNX Runtime, exported once
and cached beside the checkpoint (avg_model.embedding.onnx), when onnxruntime is installed and
the model suits it (not SSL, not a frame model), and checked against PyTorch first; otherwise
PyTorch with BatchNorm folded. The log says which path ran.

Several processes or GPUs: launch the same command under torchrun, e.g.

    torchrun --standalone --nproc_per_node 4 -m wedefense.bin.extract ...

Rank r takes every world_size-th length batch (one GPU per rank when GPUs are present, else CPU
threads are shared out); each rank writes its part, and rank 0 merges the parts into one ark/scp
in the order of the list, so the output is the same whatever the number of processes.
"""

import argparse
import os
import shutil

from wedefense.inference.cpu_threads import cpu_threads, prefer_passive_openmp

prefer_passive_openmp()  # before torch loads libgomp: see wedefense/inference/cpu_threads.py
import numpy as np  # noqa: E402
import torch  # noqa: E402

from wedefense.dataset.batch_seconds import GPU_BATCH_SECONDS, default_batch_seconds  # noqa: E402
from wedefense.dataset.dataset import check_long_enough, item_durations, read_raw_list  # noqa: E402
from wedefense.dataset.loader import utterance_loader  # noqa: E402
from wedefense.inference.onnx_embedding import BACKENDS, fastest_embedder  # noqa: E402
from wedefense.models.registry import load_trained_model  # noqa: E402
from wedefense.models.spoof_model import min_samples  # noqa: E402
from wedefense.utils import distributed  # noqa: E402
from wedefense.utils.cli import entry_point  # noqa: E402
from wedefense.utils.errors import InputError  # noqa: E402
from wedefense.utils.kaldi_io import write_vectors  # noqa: E402


def default_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="exp_dir/config.yaml from training")
    parser.add_argument("--model_path", required=True, help="checkpoint with the weights")
    parser.add_argument("--data_list", required=True, help="raw.list of the set to embed")
    parser.add_argument("--embed_ark", required=True, help="output ark; the scp goes beside it")
    parser.add_argument("--device", default=None,
                        help="cpu or cuda (default: cuda if available; under torchrun each "
                             "rank uses GPU LOCAL_RANK)")
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="auto: ONNX Runtime on a CPU where it suits the model, else "
                             "PyTorch (see above)")
    parser.add_argument("--max_batch_seconds", type=float, default=None,
                        help="padded audio seconds per batch (default: 200 on a GPU; 16 on a "
                             "CPU, where batches larger than the caches get slower, see "
                             "benchmarks/results/extract_speed.md)")
    parser.add_argument("--max_batch_size", type=int, default=64,
                        help="utterances per batch at most (1: one at a time)")
    parser.add_argument("--num_workers", type=int, default=1, help="audio-reading processes")
    parser.add_argument("--num_threads", type=int, default=0,
                        help="CPU threads per process (default: the cores shared out over the "
                             "processes; one on an oversubscribed machine)")
    return parser


def embed_items(model, items, sample_rate, device, max_batch_seconds=GPU_BATCH_SECONDS,
                max_batch_size=64, num_workers=1, rank=0, world_size=1, durations=None):
    """``{key: embedding}`` of this rank's share of ``items`` (``durations`` in seconds, if
    already read)."""
    loader = utterance_loader(items, sample_rate, max_batch_seconds, max_batch_size,
                              num_workers=num_workers, rank=rank, world_size=world_size,
                              durations=durations)
    embeddings = {}
    with torch.inference_mode():
        for keys, wavs, lengths in loader:
            if getattr(model, "is_frame_model", False):
                out, frames = model.frame_embeddings(wavs.to(device), lengths.to(device))
                out = out.float().cpu().numpy()
                embeddings.update((k, out[i, :int(frames[i])]) for i, k in enumerate(keys))
                continue
            out = model.embed(wavs.to(device), lengths.to(device)).float().cpu()
            embeddings.update(zip(keys, out.numpy()))
    return embeddings


def _part_dir(embed_ark):
    return embed_ark + ".parts"


def _write_part(path, embeddings):
    keys = list(embeddings)
    vectors = np.stack([embeddings[k] for k in keys]) if keys else np.zeros((0, 0), np.float32)
    np.savez(path, keys=np.array(keys, dtype=str), vectors=vectors)


def _read_part(path):
    with np.load(path, allow_pickle=False) as part:
        return dict(zip(part["keys"].tolist(), part["vectors"]))


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = 0, 0
    if world_size > 1:
        if args.device == "cpu":
            os.environ["WEDEFENSE_DEVICE"] = "cpu"
        rank, world_size, local_rank, dist_device = distributed.init_distributed()
        device = args.device if args.device == "cpu" else str(dist_device)
    else:
        device = args.device or default_device()
    threads = args.num_threads or max(1, cpu_threads() // world_size)
    if device == "cpu":
        torch.set_num_threads(threads)

    config, model = load_trained_model(args.config, args.model_path, device)
    sample_rate = config.get("dataset_args", {}).get("sample_rate", 16000)
    shortest = min_samples(model)
    model, description = fastest_embedder(args.backend, config, model, args.model_path,
                                          sample_rate, device, threads, rank, world_size)
    if rank == 0:
        print(f"inference path: {description}"
              + (f", {threads} thread(s) per process" if device == "cpu" else ""))
    items = read_raw_list(args.data_list)
    durations = item_durations(items)
    check_long_enough(items, durations, sample_rate, shortest, args.data_list)
    max_batch_seconds = args.max_batch_seconds or default_batch_seconds(device)
    embeddings = embed_items(model, items, sample_rate, device, max_batch_seconds,
                             args.max_batch_size, args.num_workers, rank, world_size, durations)
    if world_size > 1:
        # parts go through files, not the process group, so that large sets on NCCL need no
        # GPU copies of pickled arrays; plain .npy files, so reading a part runs no code
        part_dir = _part_dir(args.embed_ark)
        if rank == 0:
            shutil.rmtree(part_dir, ignore_errors=True)
            os.makedirs(part_dir)
        distributed.barrier()
        _write_part(os.path.join(part_dir, f"rank{rank}.npz"), embeddings)
        distributed.barrier()
        if rank == 0:
            embeddings = {}
            for r in range(world_size):
                embeddings.update(_read_part(os.path.join(part_dir, f"rank{r}.npz")))
            shutil.rmtree(part_dir, ignore_errors=True)
        distributed.barrier()
        distributed.cleanup()
        if rank != 0:
            return
    missing = [it["key"] for it in items if it["key"] not in embeddings]
    if missing:
        raise InputError(f"{len(missing)} utterance(s) were not embedded, e.g. '{missing[0]}'",
                         args.data_list)
    scp = os.path.splitext(args.embed_ark)[0] + ".scp"
    # keep the list's order, so every later file lines up with raw.list
    write_vectors(args.embed_ark, scp, ((it["key"], embeddings[it["key"]]) for it in items))
    print(f"wrote {len(items)} embeddings to {scp}"
          + (f" ({world_size} processes)" if world_size > 1 else ""))


if __name__ == "__main__":
    main()
