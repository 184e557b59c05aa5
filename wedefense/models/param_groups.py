"""Optimizer parameter groups for a trainable front-end (SSL fine-tuning).

Two training config keys (top level), both off by default:

``frontend_lr_ratio`` (float, default 1.0)
    The front-end's parameters get ``optimizer_args.lr * frontend_lr_ratio``; the scheduler
    scales both groups alike. Typical SSL fine-tuning: 0.01-0.1.
``frozen_frontend_steps`` (int, default 0)
    For the first N optimizer steps the front-end does not move: its learning rate is 0 and its
    gradients are zeroed (so weight decay and gradient clipping ignore it too), while the
    back-end trains. The optimizer skips the front-end in those steps, so it keeps no state for
    it (Adam's step count and moments start when the front-end starts training, and its first
    updates have the intended size). After that the front-end follows the schedule. The
    front-end still runs its backward pass in these steps (zero gradients, not missing ones,
    which distributed training needs); to save that compute, train with
    ``frontend_args.freeze: true`` first and fine-tune from that checkpoint.

With neither set, or a front-end without trainable parameters, there is a single group holding
all the model's parameters, exactly as before, so existing checkpoints resume unchanged.
"""


def _frontend_params(model):
    frontend = getattr(model, "frontend", None)
    if frontend is None:
        return []
    return [p for p in frontend.parameters() if p.requires_grad]


def build_param_groups(model, config):
    """What ``optimizer_cls(...)`` takes: the model's parameters, or a back-end group and a
    front-end group (named ``backend`` and ``frontend``, in this order)."""
    ratio = float(config.get("frontend_lr_ratio", 1.0))
    frozen_steps = int(config.get("frozen_frontend_steps", 0))
    if ratio < 0 or frozen_steps < 0:
        raise ValueError("frontend_lr_ratio and frozen_frontend_steps must not be negative")
    frontend = _frontend_params(model)
    if not frontend or (ratio == 1.0 and frozen_steps == 0):
        return list(model.parameters())
    lr = config.get("optimizer_args", {"lr": 1e-3}).get("lr")
    if lr is None:
        raise ValueError("frontend_lr_ratio / frozen_frontend_steps need optimizer_args.lr")
    ids = {id(p) for p in frontend}
    backend = [p for p in model.parameters() if p.requires_grad and id(p) not in ids]
    return [{"params": backend, "name": "backend"},
            {"params": frontend, "name": "frontend", "lr": float(lr) * ratio}]


def group_lr_lambdas(optimizer, lr_lambda, model, config):
    """One ``step -> factor`` per optimizer group for ``LambdaLR``: ``lr_lambda`` everywhere,
    except that the front-end group is held at 0 for the first ``frozen_frontend_steps`` steps.

    While the front-end group's learning rate is 0, a forward pre-hook tells the front-end to
    block its gradients (front-ends with a ``grad_blocked`` attribute, such as the SSL one). It
    reads the rate from the optimizer, so it is right after a resume too. An optimizer step
    pre-hook likewise drops the front-end's gradients and optimizer state while its rate is 0.
    The lambdas are plain functions, so the scheduler's state_dict stays small."""
    frozen_steps = int(config.get("frozen_frontend_steps", 0))
    names = [group.get("name") for group in optimizer.param_groups]
    if frozen_steps <= 0 or "frontend" not in names:
        return [lr_lambda] * len(names)
    index = names.index("frontend")

    def frontend_lambda(step):
        return 0.0 if step < frozen_steps else lr_lambda(step)

    frontend = getattr(model, "frontend", None)
    if hasattr(frontend, "grad_blocked"):
        def block_while_frozen(module, args):
            module.grad_blocked = optimizer.param_groups[index]["lr"] == 0.0

        frontend.register_forward_pre_hook(block_while_frozen)

    def skip_while_frozen(opt, args, kwargs):
        # Adam counts a step even for a zero gradient: stepping the frozen front-end would give
        # it a large step count with near-zero moments, and once it trains its first updates
        # would be several times too large (the bias correction assumes moments averaged over
        # that many real gradients). A parameter without a gradient is skipped, so its state
        # starts with its first real step; state from an older checkpoint is dropped too.
        group = opt.param_groups[index]
        if group["lr"] == 0.0:
            for p in group["params"]:
                p.grad = None
                opt.state.pop(p, None)

    optimizer.register_step_pre_hook(skip_while_frozen)
    return [frontend_lambda if i == index else lr_lambda for i in range(len(names))]
