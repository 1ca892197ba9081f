"""The MLflow backend of the registry: `stackseg register --backend mlflow` and
`--mlflow-model models:/<name>@<alias>` for `stackseg infer` and `stackseg serve`.

Register (`register_mlflow`):
1. the same gate as the GTO path (`registry.gate`) on the workspace's
   paths.evaluate_metrics; below the bounds refused unless `--manual --reason`;
2. the MLflow run of the model (found by its sha256 tag: the train run when train was
   tracked; otherwise a new run with the lineage tags);
3. the model's files logged to that run under `model/`, in the `mlflow.keras` flavour's
   layout: `data/model.keras` is the workspace's file byte for byte (not re-saved: the
   sha256 of the card, the DVC remote and MLflow agree), `MLmodel` describes it, and the
   card `model.json` and the ONNX export `model.onnx` (when there is one) lie beside it;
4. a version of the registered model params `registry.artifact` pointing at that folder,
   tagged with the gate's checks, the git commit and the model's sha256;
5. the alias of `--stage`: prod -> `champion`, staging or dev -> `challenger` (MLflow's
   registry stages are deprecated since 2.9; aliases replace them).

Fetch (`fetch_mlflow`): resolves the alias or version, downloads the folder into
`paths.model_cache/mlflow/<name>/v<version>` and checks the model's sha256 against the
version's tag.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackseg.config import Config
from stackseg.errors import ConfigError, InputDataError, StacksegError
from stackseg.registry.gate import Check, MetricsShapeError, failed, gate_checks
from stackseg.tracking import lineage
from stackseg.tracking.session import Session, TrackingUnavailable, connect, shown_uri

# `stackseg register --stage` -> the alias the new version gets
STAGE_ALIASES = {"prod": "champion", "staging": "challenger", "dev": "challenger"}
MODEL_DIR = "model"  # the run's artifact folder holding a registered model's files
KERAS_FILE = "data/model.keras"  # where the mlflow.keras flavour looks (data/ + model.keras)
URI_PATTERN = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[\w-]+)|/(?P<version>\d+))$")


class MlflowRegistryError(StacksegError):
    """A registered model, alias or version that does not exist or does not check out."""


def _session(cfg: Config, root: Path) -> Session:
    """A session that fails loudly: the registry is asked for on purpose, so an unreachable
    server is an error even when `tracking.mlflow.required` is false."""
    settings = cfg.tracking.mlflow.model_copy(update={"enabled": True, "required": True})
    session = connect(settings, root, "the model is")
    if session is None:  # connect raises when required; this only satisfies the types
        raise TrackingUnavailable(f"MLflow at {shown_uri(settings.uri)}: not reachable")
    return session


def _call(session: Session, action: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """An MLflow call whose failure is an error (the session is `required`)."""
    return session.call(action, *args, **kwargs)


def flavour_folder(cfg: Config, into: Path) -> Path:
    """The `mlflow.keras` layout of the workspace model in `into` (see the module docstring)."""
    from importlib.metadata import version

    from mlflow.models import Model
    from mlflow.pyfunc import add_to_model

    (into / "data").mkdir(parents=True)
    shutil.copyfile(cfg.paths.model, into / KERAS_FILE)
    (into / "data" / "keras_module.txt").write_text("keras")
    shutil.copyfile(cfg.paths.model_card, into / "model.json")
    if Path(cfg.paths.onnx).is_file():
        shutil.copyfile(cfg.paths.onnx, into / "model.onnx")
    described = Model()
    described.add_flavor(
        "keras",
        data="data",
        keras_version=version("keras"),  # without importing Keras (and TensorFlow) here
        keras_backend="tensorflow",
        save_exported_model=False,
    )
    add_to_model(described, loader_module="mlflow.keras")
    described.save(str(into / "MLmodel"))
    return into


def register_mlflow(
    cfg: Config,
    root: Path,
    stage: str | None,
    manual_reason: str | None,
    say: Callable[[str], None] = print,
    gto_version: str | None = None,
) -> Any:
    """Steps 1-5 of the module docstring; returns the MLflow ModelVersion."""
    from stackseg.contracts import read_card

    metrics_path = Path(cfg.paths.evaluate_metrics)
    if stage is not None and stage not in STAGE_ALIASES:
        raise ConfigError(f"--stage {stage}: expected one of {', '.join(STAGE_ALIASES)}")
    try:
        metrics = json.loads(metrics_path.read_text())
        checks = gate_checks(metrics, cfg.registry, list(cfg.classes))
    except FileNotFoundError:
        raise InputDataError(f"{metrics_path}: missing; run `dvc repro evaluate`") from None
    except (ValueError, MetricsShapeError) as exc:
        raise InputDataError(f"{metrics_path}: {exc}") from None
    say(f"gate ({metrics_path}, bounds from params registry:)")
    for check in checks:
        say(f"  {check.line()}")
    bad = failed(checks)
    if bad and manual_reason is None:
        raise StacksegError(
            [f"gate: {check.line()}" for check in bad]
            + ['below the registry bounds: not registered (override: --manual --reason "...")']
        )
    model, card = Path(cfg.paths.model), read_card(cfg.paths.model_card, cfg.classes)
    if not model.is_file():
        raise InputDataError(f"{model}: not found; run `dvc repro train`")

    from stackseg.tracking.hooks import model_run

    session = _session(cfg, root)
    run_id = model_run(session, cfg, root, card)
    client = session.client
    if not _call(session, client.list_artifacts, run_id, f"{MODEL_DIR}/data"):
        with tempfile.TemporaryDirectory() as tmp:
            folder = flavour_folder(cfg, Path(tmp) / MODEL_DIR)
            _call(session, client.log_artifacts, run_id, str(folder), MODEL_DIR)
    name = cfg.registry.artifact
    if _call(session, client.search_registered_models, f"name = '{name}'") == []:
        _call(session, client.create_registered_model, name)
    run = _call(session, client.get_run, run_id)
    tags = _version_tags(root, model, checks, manual_reason, gto_version)
    version = _call(
        session,
        client.create_model_version,
        name,
        source=f"{run.info.artifact_uri}/{MODEL_DIR}",
        run_id=run_id,
        tags=tags,
        description="\n".join(check.line() for check in checks),
    )
    say(f"registered MLflow model {name} version {version.version} (run {run_id})")
    if stage is not None:
        alias = STAGE_ALIASES[stage]
        _call(session, client.set_registered_model_alias, name, alias, version.version)
        say(f"alias {name}@{alias} -> version {version.version} (--stage {stage})")
    return version


def _version_tags(
    root: Path, model: Path, checks: list[Check], reason: str | None, gto_version: str | None
) -> dict[str, str]:
    tags = {
        lineage.MODEL_SHA_TAG: lineage.file_digest(model, "sha256"),
        "stackseg.gate": "passed" if not failed(checks) else "MANUAL OVERRIDE",
    }
    commit = lineage.git_commit(root)
    optional = {"stackseg.git_commit": commit, "stackseg.manual_reason": reason}
    optional["stackseg.gto_version"] = gto_version
    tags.update({key: value for key, value in optional.items() if value})
    return tags


def parse_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, alias, version) of `models:/<name>@<alias>` or `models:/<name>/<version>`."""
    found = URI_PATTERN.match(uri)
    if found is None:
        raise ConfigError(
            f"--mlflow-model {uri}: expected models:/<name>@<alias> or models:/<name>/<version>"
        )
    return found["name"], found["alias"], found["version"]


