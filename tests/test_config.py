"""The typed config: defaults, params.yaml round trip, and one clear line per bad key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stackseg.config import Config, config_from_dict, load_config
from stackseg.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def test_project_params_yaml_is_valid_and_complete():
    cfg = load_config(ROOT / "params.yaml")
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    # every section of the schema is spelled out in params.yaml, so `dvc params diff` shows it
    assert set(raw) == set(Config.model_fields)
    assert cfg.train.epochs == 50
    assert cfg.train.loss == "bce"


@pytest.mark.parametrize("profile", ["tiny.yaml", "full.yaml"])
def test_profiles_only_override_known_keys(profile):
    from tests.conftest import deep_merge

    base = yaml.safe_load((ROOT / "params.yaml").read_text())
    over = yaml.safe_load((ROOT / "profiles" / profile).read_text())
    config_from_dict(deep_merge(base, over))


def test_unknown_key_is_named():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"train": {"epocs": 3}})
    assert err.value.problems == ["params.yaml: train.epocs: unknown key"]


def test_wrong_type_names_key_and_expected_type():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"train": {"epochs": "many"}, "prepare": {"workers": 1.5}})
    lines = err.value.problems
    assert "params.yaml: train.epochs: expected an integer, got str 'many'" in lines
    assert any(
        line.startswith("params.yaml: prepare.workers: expected an integer") for line in lines
    )
    assert len(lines) == 2


def test_bool_is_not_an_int_and_literals_are_listed():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"train": {"batch_size": True, "arch": "resnet"}})
    text = "\n".join(err.value.problems)
    assert "train.batch_size: expected an integer, got bool True" in text
    assert "train.arch: expected one of 'unet', 'sm_unet', 'sm_fpn' or 'sm_linknet'" in text


def test_value_constraints():
    with pytest.raises(ConfigError) as err:
        config_from_dict({"prepare": {"split": {"train": 0.9, "val": 0.2, "test": 0.1}}})
    assert "sum to 1.0" in err.value.problems[0]
    with pytest.raises(ConfigError):
        config_from_dict({"classes": ["a", "a"]})
    with pytest.raises(ConfigError):
        config_from_dict({"classes": ["a", "b", "c", "d", "e"]})


def test_int_accepted_where_float_expected():
    cfg = config_from_dict({"train": {"learning_rate": 1}})
    assert cfg.train.learning_rate == 1.0


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(listy)
