"""The ``wedefense serve`` page in a real browser: Debian's Chromium driven by Playwright.

Needs the ``playwright`` package (in ``.[test]``) and a Chromium binary (``apt-get install
chromium``; .ci/run installs it); Playwright's own browser download is never used.
"""

import os
import shutil

import pytest

from tests.test_serve import Server, localization_setup, make_bundle, wav_bytes
from wedefense.inference.detector import Detector
from wedefense.serve.scoring import Limits, Scorer

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not "
                               "installed (pip install -e '.[test]')")
CHROMIUM = next((p for p in (os.environ.get("WEDEFENSE_CHROMIUM"), shutil.which("chromium"),
                             shutil.which("chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (apt-get install "
                                "chromium, or set WEDEFENSE_CHROMIUM)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]

CANVAS_INK = """(id) => {
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""


def test_page_shows_verdict_waveform_and_llr_over_time(tmp_path):
    detector = Detector.load(make_bundle(tmp_path))
    scorer = Scorer(detector, Limits(max_seconds=3.0), timeline_window=0.5, timeline_hop=0.25)
    good, _ = wav_bytes(tmp_path, 2.0)
    too_long, _ = wav_bytes(tmp_path, 4.0, seed=1)
    with Server(scorer) as server, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(server.url("/"))
            page.wait_for_function("document.getElementById('limits').textContent.length > 0")
            assert "3 s of audio" in page.inner_text("#limits")
            page.set_input_files("#file", good)
            page.wait_for_function("document.getElementById('verdict').textContent.length > 0")
            verdict = page.inner_text("#verdict")
            llr = detector.score_files([good])[0].llr
            expected = "spoof" if detector.decide(llr) == "spoof" else "bona fide"
            assert verdict.startswith(expected) and f"LLR {llr:.2f}" in verdict
            oppoint = page.inner_text("#oppoint")
            assert "P(spoof) = 0.05" in oppoint and f"{detector.threshold:.2f}" in oppoint
            assert page.evaluate(CANVAS_INK, "wave") > 500
            assert page.evaluate(CANVAS_INK, "llr") > 500
            page.set_input_files("#file", too_long)
            page.wait_for_function("document.getElementById('error').textContent.length > 0")
            assert page.inner_text("#error").startswith("422: ")
            assert "at most 3 s" in page.inner_text("#error")
            assert page.inner_text("#verdict") == ""
        finally:
            browser.close()


SHADED = """(id) => {  // pixels of the red shading alone (drawn before the curve)
  const c = document.getElementById(id);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < d.length; i += 4)
    if (d[i] > 150 && d[i + 1] < 60 && d[i + 3] > 30 && d[i + 3] < 60) n++;
  return n;
}"""


def test_page_draws_a_localization_models_frames_and_spoofed_ranges(tmp_path):
    detector, path = localization_setup(tmp_path)
    with Server(Scorer(detector)) as server, sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(server.url("/"))
            page.set_input_files("#file", str(path))
            page.wait_for_function("document.getElementById('verdict').textContent.length > 0")
            assert page.inner_text("#error") == ""
            assert page.evaluate(CANVAS_INK, "llr") > 500
            assert page.evaluate(SHADED, "llr") > 1000 and page.evaluate(SHADED, "wave") > 1000
        finally:
            browser.close()
