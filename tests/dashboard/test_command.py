"""`stackseg dashboard`'s checks before Streamlit starts, and the Streamlit command line."""

from __future__ import annotations

from stackseg.cli import main
from stackseg.commands.dashboard import streamlit_command
from tests.conftest import ROOT


def test_the_streamlit_command_is_local_headless_and_quiet():
    command = streamlit_command("127.0.0.1", 8600)
    assert command[1:4] == ["-m", "streamlit", "run"]
    assert command[4].endswith("stackseg/dashboard/app.py")
    for option in (
        "--server.address=127.0.0.1",
        "--server.port=8600",
        "--server.headless=true",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--client.showErrorDetails=type",
        "--logger.hideWelcomeMessage=true",
    ):
        assert option in command


def test_a_bad_port_or_missing_files_are_one_line_and_exit_2(capsys, tmp_path):
    params = str(ROOT / "params.yaml")
    assert main(["dashboard", "--params", params, "--port", "70000"]) == 2
    assert capsys.readouterr().err == (
        "stackseg dashboard: error: --port: expected 1 to 65535, got 70000\n"
    )
    assert main(["dashboard", "--params", params, "--model", str(tmp_path / "m.keras")]) == 2
    assert capsys.readouterr().err == (
        f"stackseg dashboard: error: {tmp_path / 'm.keras'}: not found "
        "(--model names a .keras file)\n"
    )
    missing = tmp_path / "reference.json"
    assert main(["dashboard", "--params", params, "--reference", str(missing)]) == 2
    assert "reference.json: not found (--reference names a drift" in capsys.readouterr().err
