"""Logging of a training run: stderr at once, ``<exp_dir>/train.log`` (rank 0) from the moment
the experiment directory may be created, starting with what was logged before it."""

import logging
import logging.handlers
import os

from wedefense.utils.cli import StderrHandler

FORMAT = "%(asctime)s %(levelname)s [rank %(rank)s] %(message)s"


class _Pending(logging.handlers.MemoryHandler):
    """Holds records until the log file exists (never flushes by itself)."""

    def __init__(self):
        super().__init__(capacity=1 << 30, flushLevel=logging.CRITICAL + 1, flushOnClose=False)


def setup_logging(rank):
    handlers = [StderrHandler()]
    if rank == 0:
        handlers.append(_Pending())
    logging.basicConfig(level=logging.INFO if rank == 0 else logging.WARNING, handlers=handlers,
                        format=FORMAT, force=True)
    old_factory = logging.getLogRecordFactory()

    def factory(*a, **kw):
        record = old_factory(*a, **kw)
        record.rank = rank
        return record

    logging.setLogRecordFactory(factory)


def start_log_file(exp_dir):
    """Rank 0: write ``train.log`` from now on, the records held so far first."""
    root = logging.getLogger()
    file_handler = logging.FileHandler(os.path.join(exp_dir, "train.log"))
    file_handler.setFormatter(logging.Formatter(FORMAT))
    for handler in [h for h in root.handlers if isinstance(h, _Pending)]:
        handler.setTarget(file_handler)
        handler.flush()
        root.removeHandler(handler)
        handler.close()
    root.addHandler(file_handler)
