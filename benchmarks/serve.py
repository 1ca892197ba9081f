"""`stackseg serve` latency and throughput: in process against HTTP /predict.

    .venv/bin/python benchmarks/serve.py [--model models/model.keras] [--sizes 128 256]
        [--requests 160] [--clients 8] [--work DIR]

In one run, on this machine:

1. Copies the model and its card to a scratch folder and exports the ONNX file beside it
   (benchmarks/infer.py's `export`); for each of `--sizes`, 8 PNG frames of that size
   (smooth random structures) in the model's channels, and steps 2-4 on them.
2. In process: `stackseg.serve.predictor.Predictor` (the server's own object, loaded with
   the server's thread settings) does what /predict's worker thread does with each PNG's
   bytes (`uploads.frame_upload`: the header check; `Predictor.answer`: decoding,
   prediction, the PNG mask, the frame handed to the drift thread), one after another:
   the work of /predict without HTTP.
3. HTTP: `stackseg serve` (uvicorn, 1 worker, params.yaml's `serve:` threads) on a free
   port of 127.0.0.1; POST /predict (multipart upload, PNG mask back) from 1 client, and
   from `--clients` concurrent clients (threads with a keep-alive connection each,
   Python's http.client: httpx spent 1.6 ms of CPU per request in the client itself,
   http.client 0.5 ms, on the cores the server needs).
   The three take turns in 8 rounds of `--requests` / 8 requests each (after warm-ups),
   so that the other jobs of a shared machine slow all three alike; p50/p99 latency and
   throughput of each over its `--requests` requests.
4. Ratios against the targets: HTTP p50 at 1 client <= 1.2x the in-process p50; at
   `--clients` clients p99 <= 3x their p50 and throughput >= 1.5x the 1-client throughput.
   Beside them, the CPU time per image (/proc: the server process; `time.process_time`:
   this process, i.e. the in-process work or the clients): latency on a loaded machine
   is mostly waiting for a core, CPU time is what each side costs whatever the load.

The clients run on the same machine (they share its cores with the server). Writes the
figures to docs/benchmarks/serve.md (benchmarks/_figures.py).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _figures import write_figures  # noqa: E402
from infer import export  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROUNDS = 8


def write_frames(folder: Path, count: int, size: int, channels: int) -> list[Path]:
    import cv2
    import imagecodecs

    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        coarse = rng.random((size // 16, size // 16, channels)).astype(np.float32)
        frame = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
        frame = np.clip(frame * 255, 0, 255).astype(np.uint8).reshape(size, size, channels)
        path = folder / f"frame{index}.png"
        path.write_bytes(bytes(imagecodecs.png_encode(frame if channels == 3 else frame[..., 0])))
        paths.append(path)
    return paths


def summary(seconds: list[float], wall: float) -> dict[str, float]:
    return {
        "p50": 1000 * float(np.percentile(seconds, 50)),
        "p99": 1000 * float(np.percentile(seconds, 99)),
        "throughput": len(seconds) / wall,
    }


def in_process(keras_path: Path, frames: list[Path]):
    """A call that segments one of `frames` in process: the work of /predict's worker
    thread (`uploads.frame_upload` of the PNG's bytes, `Predictor.answer` with the PNG
    mask, `routes.answer`)."""
    import io

    from stackseg.config import load_config
    from stackseg.infer.model import beside
    from stackseg.serve import routes, uploads
    from stackseg.serve.app import pool_size
    from stackseg.serve.predictor import Predictor

    cfg = load_config(ROOT / "params.yaml")
    predictor = Predictor.load(cfg, beside(keras_path), pool_size(cfg.serve.threads))
    bodies = [path.read_bytes() for path in frames]

    def block(requests: int, start: int) -> tuple[list[float], float]:
        times = []
        began_block = time.perf_counter()
        for index in range(start, start + requests):
            began = time.perf_counter()
            upload = uploads.frame_upload(
                io.BytesIO(bodies[index % len(bodies)]), cfg.serve.max_pixels
            )
            predictor.answer(
                upload,
                time.monotonic() + 60,
                lambda probs: routes.answer(predictor, probs, "png", False),
            )
            times.append(time.perf_counter() - began)
        return times, time.perf_counter() - began_block

    return block


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(keras_path: Path, log: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    command = [str(BIN / "stackseg"), "serve", "--params", str(ROOT / "params.yaml")]
    command += ["--model", str(keras_path), "--port", str(port), "--workers", "1"]
    env = {k: v for k, v in os.environ.items() if k != "STACKSEG_API_KEY"}
    proc = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:
        try:
            if httpx.get(f"{url}/ready", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"the server did not get ready:\n{log.read_text()[-2000:]}")


def multipart(data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with `data` as the field `file` (what curl -F sends)."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), (
        f"multipart/form-data; boundary={boundary}"
    )


def over_http(url: str, frames: list[Path], clients: int):
    """A call that sends `requests` POST /predict from `clients` concurrent clients, each
    on its own keep-alive connection (Python's http.client: a client that costs the shared
    cores little, so that the figures are the server's; the multipart body is built for
    each request, as any client does)."""
    import http.client
    from urllib.parse import urlsplit

    address = urlsplit(url)
    bodies = [path.read_bytes() for path in frames]
    pool = ThreadPoolExecutor(clients)
    connections = [
        http.client.HTTPConnection(address.hostname, address.port, timeout=120)
        for _ in range(clients)
    ]

    def client(number: int, requests: int, start: int) -> list[float]:
        times = []
        connection = connections[number]
        for turn in range(number, requests, clients):
            data = bodies[(start + turn) % len(bodies)]
            began = time.perf_counter()
            body, content_type = multipart(data)
            for attempt in (1, 2):  # uvicorn closes connections idle for 5 s: open anew
                try:
                    connection.request("POST", "/predict", body, {"Content-Type": content_type})
                    answer = connection.getresponse()
                    content = answer.read()
                    break
                except (ConnectionError, http.client.RemoteDisconnected):
                    connection.close()
                    if attempt == 2:
                        raise
            times.append(time.perf_counter() - began)
            if answer.status != 200:
                raise SystemExit(f"POST /predict: {answer.status} {content[:300]!r}")
        return times

    def block(requests: int, start: int) -> tuple[list[float], float]:
        began = time.perf_counter()
        found = list(pool.map(lambda n: client(n, requests, start), range(clients)))
        return [t for times in found for t in times], time.perf_counter() - began

    return block


def table(size: int, clients: int, results: dict[str, dict[str, float]]) -> list[str]:
    """The latency table and the ratios against the targets for one frame size."""
    base, one, many = results["in process"], results["HTTP, 1 client"], results["HTTP, many"]
    ratios = [
        ("HTTP p50 at 1 client / in-process p50", one["p50"] / base["p50"], "≤ 1.2"),
        (f"p99 / p50 at {clients} clients", many["p99"] / many["p50"], "≤ 3"),
        (
            f"throughput at {clients} clients / at 1 client",
            many["throughput"] / one["throughput"],
            "≥ 1.5",
        ),
    ]
    labels = {"HTTP, many": f"HTTP /predict, {clients} clients"}
    lines = [
        f"**{size}² frames**",
        "",
        "| | p50 (ms) | p99 (ms) | images/s | CPU ms per image: server + client |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, row in results.items():
        name = labels.get(label, label.replace("HTTP", "HTTP /predict"))
        cpu = f"{row['cpu_own']:.1f}"
        if label != "in process":
            cpu = f"{row['cpu_server']:.1f} + {row['cpu_own']:.1f}"
        lines.append(
            f"| {name} | {row['p50']:.1f} | {row['p99']:.1f} | {row['throughput']:.1f} | {cpu} |"
        )
    lines += ["", "| ratio | measured | target |", "|---|---:|---:|"]
    lines += [f"| {label} | {value:.2f} | {target} |" for label, value, target in ratios]
    http_cpu = one["cpu_server"] + one["cpu_own"]
    lines += [
        f"| CPU per image, HTTP 1 client (server + client) / in process | "
        f"{http_cpu / base['cpu_own']:.2f} | (none: what HTTP costs, whatever the load) |",
        f"| CPU per image, the server alone / in process | "
        f"{one['cpu_server'] / base['cpu_own']:.2f} | |",
    ]
    return [*lines, ""]


def markdown(args, by_size: dict[int, dict[str, dict[str, float]]], load: float) -> str:
    lines = [
        "POST /predict of one PNG frame (PNG mask back), "
        f"{args.requests} timed requests per row (the rows take turns, 8 rounds of 1/8 each), "
        "against the same work in process (what /predict's worker thread does: "
        "`uploads.frame_upload` of the PNG's bytes, `Predictor.answer` making the PNG mask; "
        "one call after another). HTTP costs about the same time per request whatever the "
        "frame, so its share is largest for small frames. Load average (1 min) when the "
        "run began: "
        f"{load:.1f} (other jobs on the machine take cores from both the server and the "
        "clients). CPU ms per image: the CPU time of the server process and of the "
        "clients (or of the in-process calls), which other jobs do not change; latency on a "
        "loaded machine also holds the time spent waiting for a core.",
        "",
    ]
    for size, results in by_size.items():
        lines += table(size, args.clients, results)
    return "\n".join(lines).rstrip("\n") + "\n"


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid`, all its threads (/proc, clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    args, keras_path: Path, url: str, server: int, frames: list[Path]
) -> dict[str, dict[str, float]]:
    """In process, 1 client, `--clients` clients, taking turns (see the module docstring);
    with the CPU time per image of this process (in process; the clients) and the server."""
    blocks = {
        "in process": in_process(keras_path, frames),
        "HTTP, 1 client": over_http(url, frames, 1),
        "HTTP, many": over_http(url, frames, args.clients),
    }
    for block in blocks.values():  # warm-up: connections, first calls
        block(2 * args.clients, 0)
    # a round of each at a time: the load of other jobs on the machine falls on all alike
    times: dict[str, list[float]] = {label: [] for label in blocks}
    walls = dict.fromkeys(blocks, 0.0)
    cpu = {label: [0.0, 0.0] for label in blocks}  # this process, the server
    per_round = max(args.clients, args.requests // ROUNDS)
    for turn in range(ROUNDS):
        for label, block in blocks.items():
            own, served = time.process_time(), cpu_seconds(server)
            found, wall = block(per_round, turn * per_round)
            cpu[label][0] += time.process_time() - own
            cpu[label][1] += cpu_seconds(server) - served
            times[label] += found
            walls[label] += wall
    results = {label: summary(times[label], walls[label]) for label in blocks}
    for label, (own, served) in cpu.items():
        count = len(times[label])
        results[label]["cpu_own"] = 1000 * own / count
        results[label]["cpu_server"] = 1000 * served / count if label != "in process" else 0.0
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/model.keras")
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--requests", type=int, default=160)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="stackseg-serve-bench-", dir=args.work))
    proc = None
    try:
        from stackseg.contracts import read_card

        keras_path = export(args.model.resolve(), work)
        channels = read_card(work / "model.json").input.channels
        load = os.getloadavg()[0]
        proc, url = start_server(keras_path, work / "server.log")
        by_size = {}
        for size in args.sizes:
            folder = work / f"frames-{size}"
            folder.mkdir()
            frames = write_frames(folder, 8, size, channels)
            by_size[size] = measure(args, keras_path, url, proc.pid, frames)
            for label, row in by_size[size].items():
                print(
                    f"{size:4d}² {label:16s} p50 {row['p50']:7.1f} ms  p99 {row['p99']:7.1f} ms"
                    f"  {row['throughput']:6.1f} images/s",
                    flush=True,
                )
        text = markdown(args, by_size, load)
        print(text)
        write_figures("serve", text)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
