"""scripts/cml-pr.sh and scripts/check-remote.sh end to end, as CI runs them, up to `cml`.

A fresh `git clone` stands in for the CI checkout (no DVC cache, no data/raw); a directory
DVC remote stands in for S3 where reaching it is not the point, and an S3 remote on a closed
loopback port is the unreachable/misconfigured one. The project uses the stand-in stages
(tests/report/standin.py) with the real demo data from `stackseg synth`.
"""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest

from tests.conftest import run
from tests.report import standin

ROOT = Path(__file__).resolve().parents[2]
CML_PR = str(ROOT / "scripts" / "cml-pr.sh")
CHECK_REMOTE = str(ROOT / "scripts" / "check-remote.sh")
# no credentials or remote overrides from the machine running the tests
CLEAN_ENV = {
    "AWS_ACCESS_KEY_ID": "",
    "AWS_SECRET_ACCESS_KEY": "",
    "STACKSEG_REMOTE_URL": "",
    "STACKSEG_REMOTE_ENDPOINT_URL": "",
}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unreachable_s3() -> dict:
    return {
        **CLEAN_ENV,
        "STACKSEG_REMOTE_URL": "s3://stackseg/ci",
        "STACKSEG_REMOTE_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret-never-on-disk",
        "AWS_MAX_ATTEMPTS": "1",  # fail in seconds, not after minutes of retries
    }


def clone(origin: Path, dest: Path, branch: str) -> Path:
    run(["git", "clone", "-q", "--branch", branch, str(origin), str(dest)], origin.parent)
    return dest


def script(cwd: Path, *args: str, env: dict | None = None, check: bool = False):
    return run([CML_PR, *args], cwd, check=check, env={**CLEAN_ENV, **(env or {})})


@pytest.fixture(scope="module")
def origin(tmp_path_factory) -> dict:
    """main: results for params A, committed and NOT pushed; branch pr: params B, stale dvc.lock."""
    base = tmp_path_factory.mktemp("cmlpr")
    path = standin.make_standin(base / "origin")
    params_a = standin.set_params(path, learning_rate=0.002, epochs=2)
    run(["dvc", "repro", "-q"], path)
    remote = base / "remote"
    run(["dvc", "remote", "add", "-d", "local", str(remote)], path)
    standin.commit_all(path, "main: results for params A")
    run(["git", "checkout", "-q", "-b", "pr"], path)
    params_b = standin.set_params(path, learning_rate=0.004)
    standin.commit_all(path, "pr: new learning rate (dvc.lock not updated)")
    run(["git", "checkout", "-q", "main"], path)
    return {"path": path, "remote": remote, "a": params_a, "b": params_b, "tmp": base}


def test_first_run_on_empty_remote_reports_and_main_check_needs_the_developers_push(origin):
    work = clone(origin["path"], origin["tmp"] / "ci-pr", "pr")
    proc = script(work, "--base", "origin/main", "--text-out", "report-text.md")
    assert proc.returncode == 0, proc.stderr
    assert (
        "cml-pr: warning: remote 'local' lacks files that dvc.lock or .dvc files reference"
        in proc.stderr
    )
    assert "data/raw holds no stacks: writing the demo dataset" in proc.stderr

    text = (work / "report.md").read_text()
    old, new = standin.expected_metrics(origin["a"]), standin.expected_metrics(origin["b"])
    rows = standin.table_rows(text, "metrics/evaluate.json")
    assert rows["mean.iou"][:2] == [f"{old['mean.iou']:.5g}", f"{new['mean.iou']:.5g}"]
    assert standin.table_rows(text, "params.yaml") == {"train.learning_rate": ["0.002", "0.004"]}
    assert "the committed dvc.lock is out of date" in text
    links = standin.IMAGE_LINK.findall(text)
    assert len(links) == 8 and all((work / link).is_file() for link in links)
    text_only = (work / "report-text.md").read_text()
    assert "![" not in text_only and "out of date" in text_only

    # the workflow's next step after `cml comment`: push this run's results
    run(["dvc", "push", "-q"], work)

    # main's committed results were never pushed by the developer: the main check fails
    main = clone(origin["path"], origin["tmp"] / "ci-main", "main")
    failed = run([CHECK_REMOTE], main, check=False, env=CLEAN_ENV)
    assert failed.returncode == 1
    assert "models/model.keras (missing)" in failed.stderr
    assert (
        "check-remote: error: remote 'local' lacks files of the committed results" in failed.stderr
    )

    run(["dvc", "push", "-q"], origin["path"])  # the developer pushes
    passed = run([CHECK_REMOTE], main, check=False, env=CLEAN_ENV)
    assert passed.returncode == 0, passed.stderr
    assert "holds every file that dvc.lock and the .dvc files reference" in passed.stderr

    # a lost directory listing cannot be seen in `dvc status --cloud --json`: still caught
    for listing in origin["remote"].rglob("*.dir"):
        listing.unlink()
    shutil.rmtree(main / ".dvc" / "cache", ignore_errors=True)
    lost = run([CHECK_REMOTE], main, check=False, env=CLEAN_ENV)
    assert lost.returncode == 1 and "a directory listing (.dir object" in lost.stderr


def test_unreachable_remote_fails_clearly_and_keeps_secrets_off_disk(origin):
    work = clone(origin["path"], origin["tmp"] / "ci-bad", "pr")
    proc = script(work, "--base", "origin/main", env=unreachable_s3())
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "cml-pr: error: dvc pull could not read remote 'ci': check credentials, endpoint"
        )
    )
    assert "failed to connect to s3" in proc.stderr
    assert not (work / "report.md").exists() and not (work / "data" / "raw").exists()
    local_config = (work / ".dvc" / "config.local").read_text()
    assert "127.0.0.1" in local_config and "test-secret-never-on-disk" not in local_config


