"""Serve a model bundle over HTTP on this machine: a page to inspect one recording, and a JSON API.

    wedefense serve --model exp/x/bundle [--port 8000] [--host 127.0.0.1]
    curl --data-binary @a.wav 'http://127.0.0.1:8000/score?timeline=1'

POST /score takes the audio file as the request body and answers the utterance LLR, the decision
and p(bona fide) at the operating point (--p_spoof; Cmiss=1, Cfa=10), a waveform envelope and,
with ?timeline=1, the LLR of 1-s windows over time with the stretches below the threshold.
Limits: uploads over --max_mb get 413, audio over --max_seconds 422; requests queue for the one
model (more than --max_queue waiting get 503). Nothing is written to disk. It listens on the
loopback address by default; it has no authentication, so think before using --host 0.0.0.0.
"""

import argparse

from wedefense.utils.cli import entry_point, setup_logging
from wedefense.utils.errors import InputError


def get_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a bundle directory (wedefense export)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--max_mb", type=float, default=20.0, help="largest upload (MiB)")
    parser.add_argument("--max_seconds", type=float, default=60.0, help="longest audio")
    parser.add_argument("--max_queue", type=int, default=32, help="requests that may wait")
    parser.add_argument("--workers", type=int, default=1,
                        help="requests scored at once (one CPU thread each)")
    parser.add_argument("--p_spoof", type=float, default=None,
                        help="prior of spoofs for the decision (default 0.05)")
    parser.add_argument("--backend", choices=("pytorch", "torchscript", "onnx"),
                        default="pytorch")
    return parser.parse_args(argv)


@entry_point
def main(argv=None):
    args = get_args(argv)
    setup_logging()
    try:
        from wedefense.serve.app import serve
    except ImportError as e:
        raise InputError(f"wedefense serve needs starlette and uvicorn ({e}): "
                         "pip install -e '.[serve]'") from None
    from wedefense.serve.scoring import Limits

    limits = Limits(int(args.max_mb * 2**20), args.max_seconds, args.max_queue)
    serve(args.model, args.host, args.port, limits, args.p_spoof, args.backend, args.workers)


if __name__ == "__main__":
    main()
