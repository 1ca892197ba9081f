"""Fetch the model of a registry version, stage, git rev or DVC experiment into a local cache.

1. resolve the ref to a commit: a version or a stage through GTO's tags (registry.tags),
   a git rev or an experiment name through DVC (DVCFileSystem resolves both);
2. reuse `<paths.model_cache>/<commit>/` if it is there (written atomically: present means
   complete);
3. else download from that commit, through dvc.api.DVCFileSystem (git for the card, the DVC
   remote for the model): paths.model, paths.model_card, and paths.onnx and
   paths.drift_reference when that commit's dvc.lock has them; into a temporary folder moved into place, with a progress
   display of the bytes.

`repo` is a project path or a git URL; with no ref, the workspace's own files are used
(nothing is copied). The cache is relative to the current folder when params say so.
This is the interface `stackseg infer --rev/--stage/--version` codes against.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from fsspec.callbacks import Callback  # type: ignore[import-untyped]

from stackseg.atomic import replacing
from stackseg.config import Config
from stackseg.errors import StacksegError
from stackseg.progress import Progress, progress
from stackseg.registry import tags

log = logging.getLogger(__name__)


class FetchError(StacksegError):
    """The ref cannot be resolved, the remote cannot be reached, or lacks the files."""


@dataclass(frozen=True)
class ModelRef:
    """Which model: exactly one of them, or none = the workspace's model."""

    rev: str | None = None  # git rev or DVC experiment name
    stage: str | None = None  # the version currently assigned to this registry stage
    version: str | None = None  # a registry version, v1.2.0

    def __post_init__(self) -> None:
        given = [name for name in ("rev", "stage", "version") if getattr(self, name)]
        if len(given) > 1:
            raise FetchError(f"give one of --rev, --stage, --version, not {', '.join(given)}")

    def describe(self) -> str:
        if self.version:
            return f"version {self.version}"
        if self.stage:
            return f"stage {self.stage}"
        return f"rev {self.rev}" if self.rev else "the workspace's model"


@dataclass(frozen=True)
class FetchedModel:
    keras: Path
    card: Path
    onnx: Path | None  # None when that commit has no export
    commit: str
    version: str | None
    stage: str | None
    reference: Path | None = None  # the drift reference, when that commit has one


def fetch_model(ref: ModelRef, cfg: Config, repo: str = ".") -> FetchedModel:
    """The model files of `ref` on local disk (steps in the module docstring)."""
    if not (ref.rev or ref.stage or ref.version):
        return _workspace_model(cfg, repo)
    artifact = cfg.registry.artifact
    version: str | None = None
    if ref.version:
        found = tags.find_version(repo, artifact, ref.version)
        rev, version = found.commit, found.version
    elif ref.stage:
        found = tags.in_stage(repo, artifact, ref.stage)
        rev, version = found.commit, found.version
    else:
        rev = str(ref.rev)
    names = {
        "keras": Path(cfg.paths.model),
        "card": Path(cfg.paths.model_card),
        "onnx": Path(cfg.paths.onnx),
        "reference": Path(cfg.paths.drift_reference),
    }
    with _filesystem(repo, rev, ref) as fs:
        commit = str(fs.repo.get_rev())
        if ref.rev:
            version = _version_at(repo, artifact, commit)
        dest = Path(cfg.paths.model_cache) / commit
        if not dest.is_dir():
            _download(fs, names, commit, dest, ref)
        else:
            log.info("%s: cached in %s", ref.describe(), dest)
    onnx = dest / names["onnx"].name
    reference = dest / names["reference"].name
    return FetchedModel(
        keras=dest / names["keras"].name,
        card=dest / names["card"].name,
        onnx=onnx if onnx.is_file() else None,
        commit=commit,
        version=version,
        stage=ref.stage,
        reference=reference if reference.is_file() else None,
    )


def _workspace_model(cfg: Config, repo: str) -> FetchedModel:
    from stackseg.registry.workspace import resolve_commit

    root = Path(repo)
    onnx = root / cfg.paths.onnx
    reference = root / cfg.paths.drift_reference
    return FetchedModel(
        keras=root / cfg.paths.model,
        card=root / cfg.paths.model_card,
        onnx=onnx if onnx.is_file() else None,
        commit=resolve_commit(root, "HEAD") or "",
        version=None,
        stage=None,
        reference=reference if reference.is_file() else None,
    )


