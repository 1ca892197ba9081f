"""The pure parts of tracking and the MLflow registry: URIs, keys, --backend, --mlflow-model."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackseg.commands.register import backends
from stackseg.errors import ConfigError
from stackseg.registry.mlflow_backend import parse_uri
from stackseg.tracking.hooks import NOT_IN_KEY, flatten
from stackseg.tracking.session import artifact_location, shown_uri, tracking_uri


def test_a_relative_sqlite_path_is_taken_from_the_project_root(tmp_path: Path):
    assert tracking_uri("sqlite:///mlflow.db", tmp_path) == f"sqlite:///{tmp_path}/mlflow.db"
    assert tracking_uri("sqlite:////abs/m.db", tmp_path) == "sqlite:////abs/m.db"
    assert tracking_uri("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"
    assert artifact_location("sqlite:///x", tmp_path) == (tmp_path / "mlartifacts").as_uri()
    assert artifact_location("http://h:5000", tmp_path) is None


def test_credentials_in_a_uri_are_never_shown():
    assert shown_uri("https://me:secret@mlflow.example.org/x") == "https://mlflow.example.org/x"
    assert "secret" not in shown_uri("http://u:secret@h:5000")


def test_params_and_metrics_are_flattened_with_safe_keys():
    flat = dict(flatten({"train": {"epochs": 3, "augment": {"flip": True}}, "classes": ["a"]}))
    assert flat == {"train.epochs": 3, "train.augment.flip": True, "classes": ["a"]}
    assert NOT_IN_KEY.sub("_", "per_class.cell,nucleus.iou") == "per_class.cell_nucleus.iou"


def test_backend_and_model_uri_choices():
    assert backends("gto,mlflow") == ["gto", "mlflow"]
    with pytest.raises(ConfigError, match="--backend"):
        backends("gto,wandb")
    assert parse_uri("models:/segmenter@champion") == ("segmenter", "champion", None)
    assert parse_uri("models:/segmenter/3") == ("segmenter", None, "3")
    with pytest.raises(ConfigError, match="models:/<name>@<alias>"):
        parse_uri("runs:/abc/model")
