"""Push and pull times of the full-scale prepared dataset (~40k files) through an S3 remote.

    .venv/bin/python benchmarks/remote.py [--jobs 2 4 8 16] [--server nanio|moto] [--work DIR]
                                          [--random-files N]

The dataset is `stackseg synth --full` + `stackseg prepare` (20,090 jpg/png pairs, ~40k files),
tracked with `dvc add data/prepared` in a throw-away git + DVC project under <work>/project,
built on the first run and reused by later runs given the same --work. --random-files N
instead tracks N incompressible files of 5-20 kB (quick runs, similar object sizes).

The S3 server runs on 127.0.0.1 (nanio by default: objects on disk, like MinIO; see
devtools/s3server.py) and shares the machine's cores with DVC, so the figures are a
lower bound for a remote on its own host, not a MinIO measurement. For each -j value: a new
bucket, `dvc push -j J` from the full cache, then `dvc pull -j J` into a fresh git clone
(download and checkout), each timed, with the dvc process's peak RSS. Ratios are against the
first -j value of the same run.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _figures import write_figures

ROOT = Path(__file__).resolve().parents[1]
# devtools/ (the loopback S3 server) is a top-level folder of the project, not installed
sys.path.insert(0, str(ROOT))
from devtools.s3server import S3Server, s3_client, start_server  # noqa: E402
from stackseg.config import FULL_PROFILE, load_params, load_profile, merge  # noqa: E402

BIN = Path(sys.executable).parent
TIMEOUT = 3600  # seconds for any one dvc command

# Runs a command and reports its children's peak RSS (KiB on Linux, bytes on macOS) on stderr.
RSS_WRAPPER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[1:])\n"
    "print('peak-rss', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout + proc.stderr


def tool_env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1"}


def init_project(project: Path) -> None:
    project.mkdir(parents=True)
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "bench@stackseg.invalid"],
        ["git", "config", "user.name", "stackseg benchmark"],
        ["dvc", "init", "-q"],
    ):
        run(cmd, project, tool_env())


def write_full_prepared(project: Path) -> None:
    """data/prepared of the full profile: stackseg synth --full, then stackseg prepare."""
    params = merge(load_params(ROOT / "params.yaml"), load_profile(ROOT / FULL_PROFILE))
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # params.yaml of that project already is the full profile: a plain synth writes it
    print("writing the full dataset: stackseg synth, stackseg prepare (minutes)")
    run(["stackseg", "synth"], project, tool_env())
    run(["stackseg", "prepare"], project, tool_env())
    shutil.rmtree(project / params["paths"]["raw"])  # only the prepared pairs are measured


def write_random_files(project: Path, count: int) -> None:
    rng = random.Random(0)
    folder = project / "data" / "prepared"
    for index in range(count):
        sub = folder / f"{index // 1000:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{index:06d}.bin").write_bytes(rng.randbytes(rng.randint(5_000, 20_000)))


def ensure_project(work: Path, random_files: int | None) -> Path:
    """<work>/project with data/prepared tracked by DVC (built once, then reused)."""
    kind = f"random-{random_files}" if random_files else "full"
    project = work / f"project-{kind}"
    if (project / "data" / "prepared.dvc").is_file():
        return project
    shutil.rmtree(project, ignore_errors=True)
    init_project(project)
    if random_files:
        write_random_files(project, random_files)
    else:
        write_full_prepared(project)
    print("dvc add data/prepared (hashing every file once)")
    run(["dvc", "add", "data/prepared"], project, tool_env())
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-q", "-m", "dataset"], project)
    return project


def dataset_size(project: Path) -> tuple[int, int]:
    files = [p for p in (project / "data" / "prepared").rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def timed_dvc(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of one dvc command."""
    start = time.perf_counter()
    output = run([sys.executable, "-c", RSS_WRAPPER, "dvc", *args], cwd, env)
    seconds = time.perf_counter() - start
    rss = int(output.rsplit("peak-rss", 1)[1].split()[0])
    return seconds, rss / (1024 * 1024 if sys.platform == "darwin" else 1024)


def point_at_bucket(checkout: Path, server: S3Server, bucket: str, env: dict[str, str]) -> None:
    """A local default remote `bench` in `checkout` (git-ignored config.local)."""
    url = f"s3://{bucket}/dvcstore"
    run(["dvc", "remote", "add", "--local", "-f", "-d", "bench", url], checkout, env)
    run(["dvc", "remote", "modify", "--local", "bench", "endpointurl", server.endpoint], checkout, env)  # fmt: skip


