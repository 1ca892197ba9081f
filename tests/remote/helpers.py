"""Helpers for the remote-storage tests: DVC against a loopback S3 server."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
from pathlib import Path

from devtools.s3server import S3Server
from tests.conftest import BIN, ROOT

DVC_TIMEOUT = 120  # seconds; every dvc call in these tests is bounded
NO_FILE = "/dev/null/none"  # a path that cannot exist (botocore refuses /dev/null itself)


def s3_env(server: S3Server | None, **overrides: str) -> dict[str, str]:
    """A subprocess environment with only the given server's credentials.

    Every AWS_* variable of the developer's shell is dropped and the AWS config files point
    nowhere, so a personal profile can neither help nor break a test.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["AWS_CONFIG_FILE"] = NO_FILE
    env["AWS_SHARED_CREDENTIALS_FILE"] = NO_FILE
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    if server is not None:
        env.update(server.client_env())
    env.update(overrides)
    return env


def dvc(
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    check: bool = True,
    timeout: float = DVC_TIMEOUT,
) -> subprocess.CompletedProcess:
    """Run `dvc ARGS` (bounded in time); on an unexpected exit code show its output."""
    proc = subprocess.run(
        ["dvc", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"dvc {' '.join(args)} exited {proc.returncode}\n"
            f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def git(args: list[str], cwd: Path) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout


def committed_remote() -> dict[str, str]:
    """The project's default remote as committed in .dvc/config: name, url, endpointurl."""
    from dvc.config import Config

    committed = Config(dvc_dir=str(ROOT / ".dvc")).read("repo")
    name = committed["core"]["remote"]
    return {"name": name, **committed["remote"][name]}


def add_project_remote(project: Path) -> None:
    """Give `project` the default remote of the project's committed .dvc/config.

    Config edits go through DVC's own config API in-process (what `dvc remote add/modify`
    call), sparing a 2 s CLI start-up each; pushes and pulls go through the real CLI.
    """
    from dvc.config import Config

    remote = committed_remote()
    name = remote.pop("name")
    with Config(dvc_dir=str(project / ".dvc")).edit("repo") as conf:
        conf["core"]["remote"] = name
        conf["remote"][name] = remote


def point_at(project: Path, endpoint: str) -> None:
    """Override the remote's endpoint in the git-ignored .dvc/config.local, as users do
    with `dvc remote modify --local storage endpointurl ...`."""
    from dvc.config import Config

    name = committed_remote()["name"]
    with Config(dvc_dir=str(project / ".dvc")).edit("local") as conf:
        conf["remote"].setdefault(name, {})["endpointurl"] = endpoint


def workspace_hashes(project: Path) -> dict[str, str]:
    """sha256 of every workspace file (everything but .git and .dvc), by relative path."""
    hashes = {}
    for path in sorted(project.rglob("*")):
        rel = path.relative_to(project)
        if rel.parts[0] in (".git", ".dvc") or not path.is_file():
            continue
        hashes[rel.as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def cached_outputs(project: Path) -> list[Path]:
    """Workspace paths DVC stores in its cache (and so pushes): every `dvc add` and stage out."""
    from dvc.repo import Repo

    with Repo(str(project)) as repo:
        return sorted(
            Path(out.fs_path) for stage in repo.index.stages for out in stage.outs if out.use_cache
        )


def wipe_cache_and_outputs(project: Path) -> list[Path]:
    """Delete the DVC cache and every cached output: only git and the remote are left."""
    outputs = cached_outputs(project)
    for path in [project / ".dvc" / "cache", *outputs]:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    return outputs


def remote_objects(data_dir: Path, bucket: str) -> dict[str, bytes]:
    """Every object nanio stores in `bucket` (objects are plain files), by key."""
    root = data_dir / bucket
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and ".nanio-meta" not in path.relative_to(root).parts
    }


def tree_state(root: Path) -> dict[str, tuple[int, str]]:
    """(size, sha256) of every file under `root`: a server's whole on-disk state."""
    return {
        path.relative_to(root).as_posix(): (
            path.stat().st_size,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def copy_project(template: Path, dest: Path) -> Path:
    """A copy of a project: git history, DVC cache and workspace."""
    shutil.copytree(template, dest, symlinks=True)
    return dest


def make_data_project(path: Path, files: int = 24, seed: int = 0) -> Path:
    """A git + DVC repo whose only data is `data/blobs` (dvc add): for transport-only tests.

    Random bytes (1-200 kB, fixed seed) so that no two objects share a hash.
    """
    from dvc.repo import Repo

    rng = random.Random(seed)
    blobs = path / "data" / "blobs"
    blobs.mkdir(parents=True)
    for index in range(files):
        (blobs / f"blob_{index:03d}.bin").write_bytes(rng.randbytes(rng.randint(1_000, 200_000)))
    git(["init", "-q", "-b", "main"], path)
    git(["config", "user.email", "tests@stackseg.invalid"], path)
    git(["config", "user.name", "stackseg tests"], path)
    Repo.init(str(path)).close()
    add_project_remote(path)
    with Repo(str(path)) as repo:
        repo.add(str(Path(repo.root_dir) / "data" / "blobs"))
    git(["add", "-A"], path)
    git(["commit", "-q", "-m", "data"], path)
    return path
