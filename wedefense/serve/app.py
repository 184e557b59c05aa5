"""The HTTP side of ``wedefense serve`` (Starlette on uvicorn).

    GET  /        the page: drop a file, see the waveform, the LLR over time and the verdict
    GET  /info    the operating point, the limits, whether the bundle is calibrated
    POST /score   the audio file as the request body (any format libsndfile reads);
                  ?timeline=1 adds the LLR over time (a localization bundle always
                  gives its frame LLRs and spoofed ranges instead). 200: the answer of
                  :meth:`wedefense.serve.scoring.Scorer.score`; 413: larger than max_bytes;
                  422: not audio, empty, too short or longer than max_seconds; 503: more than
                  max_queue requests already waiting. Errors are ``{"error": "..."}``.

The model is loaded once and runs one request at a time in a worker thread: requests wait in
line (FIFO) while the event loop keeps accepting and answering the others.
"""

import logging
import os

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse
from starlette.routing import Route

from wedefense.serve.scoring import Scorer
from wedefense.utils.errors import InputError

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "page.html")
logger = logging.getLogger(__name__)


def _error(status, message):
    return JSONResponse({"error": message}, status_code=status)


class _TooLarge(Exception):
    pass


async def _read_body(request, limit):
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(scorer: Scorer, workers=1):
    """The application; ``workers`` requests run the model at once, the others wait."""
    limits = scorer.limits
    model_lane = anyio.CapacityLimiter(workers)
    state = {"waiting": 0}
    with open(PAGE, encoding="utf-8") as f:
        page = f.read()

    async def index(request):
        return HTMLResponse(page)

    async def info(request):
        return JSONResponse(scorer.info())

    async def score(request: Request):
        try:
            data = await _read_body(request, limits.max_bytes)
        except _TooLarge:
            return _error(413, f"the upload is larger than this server accepts "
                               f"({limits.max_bytes / 2**20:g} MiB)")
        if state["waiting"] >= limits.max_queue:
            return _error(503, f"busy: {state['waiting']} requests are waiting; retry shortly")
        timeline = request.query_params.get("timeline", "0") not in ("0", "", "false")
        state["waiting"] += 1
        try:
            answer = await anyio.to_thread.run_sync(scorer.score, data, timeline,
                                                    limiter=model_lane)
        except InputError as e:  # not audio, empty, too short, too long
            return _error(422, str(e))
        except Exception:  # keep serving; the log has the traceback
            logger.exception("scoring failed")
            return _error(500, "internal error while scoring (see the server log)")
        finally:
            state["waiting"] -= 1
        return JSONResponse(answer)

    return Starlette(routes=[Route("/", index), Route("/info", info),
                             Route("/score", score, methods=["POST"])])


def serve(model, host="127.0.0.1", port=8000, limits=None, p_spoof=None, backend="pytorch",
          workers=1):
    """Load the bundle once and serve until interrupted."""
    import torch
    import uvicorn

    # one thread per request in the model: small graphs gain little from more, and on a busy
    # machine extra threads only wait for each other; --workers runs requests side by side
    torch.set_num_threads(1)

    from wedefense.inference.detector import Detector
    from wedefense.serve.scoring import Limits

    kwargs = {} if p_spoof is None else {"p_spoof": p_spoof}
    detector = Detector.load(model, device="cpu", backend=backend, **kwargs)
    app = create_app(Scorer(detector, limits or Limits()), workers)
    logger.info("serving %s on http://%s:%d/", model, host, port)
    uvicorn.run(app, host=host, port=port, log_level="info")
