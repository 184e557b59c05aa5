"""torch.distributed set-up from the torchrun environment; a plain `python train.py` is rank 0
of 1 with no process group at all."""

import os

import torch
import torch.distributed as dist


def init_distributed():
    """Return ``(rank, world_size, local_rank, device)``; NCCL on GPUs, gloo on CPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and os.environ.get("WEDEFENSE_DEVICE", "") != "cpu"
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return rank, world_size, local_rank, device


def is_distributed():
    return dist.is_available() and dist.is_initialized()


def all_gather_objects(obj):
    """Every rank's ``obj`` as a list, on every rank."""
    if not is_distributed():
        return [obj]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src=0):
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def barrier():
    if is_distributed():
        dist.barrier()


def cleanup():
    if is_distributed():
        dist.destroy_process_group()


def sync_buffers(model):
    """Give every rank rank 0's buffers (BatchNorm running statistics). DDP copies them from
    rank 0 only at the start of each training forward, so after an epoch each rank holds what
    its own last batch left; validation must score the model rank 0 saves."""
    if is_distributed():
        for buf in model.buffers():
            dist.broadcast(buf, src=0)
