"""SIGTERM is handled like Ctrl-C in every command (issue 20, item 4).

`stackseg <cmd>` turns SIGTERM into `Terminated` (a KeyboardInterrupt), so the cleanup of
Ctrl-C runs: temp outputs removed, then `stackseg <cmd>: terminated`, exit 143. prepare's
worker pool ends with it. Under DVC (DVC_STAGE set) stackseg asks Linux for SIGTERM when its
parent dies, since DVC forwards no signal: a killed `dvc repro` no longer leaves the stage
running. train's SIGTERM-then-resume (143, and the same weights as an uninterrupted run) is in tests/train/test_train_stage.py.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest

from stackseg import atomic, cli
from tests.conftest import BIN
from tests.prepare.stacks import make_raw, write_params


def _env(**extra: str) -> dict:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def _wait_for(condition, proc: subprocess.Popen, what: str, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert proc.poll() is None, f"exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {limit} s"
        time.sleep(0.01)


def _stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)


def _fake_command(monkeypatch, body) -> None:
    """`stackseg fake`, whose run() is `body(args)`."""
    module = SimpleNamespace(add_arguments=lambda parser: None, run=body)
    monkeypatch.setitem(cli.COMMANDS, "fake", ("fake", "a test command"))
    monkeypatch.setattr(cli, "_load", lambda name: module)


def test_sigterm_runs_the_cleanup_then_exits_143(monkeypatch, tmp_path: Path, capsys):
    target = tmp_path / "out.json"
    target.write_text("previous")

    def body(args: argparse.Namespace) -> None:
        with atomic.replacing(target) as temp:
            temp.write_text("half")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises here
            raise AssertionError("SIGTERM did not interrupt the command")

    _fake_command(monkeypatch, body)
    before = signal.getsignal(signal.SIGTERM)
    assert cli.main(["fake"]) == 143
    assert capsys.readouterr().err == "stackseg fake: terminated\n"
    assert target.read_text() == "previous" and sorted(tmp_path.iterdir()) == [target]
    assert signal.getsignal(signal.SIGTERM) == before  # main() puts the old handler back


def test_a_second_sigterm_does_not_cut_the_cleanup_short(monkeypatch, capsys):
    cleaned = []

    def body(args: argparse.Namespace) -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # ignored while cleaning up
            time.sleep(0.05)
            cleaned.append(True)

    _fake_command(monkeypatch, body)
    assert cli.main(["fake"]) == 143
    assert cleaned == [True]
    assert capsys.readouterr().err == "stackseg fake: terminated\n"


@contextlib.contextmanager
def _frozen(processes: list[psutil.Process], data: Path):
    """Stop `processes` (SIGSTOP) for the block, then let them go on (SIGCONT).

    A signal that arrives meanwhile waits until they go on, so the test does not race the
    run: the run is checked to be still under way (its temp folder there) while frozen.
    """
    for process in processes:
        process.suspend()
    try:
        assert list(data.glob(".prepared.tmp-*")), "prepare finished before it was frozen"
        yield
    finally:
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.resume()


@pytest.mark.slow
def test_sigterm_ends_prepare_and_its_workers(tmp_path: Path):
    # random pixels: slow to encode as JPEG, so the pairs phase lasts long enough to hit
    make_raw(tmp_path, stacks=4, frames=150, height=128, width=128)
    write_params(tmp_path, workers=2)
    proc = subprocess.Popen(
        ["stackseg", "prepare"],
        cwd=tmp_path,
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    data = tmp_path / "data"
    try:
        _wait_for(lambda: list(data.glob(".prepared.tmp-*")), proc, "prepare's temp folder")
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 2, children  # the workers (and the resource tracker)
        # frozen while the signal is sent: a fast machine must not finish the run first
        with _frozen([psutil.Process(proc.pid), *children], data):
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        _, alive = psutil.wait_procs(children, timeout=5)
    finally:
        _stop(proc)
    assert proc.returncode == 143, err
    assert err.splitlines()[-1] == "stackseg prepare: terminated", err
    assert "Traceback" not in err
    assert alive == []  # no worker outlives the stage
    assert sorted(p.name for p in data.iterdir()) == ["raw"]  # no temp folder, no output


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
@pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh"])
def test_killing_dvc_ends_its_stage(tmp_path: Path, shell: str):
    """DVC forwards no signal (dvc/stage/run.py only ignores SIGINT while its stage runs).

    DVC runs `$SHELL -c cmd`: bash execs stackseg (DVC is its parent), Debian's dash forks it
    (the shell is its parent, DVC the grandparent; CI has no SHELL, so DVC takes /bin/sh).
    The stage here is prepare, the cheapest to start (no TensorFlow); every command watches
    DVC in cli.main, train included.
    """
    if not Path(shell).exists():
        pytest.skip(f"no {shell} on this machine")
    make_raw(tmp_path, stacks=4, frames=150, height=128, width=128)
    write_params(tmp_path, workers=2)
    (tmp_path / "dvc.yaml").write_text("stages:\n  prepare:\n    cmd: stackseg prepare\n")
    subprocess.run(["dvc", "init", "-q", "--no-scm"], cwd=tmp_path, env=_env(), check=True)
    dvc = subprocess.Popen(
        ["dvc", "repro"],
        cwd=tmp_path,
        env=_env(DVC_NO_ANALYTICS="1", SHELL=shell),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    data = tmp_path / "data"
    stage: list[psutil.Process] = []
    try:
        _wait_for(lambda: list(data.glob(".prepared.tmp-*")), dvc, "prepare's temp folder")
        stage = psutil.Process(dvc.pid).children(recursive=True)
        # stackseg (or the shell that forked it), then its workers
        assert "stackseg" in " ".join(stage[0].cmdline()) and len(stage) >= 3, stage
        with _frozen(stage, data):  # a fast machine must not finish the stage first
            dvc.kill()  # SIGKILL: dvc gets no chance to do anything
            dvc.wait(timeout=30)
        _, alive = psutil.wait_procs(stage, timeout=30)
        _, err = dvc.communicate(timeout=30)  # the stage wrote to dvc's stderr until it ended
    finally:
        _stop(dvc)
        for process in stage:
            if process.is_running():
                process.kill()
    assert alive == [], "stackseg prepare or a worker outlived dvc"
    assert "stackseg prepare: terminated" in err, err
    assert sorted(p.name for p in data.iterdir()) == ["raw"]  # no temp folder, no output
