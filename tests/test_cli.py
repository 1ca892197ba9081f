"""The `stackseg` command itself: help, unknown commands, and error reporting."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys

import pytest
import yaml

from stackseg import cli
from stackseg.cli import COMMANDS, main, os_error_line
from stackseg.errors import OS_ERROR_EXIT
from tests.conftest import tiny_params


def test_help_lists_every_subcommand(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for name in COMMANDS:
        assert name in out


def test_unknown_subcommand_exits_2(capsys):
    try:
        code = main(["frobnicate"])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_bad_params_is_one_line_per_problem_without_traceback(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("train:\n  epocs: 3\n  batch_size: lots\n")
    proc = subprocess.run(
        [sys.executable, "-m", "stackseg.cli", "prepare", "--params", str(params)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert f"stackseg prepare: error: {params}: train.epocs: unknown key" in lines
    assert any("train.batch_size: expected an integer, got str 'lots'" in line for line in lines)


def test_no_command_imports_tensorflow_before_it_runs():
    # the parent process of prepare stays light, and every command's TensorFlow log level is set
    # (after parsing -v) before TensorFlow is imported: building the parsers must not pull TF in
    code = (
        "import sys; from stackseg.cli import build_parser; build_parser(); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


# What TensorFlow 2.21 prints when imported on an x86 CPU with AVX2 (C++ log lines like
# "I0000 00:00:17.. 6617 cpu_feature_guard.cc:227] This TensorFlow binary is optimized ...",
# preceded by absl's "WARNING: All log messages before absl::InitializeLog() ...").
TF_NOISE = re.compile(
    r"absl::InitializeLog|This TensorFlow binary is optimized|oneDNN custom operations"
    r"|cpu_feature_guard|^[IWE]\d{4} [\d:.]+ +\d+ \w+\.cc:\d+\]"
)


def _train_without_data(tmp_path, *flags: str, env: dict | None = None):
    """`stackseg [flags] train` where there is nothing to train on: it imports TensorFlow,
    then stops with one error line."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    clean = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL",)}
    proc = subprocess.run(
        [sys.executable, "-m", "stackseg.cli", *flags, "train"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**clean, **(env or {})},
    )
    assert proc.returncode != 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return [line for line in proc.stderr.splitlines() if TF_NOISE.search(line)]


@pytest.mark.slow
def test_tensorflow_start_up_lines_only_with_verbose(tmp_path):
    assert _train_without_data(tmp_path) == []
    # -v: TensorFlow's own lines are back (this also shows the command did import TensorFlow)
    assert _train_without_data(tmp_path, "-v") != []
    # a level the user chose wins over stackseg's default
    assert _train_without_data(tmp_path, env={"TF_CPP_MIN_LOG_LEVEL": "0"}) != []


def test_tensorflow_and_absl_python_warnings_only_with_verbose(tmp_path, monkeypatch, capfd):
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    monkeypatch.setattr(root, "handlers", [handler])
    from stackseg import cli

    cli.quiet_tensorflow()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "2"
    logging.getLogger("absl").warning("absl warning")
    logging.getLogger("tensorflow").warning("tf warning")
    logging.getLogger("tensorflow.core").info("tf info")
    logging.getLogger("absl").error("absl error")
    logging.getLogger("stackseg.train").warning("own warning")
    assert capfd.readouterr().err.splitlines() == ["absl error", "own warning"]


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (
            OSError(28, "No space left on device", "data/.prepared.tmp-1-ab/train/x.jpg"),
            "data/prepared: No space left on device; free space there (or point paths in "
            "params.yaml elsewhere) and rerun",
        ),
        (
            PermissionError(13, "Permission denied", "data/raw/masks"),
            "data/raw/masks: Permission denied; check its permissions and owner (ls -ld) and rerun",
        ),
        (
            OSError(36, "File name too long", "data/raw/x", None, "data/y"),
            "data/raw/x -> data/y: File name too long; shorten the name (255 bytes at most per "
            "name on most file systems)",
        ),
        (
            OSError(5, "Input/output error"),
            "Input/output error; the disk reported an I/O error: check it (dmesg) and rerun",
        ),
        (OSError("odd"), "odd; check the path and rerun"),
    ],
)
def test_os_error_line(error, line):
    assert os_error_line(error) == line


def test_an_os_error_in_any_command_is_one_line_and_exit_4(monkeypatch, capsys):
    class Failing:
        @staticmethod
        def add_arguments(parser):
            pass

        @staticmethod
        def run(args):
            open("/nonexistent-dir/for-sure/x", "w")  # noqa: SIM115

    monkeypatch.setattr(cli, "_load", lambda name: Failing)
    assert main(["summary"]) == OS_ERROR_EXIT == 4
    assert capsys.readouterr().err.splitlines() == [
        "stackseg summary: error: /nonexistent-dir/for-sure/x: No such file or directory; "
        "check the path and rerun"
    ]
