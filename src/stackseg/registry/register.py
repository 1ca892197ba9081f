"""`stackseg register`: tag the model of the current commit as a registry version (and stage).

1. refuse `--manual` without `--reason`, a stage .gto does not list, and an artifact that
   dvc.yaml does not declare at paths.model (`dvc artifacts get` could not find it);
2. refuse a dirty workspace: changed tracked files, or dvc.lock not matching the model,
   its metrics or its ONNX export (workspace.check_clean);
3. read the commit's metrics file (git show HEAD:metrics/evaluate.json) and run the gate;
   print every check; below the bounds refuse (GateRefused, one line per failed check)
   unless `--manual --reason` (then the reason and the failed checks go into the tag);
4. a commit already registered: with `--stage`, promote that version (still gated); without,
   refuse. A version that exists is refused;
5. refuse unless the model (and ONNX export) of dvc.lock is in the DVC remote;
6. GTO: the annotated version tag (segmenter@v0.2.0), then the stage tag (segmenter#prod#N).

The first version is v0.1.0; later ones bump the latest (minor by default).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from stackseg.config import Config
from stackseg.errors import ConfigError, StacksegError
from stackseg.registry import tags, workspace
from stackseg.registry.gate import Check, MetricsShapeError, failed, gate_checks

log = logging.getLogger(__name__)

DEFAULT_STAGES = ("dev", "staging", "prod")


class GateRefused(StacksegError):
    """The metrics are below the registry's bounds (and no manual override)."""


@dataclass(frozen=True)
class Request:
    version: str | None = None  # exact, v1.2.0
    bump: str = "minor"
    stage: str | None = None
    manual: bool = False
    reason: str | None = None


@dataclass(frozen=True)
class Outcome:
    version: str
    commit: str
    tags: list[str]
    checks: list[Check]
    promoted_only: bool  # the commit was registered before: only a stage was assigned


def locked_outputs(root: Path, cfg: Config) -> list[Path]:
    """The model, and the ONNX export if dvc.lock has one: what must be in the remote."""
    lock = root / "dvc.lock"
    if not lock.is_file():
        raise workspace.DirtyWorkspaceError(
            "dvc.lock: missing: run the pipeline with `dvc repro` and commit dvc.lock first"
        )
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    locked = {
        Path(out["path"]).as_posix()
        for stage in stages.values()
        for out in stage.get("outs", [])
        if isinstance(out, dict) and "path" in out
    }
    model = Path(cfg.paths.model)
    if model.as_posix() not in locked:
        raise workspace.DirtyWorkspaceError(
            f"dvc.lock has no {model.as_posix()}: run `dvc repro` and commit dvc.lock first"
        )
    onnx = Path(cfg.paths.onnx)
    return [model] + ([onnx] if onnx.as_posix() in locked else [])


def _message(
    artifact: str, version: str, commit: str, checks: list[Check], request: Request
) -> str:
    bad = failed(checks)
    verdict = "passed" if not bad else "MANUAL OVERRIDE"
    lines = [f"{artifact} {version} (commit {commit[:7]}): gate {verdict}"]
    lines += [check.line() for check in checks]
    if request.manual:
        lines.append(f"manual: {request.reason}")
        if bad:
            lines.append("failed checks: " + "; ".join(check.line() for check in bad))
    return "\n".join(lines)


def check_artifact(root: Path, cfg: Config) -> None:
    """ConfigError unless dvc.yaml declares params `registry.artifact` at paths.model: what
    `dvc artifacts get` reads to find the file of a version."""
    dvc_yaml = (
        yaml.safe_load((root / "dvc.yaml").read_text()) if (root / "dvc.yaml").is_file() else {}
    )
    declared = (dvc_yaml or {}).get("artifacts") or {}
    name, model = cfg.registry.artifact, Path(cfg.paths.model).as_posix()
    if name not in declared:
        raise ConfigError(
            f"dvc.yaml: no artifact {name!r} under `artifacts:` (params registry.artifact); "
            f"declare it with path: {model}, type: model"
        )
    path = Path(str((declared[name] or {}).get("path", ""))).as_posix()
    if path != model:
        raise ConfigError(
            f"dvc.yaml: artifact {name!r} has path {path!r}, not paths.model {model!r}: make "
            "them the same"
        )


def _check_request(root: Path, request: Request) -> None:
    if request.manual and not (request.reason or "").strip():
        raise ConfigError('--manual needs --reason "why this model is registered anyway"')
    if request.stage is not None:
        stages = tags.allowed_stages(str(root)) or list(DEFAULT_STAGES)
        if request.stage not in stages:
            raise ConfigError(f"unknown stage {request.stage!r}: .gto allows {', '.join(stages)}")
    if request.version is not None:
        from gto.versions import SemVer

        if not SemVer.is_valid(request.version):
            raise ConfigError(f"--version {request.version}: not a version like v1.2.0")


def register_model(
    cfg: Config, root: Path, request: Request, say: Callable[[str], None] = print
) -> Outcome:
    """Run the steps of the module docstring; `say` prints each check and the result."""
    artifact = cfg.registry.artifact
    _check_request(root, request)
    check_artifact(root, cfg)
    outputs = locked_outputs(root, cfg)
    workspace.check_clean(root, [*outputs, Path(cfg.paths.evaluate_metrics)])
    commit = workspace.head_commit(root)
    metrics = workspace.metrics_at(root, commit, Path(cfg.paths.evaluate_metrics))
    try:
        checks = gate_checks(metrics, cfg.registry, list(cfg.classes))
    except MetricsShapeError as exc:
        raise StacksegError(f"{cfg.paths.evaluate_metrics} at {commit[:7]}: {exc}") from None
    say(f"gate ({cfg.paths.evaluate_metrics} of {commit[:7]}, bounds from params registry:)")
    for check in checks:
        say(f"  {check.line()}")
    bad = failed(checks)
    if bad and not request.manual:
        raise GateRefused(
            [f"gate: {check.line()}" for check in bad]
            + ['below the registry bounds: not registered (override: --manual --reason "...")']
        )

    existing = tags.version_of_commit(str(root), artifact, commit)
    if existing is not None:
        if request.stage is None:
            raise tags.RegistryError(
                f"commit {commit[:7]} is already registered as {artifact} {existing.version}: "
                "assign a stage with --stage, or commit a new model"
            )
        if request.version not in (None, existing.version):
            raise tags.RegistryError(
                f"commit {commit[:7]} is registered as {existing.version}, not {request.version}"
            )
        version = existing.version
    else:
        version = request.version or tags.next_version(str(root), artifact, request.bump)
        if any(v.version == version for v in tags.versions(str(root), artifact)):
            raise tags.RegistryError(
                f"{artifact} {version} already exists: choose another --version "
                "(or --bump major|minor|patch; see `stackseg models`)"
            )
    workspace.check_in_remote(root, outputs)

    message = _message(artifact, version, commit, checks, request)
    made = []
    if existing is None:
        made.append(tags.register(str(root), artifact, commit, version, message))
        say(f"registered {artifact} {version} (commit {commit[:7]}): tag {made[-1]}")
    if request.stage is not None:
        made.append(tags.assign(str(root), artifact, version, request.stage, message))
        say(f"assigned {artifact} {version} to {request.stage}: tag {made[-1]}")
    say("push the tags so that others see them: git push origin --tags")
    return Outcome(version, commit, made, checks, promoted_only=existing is not None)