def test_demo_path_never_touches_the_remote(origin):
    work = clone(origin["path"], origin["tmp"] / "ci-fork", "pr")
    proc = script(work, "--base", "origin/main", "--demo", env=unreachable_s3())
    assert proc.returncode == 0, proc.stderr
    assert "dvc pull" not in proc.stderr
    text = (work / "report.md").read_text()
    assert "Ran without the DVC remote" in text
    assert standin.table_rows(text, "params.yaml") == {"train.learning_rate": ["0.002", "0.004"]}


def test_raw_data_missing_from_remote_and_not_demo_data_is_an_error(tmp_path):
    path = standin.make_standin(tmp_path / "origin", raw="custom")
    run(["dvc", "remote", "add", "-d", "local", str(tmp_path / "empty-remote")], path)
    standin.commit_all(path, "custom raw data, never pushed")
    work = clone(path, tmp_path / "ci", "main")
    proc = script(work, "--base", "main")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "cml-pr: error: data/raw is not in remote 'local' and data/raw.dvc is not the demo "
        "dataset: run 'dvc push data/raw.dvc' where the data is"
    )


def test_unknown_base_fails_before_any_work(origin):
    proc = script(origin["path"], "--base", "origin/no-such-branch")
    assert proc.returncode == 1
    assert "base revision 'origin/no-such-branch' not found: fetch it" in proc.stderr
    assert "dvc pull" not in proc.stderr
    usage = script(origin["path"], "--frobnicate")
    assert usage.returncode == 1 and "unknown argument '--frobnicate'" in usage.stderr


@pytest.mark.slow
def test_against_a_real_s3_endpoint_wrong_credentials_fail_and_an_empty_bucket_is_a_first_run(
    origin, tmp_path
):
    from devtools.s3server import start_server

    log = (tmp_path / "s3.log").open("w")
    server = start_server("nanio", data_dir=tmp_path / "s3", output=log)
    try:
        env = {
            **server.client_env(),
            "STACKSEG_REMOTE_URL": f"s3://{server.bucket}/ci",
            "STACKSEG_REMOTE_ENDPOINT_URL": server.endpoint,
            "AWS_MAX_ATTEMPTS": "1",
        }
        work = clone(origin["path"], tmp_path / "ci-s3", "pr")
        denied = script(
            work, "--base", "origin/main", env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"}
        )
        assert denied.returncode == 1
        assert "cml-pr: error: dvc pull could not read remote 'ci'" in denied.stderr
        assert not (work / "report.md").exists()

        first = script(work, "--base", "origin/main", env=env)
        assert first.returncode == 0, first.stderr
        assert "warning: remote 'ci' lacks files" in first.stderr
        assert (work / "report.md").is_file()
    finally:
        server.stop()
        log.close()


def _card(path: Path, mode: str, cpu: str | None) -> None:
    """A model card's reproducibility record (the stand-in stages write no card)."""
    record = {"mode": mode, "isa_cap": None, "intra_op_threads": 8, "cpu_model": cpu}
    (path / "models").mkdir(exist_ok=True)
    (path / "models/model.json").write_text(json.dumps({"lineage": {"reproducibility": record}}))


@pytest.mark.slow
def test_a_base_trained_elsewhere_is_retrained_here_in_a_worktree(tmp_path):
    path = standin.make_standin(tmp_path / "origin")
    params_a = standin.set_params(path, learning_rate=0.002, epochs=2)
    run(["dvc", "repro", "-q"], path)
    _card(path, "fast", "Some Other CPU")  # trained in fast mode on another machine type
    base_sha = standin.commit_all(path, "main: results trained elsewhere")
    # the committed results are NOT what training gives: only retraining shows the truth
    committed = json.loads((path / "metrics/evaluate.json").read_text())
    committed["mean"]["iou"] = 0.123
    (path / "metrics/evaluate.json").write_text(json.dumps(committed))
    standin.commit_all(path, "main: results from another machine")
    run(["git", "checkout", "-q", "-b", "pr"], path)
    params_b = standin.set_params(path, learning_rate=0.004)
    run(["dvc", "repro", "-q"], path)
    _card(path, "portable", None)
    standin.commit_all(path, "pr: new learning rate, portable")
    work = clone(path, tmp_path / "ci", "pr")

    proc = script(work, "--base", "origin/main", "--demo")
    assert proc.returncode == 0, proc.stderr
    assert (
        "cml-pr: retraining the base on this runner (the base was trained in fast mode on "
        "Some Other CPU with 8 threads): dvc repro in a temporary worktree" in proc.stderr
    )
    text = (work / "report.md").read_text()
    assert "Base `origin/main` was retrained on this runner before comparing" in text
    old, new = standin.expected_metrics(params_a), standin.expected_metrics(params_b)
    rows = standin.table_rows(text, "metrics/evaluate.json")
    # the base side is the retrained one, not the committed 0.123
    assert rows["mean.iou"][:2] == [f"{old['mean.iou']:.5g}", f"{new['mean.iou']:.5g}"]
    # the worktree is gone, the branch and the PR's workspace untouched
    worktrees = run(["git", "worktree", "list", "--porcelain"], work).stdout
    assert worktrees.count("worktree ") == 1
    assert run(["git", "rev-parse", "origin/main~1"], work).stdout.strip() == base_sha
    assert run(["git", "status", "--porcelain", "--untracked-files=no"], work).stdout == ""

    bad = script(work, "--base", "origin/main", "--reproduce-base", "sometimes")
    assert bad.returncode == 1 and "--reproduce-base 'sometimes': use auto" in bad.stderr
