"""One training epoch: a fixed number of optimiser steps over the task's batches."""

import time

import torch


def train_one_epoch(task, state, ddp_model, loader, epoch, steps_per_epoch, config, device,
                    world_size=1, show_progress=False):
    """Train ``steps_per_epoch`` steps; returns the epoch's summary (loss, acc, lr, ...)."""
    model, optimizer, scaler = state.model, state.optimizer, state.scaler
    grad_clip = config.get("grad_clip", 0)
    data = iter(loader)
    total_loss = correct = seen = 0.0
    t0 = time.time()
    steps = range(steps_per_epoch)
    if show_progress:
        from tqdm import tqdm
        steps = tqdm(steps, desc=f"epoch {epoch}", leave=False)
    for step in steps:
        if state.margin_scheduler is not None:
            state.margin_scheduler.step(epoch - 1 + step / steps_per_epoch)
        loss, count, right = task.train_step(model, ddp_model, next(data), device, config)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        grad_norm = torch.nn.utils.clip_grad_norm_(
            model.parameters(), grad_clip if grad_clip > 0 else float("inf"))
        scaler.step(optimizer)
        scaler.update()
        state.scheduler.step()
        total_loss += loss.item() * count
        correct += float(right)
        seen += count
    del data  # ends the loader's workers before validation starts its own
    elapsed = time.time() - t0
    summary = {"loss": total_loss / seen, "acc": correct / seen,
               "lr": optimizer.param_groups[0]["lr"], "grad_norm": float(grad_norm),
               "chunks_per_s": seen * world_size / elapsed}
    if state.margin_scheduler is not None:
        summary["margin"] = state.margin_scheduler.margin
    return summary
