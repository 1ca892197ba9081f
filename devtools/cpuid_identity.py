#!/usr/bin/env python
"""Does portable training give the same bytes when the CPU says it is another vendor?

Portable mode (docs/reproducibility.md) caps oneDNN's instruction set at AVX2 and fixes the
thread counts. What it cannot pin is what the libraries read from `cpuid` besides the
instruction set: the vendor, and the cache sizes from which oneDNN's and Eigen's kernels
choose their loop blocking (a different blocking sums in a different order). This script
measures whether that changes the weights, without a machine of the other vendor: it runs
the same training under QEMU's user-mode emulator, whose `cpuid` answers as the CPU model
named with `-cpu` (GenuineIntel with a 4 MiB L2 for the Intel models, AuthenticAMD with
512 KiB for EPYC-Milan), and compares the sha256 of models/model.keras.

    apt-get install qemu-user                       # qemu-x86_64 (Debian 12: QEMU 7.2)
    .venv/bin/python devtools/cpuid_identity.py     # 30 to 40 minutes on 2 cores
    .venv/bin/python devtools/cpuid_identity.py --config tiny --cpus Haswell-v4

Two comparisons, both in one run: native against `EPYC-Milan` (the same vendor and cache
sizes as an AMD Zen 3 host, executed by QEMU's own floating point: a difference would point
at an instruction whose result is the CPU's own, such as `rsqrtps`), and `EPYC-Milan`
against each Intel model (the same emulator, another cpuid: a difference would point at
cpuid-driven choices). QEMU 7.2 emulates AVX2 and FMA but not AVX-512, so every run here
executes AVX2 code, as portable mode does on any machine.

Steps: 1. a temporary project: the demo's model, batch and crop (`--config demo`, with fewer
stacks and one epoch) or the CI check's tiny one (`--config tiny`, devtools/portable_hash);
2. `stackseg synth` and `prepare`, natively, once; 3. `stackseg train` on a copy of it per
variant (natively, then under `qemu-x86_64 -cpu M`); 4. one line per variant, and the table
in docs/benchmarks/cpuid_identity.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
BIN = Path(sys.executable).parent
TABLE = ROOT / "docs/benchmarks/cpuid_identity.md"
# the demo's model, batch size and crop (the shapes whose blocking could depend on the
# caches), on less data: one epoch of 4 training steps (the tiny config is the CI check's)
CONFIGS = {
    "demo": {
        "synth": {"stacks": 10},
        "train": {"epochs": 1, "reproducibility": "portable", "threads": 2},
    },
    "tiny": None,  # devtools/portable_hash.OVERRIDES over profiles/tiny.yaml
}
CPUS = ("EPYC-Milan", "Cascadelake-Server-v4")


def project_params(config: str) -> dict:
    from stackseg.config import load_params, load_profile, merge

    params = load_params(ROOT / "params.yaml")
    if config == "tiny":
        from devtools.portable_hash import OVERRIDES

        return merge(merge(params, load_profile(ROOT / "profiles/tiny.yaml")), OVERRIDES)
    return merge(params, CONFIGS[config])


def clean_env() -> dict[str, str]:
    """The caller's environment without the variables portable mode decides itself."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ONEDNN_", "DNNL_", "TF_"))}


def run(cmd: list[str], cwd: Path) -> float:
    start = time.monotonic()
    done = subprocess.run(cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise SystemExit(f"cpuid-identity: {' '.join(cmd[-2:])} failed in {cwd}:\n{tail}")
    return time.monotonic() - start


def train_variant(base: Path, work: Path, cpu: str | None) -> tuple[str, float]:
    """Train a copy of the prepared project natively (cpu None) or under QEMU as `cpu`."""
    shutil.copytree(base, work)
    train = [str(BIN / "python"), str(BIN / "stackseg"), "train"]
    if cpu is not None:
        train = ["qemu-x86_64", "-cpu", cpu, *train]
    seconds = run(train, work)
    return hashlib.sha256((work / "models/model.keras").read_bytes()).hexdigest(), seconds


def report(name: str, digest: str, seconds: float, native: str) -> None:
    same = "same as native" if digest == native else "DIFFERENT from native"
    print(f"cpuid-identity: {name}: {digest[:16]}… {same} ({seconds:.0f} s)", flush=True)


def kernels() -> str:
    """TF_ENABLE_ONEDNN_OPTS as the trained code sets it (asked as `stackseg train` imports)."""
    code = "from stackseg.train.determinism import PORTABLE_ONEDNN as v; print(v)"
    out = subprocess.run([str(BIN / "python"), "-c", code], env=clean_env(), capture_output=True)
    return {"1": "oneDNN", "0": "Eigen"}.get(out.stdout.decode().strip(), "unknown")


def write_table(config: str, rows: list[tuple[str, str, float]], host: str) -> None:
    lines = [
        "<!-- written by devtools/cpuid_identity.py; do not edit -->",
        f"Config `{config}`, portable mode with TensorFlow's {kernels()} kernels, host {host}. "
        "`native` runs on the host; the others under `qemu-x86_64 -cpu <model>` (QEMU 7.2, "
        "AVX2 code in every run).",
        "",
        "| variant | sha256 of models/model.keras | same as native | train seconds |",
        "|---|---|---|---:|",
    ]
    native = rows[0][1]
    for name, digest, seconds in rows:
        lines.append(
            f"| {name} | `{digest[:16]}…` | {'yes' if digest == native else 'NO'} | {seconds:.0f} |"
        )
    TABLE.write_text("\n".join(lines) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="demo")
    parser.add_argument("--cpus", default=",".join(CPUS), help="QEMU -cpu models, comma-separated")
    parser.add_argument("--jobs", type=int, default=2, help="emulated runs side by side")
    parser.add_argument("--no-write", action="store_true", help="print only; keep the docs table")
    args = parser.parse_args()
    if shutil.which("qemu-x86_64") is None:
        raise SystemExit("cpuid-identity: qemu-x86_64 not found: apt-get install qemu-user")
    from devtools.portable_hash import cpu_model

    host = cpu_model()
    rows: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory(prefix="cpuid-identity-") as tmp:
        base = Path(tmp) / "base"
        base.mkdir()
        (base / "params.yaml").write_text(yaml.safe_dump(project_params(args.config)))
        for stage in ("synth", "prepare"):
            run([str(BIN / "stackseg"), stage], base)
        print("cpuid-identity: training (native) ...", flush=True)
        rows.append(("native", *train_variant(base, Path(tmp) / "native", None)))
        report(*rows[0], rows[0][1])
        cpus = [cpu for cpu in args.cpus.split(",") if cpu]
        print(f"cpuid-identity: training under QEMU as {', '.join(cpus)} ...", flush=True)
        # each emulated run keeps about one core busy: run them side by side
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:
            # a model named twice runs twice: the control that the emulation is deterministic
            runs = [(f"{i}-{cpu}", cpu) for i, cpu in enumerate(cpus)]
            done = pool.map(lambda run: train_variant(base, Path(tmp) / run[0], run[1]), runs)
            for cpu, (digest, seconds) in zip(cpus, done, strict=True):
                rows.append((cpu, digest, seconds))
                report(cpu, digest, seconds, rows[0][1])
    if not args.no_write:
        write_table(args.config, rows, host)
    return 0 if len({digest for _, digest, _ in rows}) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
