"""Model choice of `stackseg infer`: --stage/--version/--rev and --interactive go through the
registry's interface (`stackseg.registry.fetch.fetch_model`, `.choices.model_choices`),
here a stand-in module with the same names, so the wiring is tested without git tags or a
remote (tests/registry tests the real one)."""

from __future__ import annotations

import io
import json
import sys
import types
from dataclasses import dataclass

import pytest

from stackseg.cli import main


@dataclass(frozen=True)
class ModelRef:
    rev: str | None = None
    stage: str | None = None
    version: str | None = None


@dataclass
class FetchedModel:
    keras: object
    card: object
    onnx: object
    commit: str
    version: str | None
    stage: str | None


@dataclass
class Choice:
    label: str
    ref: ModelRef
    metrics: dict


@pytest.fixture
def registry(monkeypatch, model_dir):
    asked: list = []

    def fetch_model(ref, cfg, repo):
        asked.append((ref, repo))
        return FetchedModel(
            model_dir / "model.keras",
            model_dir / "model.json",
            model_dir / "model.onnx",
            "a" * 40,
            ref.version or "v1.2.0",
            ref.stage,
        )

    def model_choices(cfg, repo):
        return [
            Choice("v1.0.0", ModelRef(version="v1.0.0"), {"test_iou": 0.8}),
            Choice("v1.2.0 (prod)", ModelRef(stage="prod"), {"test_iou": 0.86}),
        ]

    package = types.ModuleType("stackseg.registry")
    fetch = types.ModuleType("stackseg.registry.fetch")
    fetch.ModelRef, fetch.fetch_model = ModelRef, fetch_model
    choices = types.ModuleType("stackseg.registry.choices")
    choices.model_choices = model_choices
    monkeypatch.setitem(sys.modules, "stackseg.registry", package)
    monkeypatch.setitem(sys.modules, "stackseg.registry.fetch", fetch)
    monkeypatch.setitem(sys.modules, "stackseg.registry.choices", choices)
    return asked


@pytest.mark.slow
def test_a_stage_and_a_picked_model_come_from_the_registry(
    registry, trained, test_pairs, params_file, tmp_path, monkeypatch, capsys
):
    image = str(trained.path("prepared") / test_pairs[0].image)
    out = tmp_path / "out"
    args = ["infer", "--params", str(params_file), image, "--out", str(out)]
    assert main([*args, "--stage", "prod", "--repo", "https://example.invalid/r.git"]) == 0
    assert registry == [(ModelRef(stage="prod"), "https://example.invalid/r.git")]
    sidecar = json.loads(next(out.glob("*.infer.json")).read_text())
    assert sidecar["model"]["stage"] == "prod" and sidecar["model"]["version"] == "v1.2.0"
    assert sidecar["model"]["commit"] == "a" * 40
    monkeypatch.setattr(sys, "stdin", io.StringIO("3\n1\n"))
    assert main([*args, "--interactive"]) == 0
    assert registry[-1] == (ModelRef(version="v1.0.0"), None)
    err = capsys.readouterr().err
    assert "v1.2.0 (prod)" in err and "not a choice: '3'" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert main([*args, "--interactive"]) == 1
    assert "stackseg infer: error: no model chosen (end of input)" in capsys.readouterr().err


def test_without_a_registry_the_choice_is_one_line(params_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "stackseg.registry", None)  # import fails
    args = ["infer", "--params", str(params_file), str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*args, "--version", "v1.0.0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "stackseg infer: error: this stackseg has no model registry (stackseg.registry): "
        "use --model PATH"
    )
