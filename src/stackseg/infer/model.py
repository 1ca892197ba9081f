"""Which model `stackseg infer` runs, and on which backend.

- `--model PATH`: a .keras file with its card `<stem>.json` and ONNX file `<stem>.onnx`
  beside it; without any choice, the workspace's (params `paths.model`, `paths.model_card`,
  `paths.onnx`).
- `--rev`, `--stage`, `--version`: through the registry (`stackseg.registry.fetch`), which
  fetches the model, its card and its ONNX file from the DVC remote into
  `paths.model_cache`; `--interactive` lists the registry's versions and experiments
  (`stackseg.registry.choices`) in a terminal picker (`infer.picker`).
- `--mlflow-model models:/<name>@<alias>`: a version of MLflow's registry
  (`stackseg.registry.mlflow_backend`), downloaded with its card into `paths.model_cache`.

The registry is imported only when asked for (GTO and DVC's API load in about a second), so a
plain `--model` run needs neither git tags nor a remote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackseg.config import Config
from stackseg.contracts import ModelCard, read_card
from stackseg.errors import InputDataError


@dataclass(frozen=True)
class ModelFiles:
    """A model's files and where it came from (the sidecar records `origin`)."""

    keras: Path
    card: Path
    onnx: Path
    origin: dict[str, Any] = field(default_factory=dict)


def beside(keras: Path) -> ModelFiles:
    """A .keras file's card and ONNX file: same stem, beside it."""
    return ModelFiles(keras, keras.with_suffix(".json"), keras.with_suffix(".onnx"))


def workspace_model(cfg: Config) -> ModelFiles:
    return ModelFiles(Path(cfg.paths.model), Path(cfg.paths.model_card), Path(cfg.paths.onnx))


def registry_model(ref: Any, cfg: Config, repo: str | None) -> ModelFiles:
    """Fetch a registered version, stage or revision (into paths.model_cache)."""
    from stackseg.registry.fetch import fetch_model

    fetched = fetch_model(ref, cfg, repo or ".")
    origin = {
        "commit": fetched.commit,
        "version": fetched.version,
        "stage": fetched.stage,
        "repo": repo,
    }
    # a commit without the export stage has no ONNX file: load_backend says so for `onnx`
    onnx = Path(fetched.onnx) if fetched.onnx else Path(fetched.keras).with_suffix(".onnx")
    return ModelFiles(Path(fetched.keras), Path(fetched.card), onnx, origin)


def mlflow_model(uri: str, cfg: Config) -> ModelFiles:
    """Download a version of MLflow's registry (params tracking.mlflow.uri) with its card."""
    from stackseg.registry.mlflow_backend import fetch_mlflow

    found = fetch_mlflow(uri, cfg, Path.cwd())
    return ModelFiles(found["keras"], found["card"], found["onnx"], found["origin"])


def make_ref(rev: str | None, stage: str | None, version: str | None) -> Any:
    from stackseg.registry.fetch import ModelRef

    return ModelRef(rev=rev, stage=stage, version=version)


def model_choices(cfg: Config, repo: str | None) -> list[Any]:
    from stackseg.registry.choices import model_choices

    return list(model_choices(cfg, repo or "."))


def read_model_card(files: ModelFiles) -> ModelCard:
    """The card, checked; a missing model file is refused before any input is read."""
    if not files.keras.is_file():
        raise InputDataError(
            f"{files.keras}: not found (run `dvc repro train`, or name a model with --model)"
        )
    # the model's own classes decide (the workspace's params may describe another model)
    return read_card(files.card)


def load_backend(files: ModelFiles, name: str, threads: int, card: ModelCard) -> Any:
    """The backend, checked against the card (channels in, classes out)."""
    from stackseg import runtime

    if name == "onnx" and not files.onnx.is_file():
        fetched = " (that commit has no export stage)" if files.origin else ""
        raise InputDataError(
            f"{files.onnx}: not found{fetched}; run `dvc repro export` or use --backend keras"
        )
    try:
        backend = runtime.load_backend(name, files.keras, files.onnx, threads)
    except (ValueError, OSError) as exc:
        raise InputDataError(f"{files.keras}: cannot load the model ({exc})") from None
    except Exception as exc:  # onnxruntime and Keras raise their own types for a bad file
        path = files.onnx if name == "onnx" else files.keras
        raise InputDataError(f"{path}: cannot load the model ({type(exc).__name__})") from None
    if backend.channels != card.input.channels or backend.outputs != len(card.classes):
        raise InputDataError(
            f"{files.card}: the card describes {card.input.channels} input channel(s) and "
            f"{len(card.classes)} classes, the {name} model has {backend.channels} and "
            f"{backend.outputs}; the files are from different models"
        )
    return backend
