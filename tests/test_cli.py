"""The `stackseg` command itself: help, unknown commands, and error reporting."""

from __future__ import annotations

import subprocess
import sys

from stackseg.cli import COMMANDS, main


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


def test_prepare_does_not_import_tensorflow():
    # the parent process of prepare stays light: building its parser must not pull TF in
    code = (
        "import sys; from stackseg.cli import build_parser; build_parser(['prepare', 'synth']); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr
