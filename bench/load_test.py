"""Load test of ``mrekit serve``: throughput and latency of POST /v1/extract under concurrency.

Starts ``python -m mrekit serve MODEL`` on 127.0.0.1 (a free port) in a subprocess, sends
``--requests`` single-text requests (SNIPS test sentences, cycled) at each concurrency level
(16, then 64) with httpx, and writes

    bench/results/load_test.json   {"snips": {"c16": {metric: {mean, sd, n}}, "c64": ...}, "_meta": ...}

with metrics ``requests_per_second``, ``latency_p50_ms``, ``latency_p99_ms`` and ``errors``
(non-200 answers or failed connections). Each level runs once (``n`` = 1, ``sd`` = 0). The client
runs on the same machine as the server and shares its CPU cores; traffic goes to 127.0.0.1 only.

Usage (from the repository root):

    .venv/bin/python bench/load_test.py                                   # bench/runs/snips-mre-0/model-best
    .venv/bin/python bench/load_test.py --model path/to/model --requests 500 --out /tmp/load.json
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from _common import run_meta

from mrekit.datasets import load_builtin

ROOT = Path(__file__).resolve().parent
DEFAULT_MODEL = ROOT / "runs" / "snips-mre-0" / "model-best"
DEFAULT_OUT = ROOT / "results" / "load_test.json"
HOST = "127.0.0.1"
JSON = {"Content-Type": "application/json"}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(model: Path, port: int, log: Path, server_args: list[str], threads: int | None) -> subprocess.Popen:
    """``mrekit serve`` in a subprocess, its output in ``log``."""
    command = [sys.executable, "-m", "mrekit", "serve", str(model), "--host", HOST, "--port", str(port)]
    command += ["--log-level", "warning", *server_args]
    env = dict(os.environ)
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    logging.info("starting: %s", shlex.join(command))
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)


def wait_until_healthy(url: str, server: subprocess.Popen, log: Path, timeout_s: float = 180.0) -> None:
    """Poll ``/healthz`` until it answers (bounded), or fail with the server's log."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(trust_env=False, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"the server exited with code {server.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if client.get(url + "/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.25)
    raise SystemExit(f"the server did not become healthy in {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen) -> None:
    """SIGINT (uvicorn's graceful shutdown), then SIGKILL if it hangs."""
    if server.poll() is not None:
        return
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        logging.warning("the server did not stop in 30 s; killing it")
        server.kill()
        server.wait(timeout=10)


async def run_level(url: str, texts: list[str], requests: int, concurrency: int) -> dict:
    """Send ``requests`` requests with ``concurrency`` in flight; throughput, latency and errors."""
    bodies = iter([_body(text) for text in itertools.islice(itertools.cycle(texts), requests)])
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        # One client (one keep-alive connection) per worker: a single shared httpx pool
        # costs more client CPU than the server spends, and queues requests unfairly.
        async with httpx.AsyncClient(base_url=url, timeout=60.0, trust_env=False) as client:
            for body in bodies:  # shared iterator: every body is sent exactly once
                started = time.perf_counter()
                try:
                    response = await client.post("/v1/extract", content=body, headers=JSON)
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    millis = np.array(latencies) * 1000
    return {
        "requests_per_second": _one(requests / elapsed),
        "latency_p50_ms": _one(float(np.percentile(millis, 50))),
        "latency_p99_ms": _one(float(np.percentile(millis, 99))),
        "errors": _one(errors),
    }


async def warm_up(url: str, texts: list[str], count: int) -> None:
    """A few requests first, so one-off costs (first forward pass, allocations) are not measured."""
    async with httpx.AsyncClient(base_url=url, timeout=60.0, trust_env=False) as client:
        for text in texts[:count]:
            await client.post("/v1/extract", json={"text": text})


def _body(text: str) -> bytes:
    # Encoded up front, so the timed loop measures the server, not JSON encoding.
    return json.dumps({"text": text}).encode()


def _one(value: float) -> dict:
    return {"mean": value, "sd": 0.0, "n": 1}


def meta(command: str, model: Path, args: argparse.Namespace) -> dict:
    """Where and how the numbers were measured."""
    return run_meta(
        command,
        cores="client and server share the machine's cores",
        model=str(model),
        requests_per_level=args.requests,
        warmup_requests=args.warmup,
        client=f"httpx {httpx.__version__}, one text per request, SNIPS test sentences cycled",
        server=("python -m mrekit serve " + shlex.join(args.server_args or [])).strip(),
        server_threads=args.server_threads or "torch default",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model folder to serve")
    parser.add_argument("--requests", type=int, default=5000, help="requests per concurrency level")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--warmup", type=int, default=50, help="unmeasured requests before the first level")
    parser.add_argument("--server-threads", type=int, default=None, help="OMP/MKL threads of the server")
    parser.add_argument("--server-args", nargs=argparse.REMAINDER, default=[], help="extra `mrekit serve` flags")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    if not (args.model / "mrekit.json").exists() and not (args.model / "model-best" / "mrekit.json").exists():
        raise SystemExit(f"no model folder at {args.model}: train one (bench/joint.py) or pass --model")
    if args.requests < 1 or args.requests > 1_000_000:
        raise SystemExit("--requests must be between 1 and 1,000,000")

    texts = [ex.text for ex in load_builtin("snips", "test")]
    port = free_port()
    url = f"http://{HOST}:{port}"
    with tempfile.TemporaryDirectory(prefix="mrekit-load-") as tmp:
        log = Path(tmp) / "server.log"
        server = start_server(args.model, port, log, args.server_args, args.server_threads)
        try:
            wait_until_healthy(url, server, log)
            asyncio.run(warm_up(url, texts, args.warmup))
            levels = {}
            for concurrency in args.concurrency:
                logging.info("concurrency %d: %d requests", concurrency, args.requests)
                levels[f"c{concurrency}"] = asyncio.run(run_level(url, texts, args.requests, concurrency))
                logging.info(
                    "c%d: %s", concurrency, {k: round(v["mean"], 2) for k, v in levels[f"c{concurrency}"].items()}
                )
        finally:
            stop_server(server)
    command = "python bench/load_test.py " + shlex.join(sys.argv[1:])
    results = {"snips": levels, "_meta": meta(command.strip(), args.model, args)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    logging.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
