"""``wedefense serve``: the JSON API through a real server on the loopback address."""

import http.client
import json
import os
import socket
import threading
import time
import urllib.request

import numpy as np
import pytest
import soundfile
import torch
import yaml

from tests.conftest import write_wav
from tests.test_localize import CONFIG as LOC_CONFIG
from tests.test_localize import signal, write_exp
from wedefense.inference.bundle import export_bundle
from wedefense.inference.detector import Detector
from wedefense.models.registry import build_model

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")

from wedefense.serve.app import create_app  # noqa: E402
from wedefense.serve.scoring import Limits, Scorer  # noqa: E402

CONFIG = {"classes": ["bonafide", "spoof"], "class_counts": [3, 5], "frontend": "fbank",
          "frontend_args": {"num_mel_bins": 40, "dither": 0.0}, "model": "ResNet18",
          "model_args": {"m_channels": 4, "embed_dim": 8}, "projection_args":
          {"project_type": "linear"}, "dataset_args": {"sample_rate": 16000}}


def make_bundle(root):
    torch.manual_seed(0)
    os.makedirs(root / "exp", exist_ok=True)
    (root / "exp" / "config.yaml").write_text(yaml.safe_dump(CONFIG))
    torch.save({"model": build_model(CONFIG).state_dict()}, root / "exp" / "model.pt")
    export_bundle(str(root / "exp" / "config.yaml"), str(root / "exp" / "model.pt"),
                  str(root / "bundle"), torchscript=False, onnx=False)
    return str(root / "bundle")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle(tmp_path_factory.mktemp("serve"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A uvicorn server in a thread on a free loopback port."""

    def __init__(self, scorer, workers=1):
        self.port = free_port()
        config = uvicorn.Config(create_app(scorer, workers), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            assert time.time() < deadline, "server did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def post(self, path, body, headers=None):
        """``(status, json)`` of a POST (an error status is returned, not raised)."""
        request = urllib.request.Request(self.url(path), data=body, method="POST",
                                         headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())


def wav_bytes(tmp_path, seconds, seed=0):
    path = str(tmp_path / f"a{seed}_{seconds}.wav")
    write_wav(path, seconds, seed)
    return path, open(path, "rb").read()


def test_score_answers_the_detector_llr_decision_and_timeline(bundle, tmp_path):
    detector = Detector.load(bundle)
    path, data = wav_bytes(tmp_path, 2.0)
    with Server(Scorer(detector, timeline_window=0.5, timeline_hop=0.25)) as server:
        status, plain = server.post("/score", data)
        assert status == 200 and "timeline" not in plain
        status, answer = server.post("/score?timeline=1", data)
        with urllib.request.urlopen(server.url("/info"), timeout=10) as r:
            info = json.loads(r.read())
        with urllib.request.urlopen(server.url("/"), timeout=10) as r:
            page = r.read().decode()
    assert status == 200
    assert answer["llr"] == pytest.approx(detector.score_files([path])[0].llr, abs=1e-4)
    assert answer["decision"] == detector.decide(answer["llr"])
    assert answer["p_bonafide"] == pytest.approx(detector.p_bonafide(answer["llr"]))
    assert answer["operating_point"]["threshold"] == pytest.approx(detector.threshold)
    assert answer["duration"] == pytest.approx(2.0)
    assert len(answer["envelope"]["min"]) == len(answer["envelope"]["max"]) == 800
    timeline = answer["timeline"]
    assert len(timeline["times"]) == len(timeline["llr"]) == 7  # 0.5-s windows 0.25 s apart
    below = [v < detector.threshold for v in timeline["llr"]]
    for r in timeline["spoofed_ranges"]:
        assert 0 <= r["start"] < r["end"] <= 2.0 and r["llr"] < detector.threshold
    assert bool(timeline["spoofed_ranges"]) == any(below)
    assert info["limits"]["max_seconds"] == Limits().max_seconds
    assert 'id="drop"' in page and "score?timeline=1" in page


def test_limits_give_413_and_422_with_clear_messages(bundle, tmp_path):
    scorer = Scorer(Detector.load(bundle), Limits(max_bytes=100_000, max_seconds=1.5))
    with Server(scorer) as server:
        _, long_audio = wav_bytes(tmp_path, 2.0)  # 64 kB, within the size limit
        status, answer = server.post("/score", long_audio)
        assert status == 422 and "lasts 2.0 s" in answer["error"] and "at most 1.5 s" in \
            answer["error"]
        _, big = wav_bytes(tmp_path, 4.0)  # 128 kB
        status, answer = server.post("/score", big)
        assert status == 413 and "larger than this server accepts" in answer["error"]
        # without a Content-Length the body is counted as it arrives
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        conn.request("POST", "/score", body=iter([big[i:i + 8192]
                                                  for i in range(0, len(big), 8192)]),
                     encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413 and "larger" in json.loads(response.read())["error"]
        conn.close()
        status, answer = server.post("/score", b"this is not audio at all" * 10)
        assert status == 422 and answer["error"].startswith("upload: cannot read audio")
        status, answer = server.post("/score", b"")
        assert status == 422 and "empty" in answer["error"]
        status, answer = server.post("/score", wav_bytes(tmp_path, 0.01)[1])
        assert status == 422 and "too short" in answer["error"]
        silence = tmp_path / "silence.wav"
        soundfile.write(str(silence), np.zeros(16000, dtype=np.float32), 16000)
        status, answer = server.post("/score", silence.read_bytes())
        assert status == 422 and "no usable signal" in answer["error"]
        # still serving after all that
        status, _ = server.post("/score", wav_bytes(tmp_path, 1.0)[1])
        assert status == 200


def test_concurrent_requests_queue_and_overflow_gets_503(bundle, tmp_path):
    scorer = Scorer(Detector.load(bundle), Limits(max_queue=3))
    gate = threading.Event()
    real_score = scorer.score
    entered = []

    def held_score(*args):
        entered.append(1)
        gate.wait(30)
        return real_score(*args)

    scorer.score = held_score
    _, data = wav_bytes(tmp_path, 1.0)
    results = []
    with Server(scorer) as server:
        threads = [threading.Thread(target=lambda: results.append(server.post("/score", data)))
                   for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.time() + 20
        while not entered:  # the first request holds the model, two wait behind it
            assert time.time() < deadline
            time.sleep(0.01)
        time.sleep(0.3)
        status, answer = server.post("/score", data)
        assert status == 503 and "busy" in answer["error"]
        assert len(entered) == 1  # one at a time in the model
        gate.set()
        for t in threads:
            t.join(30)
    assert [s for s, _ in results] == [200, 200, 200]
    assert len({a["llr"] for _, a in results}) == 1


def test_timeline_gives_no_score_to_windows_without_signal(bundle, tmp_path):
    wav = np.zeros(48000, dtype=np.float32)
    wav[:16000] = write_wav(str(tmp_path / "s.wav"), 1.0, 0)
    path = tmp_path / "pause.wav"
    soundfile.write(str(path), wav, 16000)
    scorer = Scorer(Detector.load(bundle), timeline_window=0.5, timeline_hop=0.5)
    timeline = scorer.score(path.read_bytes(), timeline=True)["timeline"]
    assert timeline["llr"][:2] != [None, None] and timeline["llr"][3:] == [None] * 3
    for r in timeline["spoofed_ranges"]:
        assert r["end"] <= 1.25  # silence is never called spoofed


def test_serving_writes_no_files(bundle, tmp_path, monkeypatch):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    monkeypatch.chdir(scratch)
    rng = np.random.default_rng(0)
    flac = tmp_path / "b.flac"
    soundfile.write(str(flac), 0.1 * rng.standard_normal(16000).astype(np.float32), 16000)
    with Server(Scorer(Detector.load(bundle))) as server:
        for body in (flac.read_bytes(), wav_bytes(tmp_path, 1.0)[1], b"junk"):
            server.post("/score?timeline=1", body)
    assert os.listdir(scratch) == []


def localization_setup(root):
    """A tiny localization bundle's detector, with the threshold inside this untrained model's
    range so that some frames are called spoofed, and a 2.345-s recording for it."""
    write_exp(os.path.join(root, "exp"), LOC_CONFIG)
    export_bundle(os.path.join(root, "exp", "config.yaml"), os.path.join(root, "exp", "model.pt"),
                  os.path.join(root, "bundle"), torchscript=False, onnx=False)
    detector = Detector.load(os.path.join(root, "bundle"))
    wav = signal(2.345, 5)
    detector.threshold = float(np.median(detector.localize(wav, 16000).frame_llr))
    path = root / "loc.wav"
    soundfile.write(str(path), wav, 16000)
    return detector, path


def test_localization_bundle_answers_frame_llrs_and_spoofed_ranges(tmp_path_factory, tmp_path):
    detector, path = localization_setup(tmp_path_factory.mktemp("serve_loc"))
    wav = soundfile.read(str(path), dtype="float32")[0]
    with Server(Scorer(detector)) as server:
        status, answer = server.post("/score?timeline=1", path.read_bytes())
    assert status == 200 and "timeline" not in answer
    loc = detector.localize(wav, 16000)
    frames = answer["frames"]
    n = -(-len(wav) // 320)
    assert len(frames["starts"]) == len(frames["ends"]) == len(frames["llr"]) == n
    np.testing.assert_allclose(frames["llr"], loc.frame_llr, atol=1e-6)
    np.testing.assert_allclose(frames["starts"], loc.starts)
    np.testing.assert_allclose(frames["ends"], loc.ends)
    assert answer["spoofed"] and np.allclose(answer["spoofed"], loc.spoofed)
    assert answer["llr"] == pytest.approx(loc.llr, abs=1e-6)
    assert answer["decision"] == detector.decide(loc.llr)
