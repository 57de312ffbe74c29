#!/usr/bin/env python3
"""Figures for `easel serve`: job submission latency with 32 concurrent clients (median, p99),
queue throughput with the fixture model (64x64, 2 steps), and the server's memory with an
empty queue.

    python3 tools/bench/server_bench.py [--easel build/easel] [--clients 32] [--per-client 4]
                                        [--jobs 40]

Starts its own server (temporary data dir, tests/fixtures/sd1 as the only model) on a free
port and stops it at the end. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import signal
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
JOB = {"prompt": "a red fox in snow", "steps": 2, "width": 64, "height": 64, "seed": 1}


def call(url: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())


def wait_all(base: str, ids: list[str]) -> None:
    pending = set(ids)
    while pending:
        for jid in list(pending):
            if call(f"{base}/api/v1/jobs/{jid}")["state"] in ("succeeded", "failed", "cancelled"):
                pending.discard(jid)
        time.sleep(0.1)


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--easel", default=str(ROOT / "build" / "easel"))
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--per-client", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=40)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="easel-bench-") as tmp:
        t = pathlib.Path(tmp)
        (t / "models").mkdir()
        (t / "models" / "sd1").symlink_to(ROOT / "tests" / "fixtures" / "sd1")
        proc = subprocess.Popen([a.easel, "serve", "--port", "0", "--port-file", str(t / "port"),
                                 "--data-dir", str(t / "data"), "--models-dir", str(t / "models")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not (t / "port").exists() or not (t / "port").read_text().strip():
                time.sleep(0.05)
            base = f"http://127.0.0.1:{int((t / 'port').read_text())}"
            while True:
                try:
                    if call(f"{base}/api/v1/health")["status"] == "ok":
                        break
                except Exception:
                    pass
                time.sleep(0.1)
            # Warm the worker (model load) so throughput measures the steady state.
            wait_all(base, [call(f"{base}/api/v1/jobs", "POST", JOB)["id"]])
            idle = call(f"{base}/api/v1/stats")
            rss = idle["memory"]["server_rss_bytes"]
            worker_rss = sum(d.get("rss_bytes", 0) for d in idle["devices"])

            latencies: list[float] = []
            ids: list[str] = []
            lock = threading.Lock()

            def client(i: int) -> None:
                for k in range(a.per_client):
                    t0 = time.perf_counter()
                    job = call(f"{base}/api/v1/jobs", "POST", {**JOB, "seed": i * 100 + k})
                    dt = time.perf_counter() - t0
                    with lock:
                        latencies.append(dt)
                        ids.append(job["id"])

            threads = [threading.Thread(target=client, args=(i,)) for i in range(a.clients)]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            wait_all(base, ids)

            t0 = time.perf_counter()
            batch = [call(f"{base}/api/v1/jobs", "POST", {**JOB, "seed": s})["id"] for s in range(a.jobs)]
            wait_all(base, batch)
            elapsed = time.perf_counter() - t0

            print(f"submission latency, {a.clients} concurrent clients x {a.per_client} jobs: "
                  f"median {statistics.median(latencies) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms")
            print(f"queue throughput (fixture sd1, 64x64, 2 steps, 1 CPU worker): "
                  f"{a.jobs / elapsed:.2f} jobs/s ({a.jobs} jobs in {elapsed:.1f} s)")
            print(f"server RSS with an empty queue: {rss / 2**20:.1f} MiB (worker with the model loaded: "
                  f"{worker_rss / 2**20:.1f} MiB)")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)


if __name__ == "__main__":
    main()
