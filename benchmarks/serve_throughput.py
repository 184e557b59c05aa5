"""Requests per second and memory of ``wedefense serve`` on 4-s files.

    python benchmarks/serve_throughput.py --model /path/to/demo/bundle [--requests 1000] \
        [--clients 4] [--workers 1] [--timeline]

Starts the server as a user would (``python -m wedefense.bin.serve``) on a free loopback port,
sends --requests POST /score requests of one 4-s 16 kHz WAV file from --clients threads (each
with its own keep-alive connection), and prints the throughput and the server's resident memory
(VmRSS) after every tenth of the requests: flat memory means nothing accumulates per request.
"""

import argparse
import http.client
import io
import os
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import soundfile


def four_second_wav(seed=0, sample_rate=16000):
    rng = np.random.default_rng(seed)
    t = np.arange(4 * sample_rate) / sample_rate
    wav = 0.3 * np.sin(2 * np.pi * 140 * t) * (1 + np.sin(2 * np.pi * 3 * t))
    wav += 0.02 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    soundfile.write(buf, wav.astype(np.float32), sample_rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeline", action="store_true")
    args = parser.parse_args()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "wedefense.bin.serve", "--model", args.model,
                               "--port", str(port), "--workers", str(args.workers)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    body = four_second_wav()
    path = "/score?timeline=1" if args.timeline else "/score"
    try:
        deadline = time.time() + 120
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or server.poll() is not None:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        lock, done, failures = threading.Lock(), [0], [0]
        marks = []
        step = max(1, args.requests // 10)

        def client():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            while True:
                with lock:
                    if done[0] >= args.requests:
                        break
                    done[0] += 1
                    n = done[0]
                conn.request("POST", path, body=body, headers={"Content-Type": "audio/wav"})
                response = conn.getresponse()
                response.read()
                if response.status != 200:
                    with lock:
                        failures[0] += 1
                if n % step == 0:
                    marks.append((n, time.perf_counter(), rss_mib(server.pid)))
            conn.close()

        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for _ in range(5):  # warm-up
            conn.request("POST", path, body=body)
            conn.getresponse().read()
        conn.close()
        rss_start = rss_mib(server.pid)
        load_before = os.getloadavg()
        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - start
        load_after = os.getloadavg()
    finally:
        server.terminate()
        server.wait(30)
    print(f"{args.requests} requests of a 4-s WAV ({path}), {args.clients} clients, "
          f"{args.workers} worker(s): {args.requests / seconds:.1f} requests/s, "
          f"{failures[0]} failed")
    print("server RSS MiB after warm-up {:.1f}; by requests: {}".format(
        rss_start, ", ".join(f"{n}: {m:.1f}" for n, _, m in sorted(marks))))
    print(f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f}; "
          f"{os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
