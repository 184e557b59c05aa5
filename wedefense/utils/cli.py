"""Shared behaviour of entry scripts: bad input ends in one clear line and a non-zero exit."""

import argparse
import functools
import logging
import sys

from wedefense.utils.errors import InputError


class StderrHandler(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is when a record comes. One bound to the
    stream of the moment fails ("I/O operation on closed file") once a caller that swapped it
    (a notebook, a test capturing output) has closed that stream."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _):
        pass


def setup_logging(level=logging.INFO):
    logging.basicConfig(level=level, handlers=[StderrHandler()],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def entry_point(main):
    """Wrap ``main(argv=None)`` so an :class:`InputError` prints ``error: ...`` and exits 2."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except InputError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)

    return wrapper


def data_prep_parser(doc, folders, data_help):
    """The parser of a stage-1 script: the corpus ``folders`` (``{name: help}``, positional, in
    order), ``data_dir`` and ``--num_workers``; the script adds options of its own."""
    parser = argparse.ArgumentParser(description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, folder_help in folders.items():
        parser.add_argument(name, help=folder_help)
    parser.add_argument("data_dir", help=data_help)
    parser.add_argument("--num_workers", type=int, default=8,
                        help="threads reading audio headers (default: %(default)s)")
    return parser