def measure(project: Path, server: S3Server, jobs: int, work: Path) -> dict[str, float]:
    env = {**tool_env(), **server.client_env()}
    bucket = f"bench-j{jobs}-{int(time.time())}"
    s3_client(server.endpoint, server.access_key, server.secret_key).create_bucket(Bucket=bucket)
    point_at_bucket(project, server, bucket, env)
    push_s, push_rss = timed_dvc(["push", "-j", str(jobs)], project, env)
    clone = work / f"clone-j{jobs}"
    shutil.rmtree(clone, ignore_errors=True)
    run(["git", "clone", "-q", str(project), str(clone)], work)
    point_at_bucket(clone, server, bucket, env)
    pull_s, pull_rss = timed_dvc(["pull", "-j", str(jobs)], clone, env)
    shutil.rmtree(clone)
    if server.data_dir is not None:
        shutil.rmtree(server.data_dir / bucket, ignore_errors=True)
    return {"push_s": push_s, "push_rss": push_rss, "pull_s": pull_s, "pull_rss": pull_rss}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[2, 4, 8, 16])
    parser.add_argument("--server", choices=["nanio", "moto"], default="nanio")
    parser.add_argument("--work", type=Path, help="scratch dir, reusable (default: a temp dir)")
    parser.add_argument("--random-files", type=int, help="N random 5-20 kB files instead")
    parser.add_argument(
        "--build-only", action="store_true", help="write the dataset into --work, measure nothing"
    )
    args = parser.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="stackseg-bench-remote-"))
    work.mkdir(parents=True, exist_ok=True)

    project = ensure_project(work, args.random_files)
    if args.build_only:
        print(f"dataset ready in {project}")
        return 0
    files, size = dataset_size(project)
    log = (work / f"{args.server}.log").open("w")
    data_dir = work / "s3" if args.server == "nanio" else None
    server = start_server(args.server, data_dir=data_dir, output=log)
    print(f"dataset: {files} files, {size / 1e6:.0f} MB ({size / files / 1e3:.1f} kB each)")
    print(f"server: {args.server} on {server.endpoint} (same machine, {os.cpu_count()} cores)")
    print(f"{'-j':>4} {'push s':>8} {'files/s':>8} {'MB/s':>6} {'RSS MB':>7} {'vs base':>8}"
          f" {'pull s':>8} {'files/s':>8} {'MB/s':>6} {'RSS MB':>7} {'vs base':>8}")  # fmt: skip
    baseline: dict[str, float] = {}
    results: dict[int, dict[str, float]] = {}
    try:
        for jobs in args.jobs:
            result = results[jobs] = measure(project, server, jobs, work)
            baseline = baseline or result
            row = [f"{jobs:>4}"]
            for step in ("push", "pull"):
                seconds = result[f"{step}_s"]
                row += [
                    f"{seconds:8.1f}",
                    f"{files / seconds:8.0f}",
                    f"{size / 1e6 / seconds:6.1f}",
                    f"{result[f'{step}_rss']:7.0f}",
                    f"{baseline[f'{step}_s'] / seconds:7.2f}x",
                ]
            print(" ".join(row), flush=True)
    finally:
        server.stop()
        log.close()
    print(f"(vs base: speed relative to -j {args.jobs[0]}; work dir {work})")
    dataset = (
        f"dataset: {files} files, {size / 1e6:.0f} MB ({size / files / 1e3:.1f} kB each); "
        f"server: {args.server} on 127.0.0.1 (same machine, {os.cpu_count()} cores); "
        "pull = download into a fresh clone plus checkout; RSS = peak of the dvc process"
    )
    write_figures("remote", f"{dataset}\n\n{figures_markdown(results, files)}")
    return 0


def figures_markdown(results: dict[int, dict[str, float]], files: int) -> str:
    """One Markdown row per -j value, for docs/benchmarks/remote.md."""
    lines = [
        "| -j | push s | files/s | push RSS MB | pull s | files/s | pull RSS MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for jobs, r in results.items():
        lines.append(
            f"| {jobs} | {r['push_s']:.1f} | {files / r['push_s']:.0f} | {r['push_rss']:.0f} "
            f"| {r['pull_s']:.1f} | {files / r['pull_s']:.0f} | {r['pull_rss']:.0f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
