"""benchmarks/prepare.py runs end to end on small data and reports every figure it promises
(the figures themselves are machine-dependent and never asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.conftest import ROOT, run


def test_prepare_benchmark_reports_all_parts_and_cleans_up(tmp_path):
    raw = tmp_path / "raw"
    run(["stackseg", "synth", "--out", str(raw), "--stacks", "3", "--frames", "4"], ROOT)
    work = tmp_path / "work"
    committed = {p: p.read_bytes() for p in (ROOT / "docs/benchmarks").glob("*.md")}
    proc = run(
        [
            sys.executable,
            str(ROOT / "benchmarks/prepare.py"),
            "--raw",
            str(raw),
            "--work",
            str(work),
            "--repeat",
            "2",
        ],
        ROOT,
        timeout=300,
        # toy figures go to the test's folder, never over the docs' measured ones
        env={"STACKSEG_FIGURES_DIR": str(tmp_path / "figures")},
    )
    assert {p: p.read_bytes() for p in committed} == committed
    out = proc.stdout
    assert re.search(r"^12 pairs, \d+ cores", out, re.M), out
    assert len(re.findall(r"^run \d/2: \(b\) [\d.]+ s wall", out, re.M)) == 2, out
    for label in (
        "(a) Pillow loop",
        "(b) stackseg prepare",
        "(c) encode-only",
        "(w) file creation",
    ):
        assert re.search(rf"^{re.escape(label)}.*\s[\d.]+\s+\d+\s+[\d.]+$", out, re.M), label
    for ratio in ("b/a  (a wall / b wall)", "b/a  by CPU time", "b/c  (c wall / b wall)"):
        assert re.search(rf"^{re.escape(ratio)}\s+[\d.]+\s+target", out, re.M), ratio
    assert re.search(r"^peak RSS of \(b\).*\s\d+ MB", out, re.M)
    # the run's scratch directory is gone, the time of its cleanup noted for the next run
    assert sorted(p.name for p in work.iterdir()) == [".last-cleanup"]


def test_prepare_benchmark_waits_after_a_recent_cleanup(tmp_path):
    """A run within six minutes of the last cleanup waits first (and says why)."""
    work = tmp_path / "work"
    work.mkdir()
    stamp = work / ".last-cleanup"
    stamp.touch()
    os.utime(stamp, (1_000_000, 1_000_000))  # the cleanup happened at t = 1,000,000 s
    script = str(ROOT / "benchmarks/prepare.py")
    code = (
        "import runpy, sys, time\n"
        "time.sleep = lambda s: print(f'SLEPT {s:.1f}')\n"
        "sys.argv = ['prepare.py']\n"
        f"mod = runpy.run_path({script!r})\n"
        "settle = mod['settle']\n"
        "for now in (1_000_100.0, 1_000_400.0):  # 100 s and 400 s after the cleanup\n"
        "    time.time = lambda: now\n"
        f"    settle(__import__('pathlib').Path({str(stamp)!r}))\n"
        "    print('NEXT')\n"
    )
    out = run([sys.executable, "-c", code], ROOT).stdout
    assert "waiting" in out and "ext4 without a journal" in out
    # 100 s after the cleanup: 260 s left of the six minutes; 400 s after: no wait
    assert re.findall(r"SLEPT [\d.]+|NEXT", out) == ["SLEPT 260.0", "NEXT", "NEXT"]


def test_prepare_benchmark_refuses_zero_repeats(tmp_path):
    script = str(ROOT / "benchmarks/prepare.py")
    proc = subprocess.run(
        [sys.executable, script, "--repeat", "0", "--work", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "--repeat must be at least 1" in proc.stderr
    assert not any(tmp_path.iterdir())  # refused before any work


def test_prepare_parts_times_every_step(tmp_path):
    raw = tmp_path / "raw"
    run(["stackseg", "synth", "--out", str(raw), "--stacks", "2", "--frames", "3"], ROOT)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    script = str(ROOT / "benchmarks/prepare_parts.py")
    committed = (ROOT / "docs/benchmarks/prepare_parts.md").read_bytes()
    figures = tmp_path / "figures"
    out = run(
        [sys.executable, script, "--raw", str(raw), "--out", str(scratch)],
        ROOT,
        env={"STACKSEG_FIGURES_DIR": str(figures)},
    ).stdout
    assert out.startswith("6 pairs, one process")
    # the figures go where STACKSEG_FIGURES_DIR says, never over the committed ones
    assert (ROOT / "docs/benchmarks/prepare_parts.md").read_bytes() == committed
    assert "| png |" in (figures / "prepare_parts.md").read_text()
    for step in ("metadata", "hash", "read image", "read mask", "mask check", "jpeg", "png"):
        assert re.search(rf"^  {step}\s+[\d.]+\s+[\d.]+%$", out, re.M), step
    share = float(re.search(r"encoders' share ([\d.]+)", out).group(1))
    assert 0 < share < 1
    assert not any(scratch.iterdir())  # its files are gone