def _version_at(repo: str, artifact: str, commit: str) -> str | None:
    try:
        found = tags.version_of_commit(repo, artifact, commit)
    except tags.RegistryError:  # no registry there: a plain rev
        return None
    return found.version if found else None


class _filesystem:
    """dvc.api.DVCFileSystem at `rev`, closed on exit; DVC's errors as one FetchError line."""

    def __init__(self, repo: str, rev: str, ref: ModelRef) -> None:
        self.repo, self.rev, self.ref = repo, rev, ref

    def __enter__(self) -> Any:
        from dvc.api import DVCFileSystem  # type: ignore[import-untyped]

        try:
            self.fs = DVCFileSystem(self.repo, rev=self.rev)
            self.fs.repo  # noqa: B018  (opens the repo: an unknown rev fails here)
        except Exception as exc:  # DVC and scmrepo raise many unrelated types
            raise FetchError(
                f"{self.ref.describe()}: cannot open {self.repo} at {self.rev}: {_one_line(exc)}"
                " (a git rev, tag or `dvc exp show` name?)"
            ) from None
        return self.fs

    def __exit__(self, *exc_info: object) -> None:
        close = getattr(self.fs, "close", None)
        if close is not None:
            close()


def _locked_paths(fs: Any) -> set[str]:
    """Output paths in that commit's dvc.lock (DVCFileSystem lists dvc.yaml outs that were
    never produced too, so the lock says what really exists)."""
    try:
        with fs.open("dvc.lock", "r") as handle:
            lock = yaml.safe_load(handle.read()) or {}
    except FileNotFoundError:
        return set()
    return {
        Path(out["path"]).as_posix()
        for stage in (lock.get("stages") or {}).values()
        for out in stage.get("outs", [])
        if isinstance(out, dict) and "path" in out
    }


def _download(fs: Any, names: dict[str, Path], commit: str, dest: Path, ref: ModelRef) -> None:
    locked = _locked_paths(fs)
    wanted = [names["keras"], names["card"]]
    for optional in ("onnx", "reference"):  # when that commit's pipeline made them
        if names[optional].as_posix() in locked:
            wanted.append(names[optional])
    if names["keras"].as_posix() not in locked:
        raise FetchError(
            f"{ref.describe()} (commit {commit[:7]}): its dvc.lock has no "
            f"{names['keras'].as_posix()}: that commit has no trained model"
        )
    log.info("%s: fetching commit %s into %s", ref.describe(), commit[:7], dest)
    sizes = [size for size in (_size(fs, path) for path in wanted) if size is not None]
    total = sum(sizes) if len(sizes) == len(wanted) else None
    with (
        progress(total=total, desc=f"fetch {ref.describe()}", unit="byte") as bar,
        replacing(dest, directory=True) as temp,
    ):
        for path in wanted:
            try:
                fs.get_file(path.as_posix(), str(temp / path.name), callback=_Counter(bar))
            except FileNotFoundError:
                raise FetchError(
                    f"{path.as_posix()} of {ref.describe()} (commit {commit[:7]}) is not in "
                    "the DVC remote: push it from the machine that made it (`dvc push`)"
                ) from None
            except Exception as exc:  # the remote's own errors: network, credentials
                raise FetchError(
                    f"{path.as_posix()} of {ref.describe()}: the DVC remote failed: "
                    f"{_one_line(exc)}; check the remote (`dvc remote list`) and credentials"
                ) from None


def _size(fs: Any, path: Path) -> int | None:
    try:
        size = fs.info(path.as_posix()).get("size")
    except Exception:  # a size is only for the progress display
        return None
    return int(size) if isinstance(size, int) else None


class _Counter(Callback):
    """fsspec's transfer callback feeding the bytes copied to a stackseg progress display."""

    def __init__(self, bar: Progress) -> None:
        super().__init__()
        self._bar = bar
        self._shown = 0

    def call(self, *args: Any, **kwargs: Any) -> None:
        done = int(self.value or 0)
        if done > self._shown:
            self._bar.update(done - self._shown)
            self._shown = done


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
