"""Screenshot of the ``wedefense serve`` page scoring one file (docs/images/serve_page.png).

    python docs/images/screenshot_serve.py --model <bundle> --audio <file> --out serve_page.png

Starts the server on a free loopback port, opens the page in Debian's Chromium (Playwright),
uploads the file and saves the page.
"""

import argparse
import shutil
import socket
import subprocess
import sys
import time

from playwright.sync_api import sync_playwright

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--audio", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "wedefense.bin.serve", "--model", args.model,
                               "--port", str(port)])
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            page = browser.new_page(viewport={"width": 960, "height": 620})
            page.goto(f"http://127.0.0.1:{port}/")
            page.set_input_files("#file", args.audio)
            page.wait_for_function("document.getElementById('verdict').textContent.length > 0")
            page.screenshot(path=args.out, full_page=True)
            browser.close()
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
