"""Early stopping on a dev metric where lower is better."""


class EarlyStopping:
    """The best dev metric so far and the count of validations since it improved; training
    stops once that count exceeds ``patience`` (negative: never)."""

    def __init__(self, patience, best=None, best_epoch=None, stale=0):
        self.patience = patience
        self.best, self.best_epoch, self.stale = best, best_epoch, stale

    def update(self, value, epoch):
        """Record one validation; True if it is a new best."""
        value = float(value)  # a plain float: checkpoints hold no numpy scalars
        if self.best is None or value < self.best:
            self.best, self.best_epoch, self.stale = value, epoch, 0
            return True
        self.stale += 1
        return False

    @property
    def should_stop(self):
        return self.patience >= 0 and self.stale > self.patience

    def describe(self, metric):
        return (f"no {metric} improvement in the last {self.stale} validation(s), patience "
                f"{self.patience}; best {self.best:.4g} at epoch {self.best_epoch}")

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "stale": self.stale}

    def load_state_dict(self, state):
        self.best, self.best_epoch, self.stale = state["best"], state["best_epoch"], state["stale"]
