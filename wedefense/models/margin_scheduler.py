"""Margin warm-up for margin heads (AM/AAM-softmax): start easy, reach the target margin later.

Training with the full margin from the first step often fails to converge; the usual remedy is
to hold the margin at ``initial_margin``, raise it linearly to ``final_margin`` and keep it
there. Epochs are numbered from 1, as training logs them: the margin is ``initial_margin``
until the start of epoch ``increase_start_epoch``, rises linearly from there, and is
``final_margin`` from the start of epoch ``fix_start_epoch`` on.

A training loop calls ``step(progress)`` with ``progress`` the epochs completed so far,
fractional for a per-step update: ``epoch - 1 + step / steps_per_epoch`` in (1-based) epoch
``epoch``, so 0 at the first step of training and ``e - 1`` at the start of epoch ``e``. It
logs ``margin``.

Config (every key optional; ``margin_scheduler_args: {}`` is a scheduler with these defaults,
a config without the key, or with it empty (null), has no scheduler)::

    margin_scheduler_args:
      initial_margin: 0.0
      final_margin: 0.2          # default: the head's configured margin
      increase_start_epoch: 1    # the margin starts rising at the start of this epoch
      fix_start_epoch: 10        # and is final_margin from the start of this one

With these values the margin rises during epochs 1 to 9 and is final throughout epoch 10.
An ``increase_start_epoch`` below 1 starts the ramp before training, so the first step already
has part of the margin.
"""

from wedefense.utils.errors import InputError


class MarginScheduler:
    def __init__(self, head, final_margin=None, initial_margin=0.0, increase_start_epoch=1,
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

    def margin_at(self, progress):
        """The margin after ``progress`` epochs of training (see the module docstring)."""
        epoch = progress + 1  # the (fractional) 1-based epoch this point lies in
        if epoch <= self.increase_start_epoch:
            return self.initial_margin
        if epoch >= self.fix_start_epoch:
            return self.final_margin
        ramp = (epoch - self.increase_start_epoch) / (
            self.fix_start_epoch - self.increase_start_epoch)
        return self.initial_margin + ramp * (self.final_margin - self.initial_margin)

    def step(self, progress):
        """Set the head's margin after ``progress`` epochs of training and return it."""
        self.margin = self.margin_at(progress)
        setattr(self.head, self.attribute, self.margin)
        return self.margin

    def state_dict(self):
        return {"margin": self.margin}

    def load_state_dict(self, state):
        self.margin = state["margin"]
        setattr(self.head, self.attribute, self.margin)


def build_margin_scheduler(config, head):
    """A ``MarginScheduler`` from ``config['margin_scheduler_args']`` (``{}``: the defaults), or
    None when the key is absent or null."""
    args = config.get("margin_scheduler_args")
    if args is None:
        return None
    accepted = ("initial_margin", "final_margin", "increase_start_epoch", "fix_start_epoch")
    if not isinstance(args, dict) or any(key not in accepted for key in args):
        raise InputError(f"margin_scheduler_args must be a mapping with keys among "
                         f"{', '.join(accepted)}; got {args!r}")
    return MarginScheduler(head, **args)
