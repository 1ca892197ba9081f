"""What an MLflow run is tagged with, so that it leads back to DVC and git.

- `stackseg.git_commit`: HEAD of the project (the code the stage ran; the card's
  `lineage.code_commit` is the last commit of the training code);
- `stackseg.raw_data_sha256`, `stackseg.prepared_data_sha256`: the card's data hashes;
- `stackseg.dvc_experiment`: `DVC_EXP_NAME`, which `dvc exp run` sets for each stage command
  (dvc/repo/experiments/queue/base.py); absent in a plain `dvc repro`;
- `stackseg.model_sha256`: the model file's hash: how evaluate and `register` find the run;
- `stackseg.model_dvc_url`: where `dvc push` puts the model file in the default remote, DVC 3's
  layout `<remote url>/files/md5/<first 2 hex>/<other 30>` (absent without a remote).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from stackseg.contracts import ModelCard

MODEL_SHA_TAG = "stackseg.model_sha256"


def file_digest(path: Path, name: str) -> str:
    digest = hashlib.new(name)
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_commit(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=30
        )
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def dvc_remote_url(root: Path) -> str | None:
    """The default DVC remote's URL (.dvc/config and config.local merged), or None. Only the
    URL is read: credentials stay where they are."""
    from dvc.config import Config as DvcConfig  # type: ignore[import-untyped]

    try:
        config = DvcConfig(dvc_dir=str(root / ".dvc"))
    except Exception:  # noqa: BLE001 (not a DVC project, a broken config: no URL)
        return None
    name = config.get("core", {}).get("remote")
    url = config.get("remote", {}).get(name, {}).get("url") if name else None
    if not url:
        return None
    if "://" not in url and not Path(url).is_absolute():  # a local remote, relative to .dvc/
        url = str((root / ".dvc" / url).resolve())
    return str(url)


def model_dvc_url(root: Path, model: Path) -> str | None:
    """Where the model file lies in the default DVC remote (DVC 3: files/md5/ab/cdef...)."""
    url = dvc_remote_url(root)
    if url is None:
        return None
    md5 = file_digest(model, "md5")
    return f"{url.rstrip('/')}/files/md5/{md5[:2]}/{md5[2:]}"


def run_tags(root: Path, model: Path, card: ModelCard) -> dict[str, str]:
    """The tags of the module docstring (those that exist here)."""
    tags = {
        MODEL_SHA_TAG: file_digest(model, "sha256"),
        "stackseg.raw_data_sha256": card.lineage.raw_data_sha256,
        "stackseg.prepared_data_sha256": card.lineage.prepared_data_sha256,
        "stackseg.code_sha256": card.lineage.code_sha256,
    }
    optional = {
        "stackseg.git_commit": git_commit(root),
        "stackseg.code_commit": card.lineage.code_commit,
        "stackseg.dvc_experiment": os.environ.get("DVC_EXP_NAME"),
        "stackseg.model_dvc_url": model_dvc_url(root, model),
    }
    tags.update({name: value for name, value in optional.items() if value})
    if "stackseg.git_commit" in tags:  # the commit MLflow's own UI shows
        tags["mlflow.source.git.commit"] = tags["stackseg.git_commit"]
    return tags
