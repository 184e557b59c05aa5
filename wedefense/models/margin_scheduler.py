"""Margin warm-up for margin heads (AM/AAM-softmax): start easy, reach the target margin later.

Training with the full margin from the first step often fails to converge; the usual remedy is
to hold the margin at ``initial_margin`` until ``increase_start_epoch``, raise it linearly to
``final_margin`` at ``fix_start_epoch``, and keep it there. A training loop calls
``step(epoch)`` (epochs may be fractional, e.g. ``epoch - 1 + step / steps_per_epoch`` for a
per-step update) and logs ``margin``.

Config (all optional but ``margin_scheduler_args`` itself)::

    margin_scheduler_args:
      initial_margin: 0.0
      final_margin: 0.2          # default: the head's configured margin
      increase_start_epoch: 1    # margin = initial_margin up to here
      fix_start_epoch: 10        # margin = final_margin from here on
"""


class MarginScheduler:
    def __init__(self, head, final_margin=None, initial_margin=0.0, increase_start_epoch=0,
                 fix_start_epoch=10, attribute="margin"):
        if not hasattr(head, attribute):
            raise ValueError(f"{type(head).__name__} has no '{attribute}' to schedule "
                             "(margin scheduling applies to am_softmax and aam_softmax heads)")
        if fix_start_epoch < increase_start_epoch:
            raise ValueError(f"fix_start_epoch ({fix_start_epoch}) is before "
                             f"increase_start_epoch ({increase_start_epoch})")
        self.head = head
        self.attribute = attribute
        self.initial_margin = float(initial_margin)
        self.final_margin = float(getattr(head, attribute) if final_margin is None
                                  else final_margin)
        self.increase_start_epoch = increase_start_epoch
        self.fix_start_epoch = fix_start_epoch
        self.margin = self.margin_at(0)
        setattr(self.head, self.attribute, self.margin)

    def margin_at(self, epoch):
        if epoch <= self.increase_start_epoch:
            return self.initial_margin
        if epoch >= self.fix_start_epoch:
            return self.final_margin
        progress = (epoch - self.increase_start_epoch) / (
            self.fix_start_epoch - self.increase_start_epoch)
        return self.initial_margin + progress * (self.final_margin - self.initial_margin)

    def step(self, epoch):
        """Set the head's margin for ``epoch`` and return it."""
        self.margin = self.margin_at(epoch)
        setattr(self.head, self.attribute, self.margin)
        return self.margin

    def state_dict(self):
        return {"margin": self.margin}

    def load_state_dict(self, state):
        self.margin = state["margin"]
        setattr(self.head, self.attribute, self.margin)


def build_margin_scheduler(config, head):
    """A ``MarginScheduler`` from ``config['margin_scheduler_args']``, or None without it."""
    args = config.get("margin_scheduler_args")
    if not args:
        return None
    return MarginScheduler(head, **args)
