"""The typed config: params.yaml holds every value, one clear line per bad or missing key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from stackseg.classnames import metric_safe
from stackseg.config import (
    ARCHITECTURES,
    LOSSES,
    SM_SIZE_MULTIPLE,
    Config,
    EvaluateConfig,
    TrainConfig,
    config_from_dict,
    input_multiple,
    load_config,
    load_params,
    load_profile,
    merge,
)
from stackseg.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def params(**sections: Any) -> dict:
    """The project's params.yaml with `sections` merged over it."""
    return merge(load_params(ROOT / "params.yaml"), sections)


def problems(data: dict) -> list[str]:
    with pytest.raises(ConfigError) as err:
        config_from_dict(data)
    return err.value.problems


def _fields(model: type[BaseModel], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for name, field in model.model_fields.items():
        out.append((prefix + name, field))
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            out += _fields(field.annotation, f"{prefix}{name}.")
    return out


def _leaf_keys(mapping: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in mapping.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _leaf_keys(value, f"{prefix}{key}.")
    return keys


def test_project_params_yaml_is_valid_and_holds_every_key():
    cfg = load_config(ROOT / "params.yaml")
    schema = _fields(Config)
    # no defaults anywhere: what DVC sees in params.yaml is every value a stage uses
    assert [key for key, field in schema if not field.is_required()] == []
    assert _leaf_keys(load_params(ROOT / "params.yaml")) == {key for key, _ in schema}
    assert cfg.train.epochs == 50
    assert cfg.train.loss == "bce"


def test_a_missing_key_or_section_is_one_line_each():
    data = params()
    del data["train"]["epochs"]
    del data["prepare"]["split"]["val"]
    del data["evaluate"]
    assert problems(data) == [
        "params.yaml: prepare.split.val: missing",
        "params.yaml: train.epochs: missing",
        "params.yaml: evaluate: missing",
    ]


def test_an_empty_params_file_is_one_line_not_defaults(tmp_path):
    empty = tmp_path / "params.yaml"
    empty.write_text("# nothing yet\n")
    with pytest.raises(ConfigError) as err:
        load_config(empty)
    assert err.value.problems == [
        f"{empty}: empty: every parameter is set there, none has a default "
        "(copy the project's params.yaml)"
    ]
    # a mapping without the sections still names every one
    assert [line for line in problems({"x": 1}) if line.endswith("missing")] == [
        f"params.yaml: {name}: missing" for name in Config.model_fields
    ]


def test_unknown_key_is_named(monkeypatch):
    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert problems(params(train={"epocs": 3})) == ["params.yaml: train.epocs: unknown key"]


def test_unknown_key_inside_a_dvc_stage_says_how_to_restore_the_outputs(monkeypatch):
    # `dvc exp run -S +train.epocs=3` deletes train's outputs before stackseg refuses the key
    monkeypatch.setenv("DVC_STAGE", "train")
    lines = problems(params(train={"epocs": 3}))
    assert lines[0] == "params.yaml: train.epocs: unknown key"
    assert len(lines) == 2
    assert "'train'" in lines[1] and "`dvc checkout` restores the cached ones" in lines[1]
    # only for unknown keys: a wrong value is refused before DVC could have added anything
    assert problems(params(train={"epochs": "many"})) == [
        "params.yaml: train.epochs: expected an integer, got str 'many'"
    ]


def test_evaluate_has_no_threshold_of_its_own():
    # one knob: train.threshold, carried to evaluate by the model card
    assert "threshold" in TrainConfig.model_fields
    assert "threshold" not in EvaluateConfig.model_fields
    assert problems(params(evaluate={"threshold": 0.5})) == [
        "params.yaml: evaluate.threshold: unknown key"
    ]


def test_wrong_type_names_key_and_expected_type():
    lines = problems(params(train={"epochs": "many"}, prepare={"workers": 1.5}))
    assert "params.yaml: train.epochs: expected an integer, got str 'many'" in lines
    assert any(
        line.startswith("params.yaml: prepare.workers: expected an integer") for line in lines
    )
    assert len(lines) == 2


def test_bool_is_not_an_int_and_literals_are_listed():
    text = "\n".join(problems(params(train={"batch_size": True, "arch": "resnet"})))
    assert "train.batch_size: expected an integer, got bool True" in text
    assert "train.arch: expected one of 'unet', 'sm_unet', 'sm_fpn' or 'sm_linknet'" in text


def test_value_constraints():
    assert "sum to 1.0" in problems(params(prepare={"split": {"train": 0.9}}))[0]
    assert "unique" in problems(params(classes=["a", "a"]))[0]
    assert "at most 4" in problems(params(classes=["a", "b", "c", "d", "e"]))[0]


def test_int_accepted_where_float_expected():
    assert config_from_dict(params(train={"learning_rate": 1})).train.learning_rate == 1.0


def test_paths_are_paths_written_as_strings():
    cfg = load_config(ROOT / "params.yaml")
    assert cfg.paths.prepared == Path("data/prepared")
    assert all(isinstance(value, Path) for value in dict(cfg.paths).values())
    # a dumped config validates again (what tests and tools do to derive a variant)
    assert config_from_dict(cfg.model_dump()) == cfg
    assert problems(params(paths={"raw": 3})) == [
        "params.yaml: paths.raw: expected a path (a string), got int 3"
    ]


def test_loss_and_architecture_names_have_one_source():
    from stackseg.models import sm_factory
    from stackseg.train import losses

    assert tuple(losses.LOSSES) == LOSSES
    assert {term for terms in losses.LOSSES.values() for term in terms} == set(losses.TERMS)
    assert ("unet", *sm_factory.ARCHITECTURES) == ARCHITECTURES
    assert sm_factory.SIZE_MULTIPLE == SM_SIZE_MULTIPLE


def test_input_multiple_is_the_models_size_multiple():
    from stackseg.models import size_multiple

    for arch in ARCHITECTURES:
        for depth in (1, 3, 6):
            cfg = TrainConfig.model_validate(
                {**params()["train"], "arch": arch, "depth": depth, "image_size": 64}
            )
            assert size_multiple(cfg) == input_multiple(arch, depth)


def test_metric_names_use_the_validators_sanitiser():
    from stackseg.train.metrics import metric_name

    assert metric_name("iou", "a b/c") == f"iou_{metric_safe('a b/c')}" == "iou_a_b_c"
    loss_error = problems(params(train={"loss": "l2"}))[0]
    assert all(repr(name) in loss_error for name in LOSSES)


def test_merge_overrides_section_by_section_without_changing_its_inputs():
    base = {"a": 1, "s": {"x": 1, "y": {"p": 1, "q": 2}}, "l": [1, 2]}
    over = {"s": {"y": {"q": 3}}, "l": [3], "b": 2}
    merged = merge(base, over)
    assert merged == {"a": 1, "s": {"x": 1, "y": {"p": 1, "q": 3}}, "l": [3], "b": 2}
    assert base == {"a": 1, "s": {"x": 1, "y": {"p": 1, "q": 2}}, "l": [1, 2]}
    assert over == {"s": {"y": {"q": 3}}, "l": [3], "b": 2}


def test_load_config_and_load_profile_file_errors(tmp_path):
    for load in (load_config, load_profile):
        with pytest.raises(ConfigError, match="missing.yaml: not found"):
            load(tmp_path / "missing.yaml")
        bad = tmp_path / "bad.yaml"
        bad.write_text("train: [unclosed")
        with pytest.raises(ConfigError, match="not valid YAML"):
            load(bad)
        listy = tmp_path / "list.yaml"
        listy.write_text("- 1\n- 2\n")
        with pytest.raises(ConfigError, match="expected a mapping at the top level"):
            load(listy)
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_profile(empty) == {}