def fetch_mlflow(uri: str, cfg: Config, root: Path) -> dict[str, Any]:
    """Download a registered version's folder into paths.model_cache; returns {keras, card,
    onnx, origin} (paths of the downloaded files, the version's coordinates)."""
    name, alias, number = parse_uri(uri)
    session = _session(cfg, root)
    client = session.client
    try:
        if alias is not None:
            version = client.get_model_version_by_alias(name, alias)
        else:
            version = client.get_model_version(name, number)
    except Exception as exc:  # noqa: BLE001 (MlflowException: RESOURCE_DOES_NOT_EXIST, ...)
        raise MlflowRegistryError(
            f"--mlflow-model {uri}: not in the MLflow registry at {shown_uri(session.uri)} "
            f"({' '.join(str(exc).split())[:160]}); see `mlflow ui`"
        ) from None
    target = Path(cfg.paths.model_cache) / "mlflow" / name / f"v{version.version}"
    keras_file = target / KERAS_FILE
    wanted = version.tags.get(lineage.MODEL_SHA_TAG)
    if not (keras_file.is_file() and lineage.file_digest(keras_file, "sha256") == wanted):
        import mlflow.artifacts

        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            got = _call(
                session,
                mlflow.artifacts.download_artifacts,
                artifact_uri=version.source,
                dst_path=tmp,
                tracking_uri=session.uri,
            )
            Path(got).rename(target)  # whole or not at all
        found = lineage.file_digest(keras_file, "sha256") if keras_file.is_file() else None
        if wanted and found != wanted:
            raise MlflowRegistryError(
                f"{keras_file}: sha256 {found} is not the registered {wanted}; the version's "
                "files were changed after registration"
            )
    # what infer's sidecar records (`version`, `stage`, `commit`, `repo`)
    origin = {
        "version": f"mlflow {name} v{version.version}",
        "stage": alias,
        "commit": version.tags.get("stackseg.git_commit"),
        "repo": shown_uri(session.uri),
    }
    return {
        "keras": target / KERAS_FILE,
        "card": target / "model.json",
        "onnx": target / "model.onnx",
        "origin": origin,
    }
