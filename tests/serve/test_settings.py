"""What `stackseg serve` hands its worker processes, and its refusals before any server
starts (one line, the exit codes of stackseg.errors)."""

from __future__ import annotations

import pytest
import yaml

from stackseg.cli import main
from stackseg.errors import ConfigError
from stackseg.serve.settings import ENV_VAR, Settings
from tests.conftest import tiny_params


def test_settings_travel_through_the_environment(tmp_path):
    settings = Settings(
        params=str(tmp_path / "params.yaml"),
        keras="/models/m.keras",
        card="/models/m.json",
        onnx="/models/m.onnx",
        origin={"version": "v1.2.0", "stage": "prod"},
    )
    assert Settings.from_env({ENV_VAR: settings.to_env()}) == settings


@pytest.mark.parametrize("text", [None, "", "not json", '{"unknown": 1}', "[1, 2]"])
def test_missing_or_bad_settings_are_a_config_error(text):
    environ = {} if text is None else {ENV_VAR: text}
    with pytest.raises(ConfigError, match=ENV_VAR):
        Settings.from_env(environ)


def test_a_missing_model_or_a_bad_port_is_one_line(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(tiny_params(), sort_keys=False))
    missing = str(tmp_path / "nope.keras")
    assert main(["serve", "--params", str(params), "--model", missing]) == 3
    assert capsys.readouterr().err == (
        f"stackseg serve: error: {missing}: not found (run `dvc repro train`, or name a model "
        "with --model)\n"
    )
    assert main(["serve", "--params", str(params), "--port", "70000"]) == 2
    assert "--port: expected 0 to 65535" in capsys.readouterr().err
    assert main(["serve", "--params", str(params), "--workers", "0"]) == 2


@pytest.mark.parametrize(
    ("repo", "shown"),
    [
        ("https://user:ghp_token@github.com/org/project", "https://github.com/org/project"),
        ("https://github.com/org/project", "https://github.com/org/project"),
        ("git@github.com:org/project", "git@github.com:org/project"),
        (None, None),
    ],
)
def test_the_model_endpoint_shows_no_credentials_of_the_registry_url(repo, shown):
    from stackseg.serve.predictor import _without_credentials

    assert _without_credentials(repo) == shown
