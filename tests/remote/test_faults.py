"""Failures talking to the remote: refused credentials and a push cut off mid-upload.

nanio serves here: it checks every request's signature and keeps objects as files, so the
tests can inspect exactly what reached the bucket.
"""

from __future__ import annotations

import hashlib
import random
import re
from pathlib import Path

import pytest
from dvc.repo import Repo

from tests.remote.helpers import (
    dvc,
    git,
    make_data_project,
    point_at,
    remote_objects,
    s3_env,
    tree_state,
    workspace_hashes,
)
from tests.remote.proxy import CuttingProxy

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# (what is wrong, environment overrides, words the error must contain)
CREDENTIAL_PROBLEMS = [
    ("wrong secret key", {"AWS_SECRET_ACCESS_KEY": "not-the-secret"}, ["403", "Forbidden"]),
    ("no credentials", {"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, ["credentials"]),
]


def object_is_intact(key: str, content: bytes) -> bool:
    """DVC's remote is content-addressed: files/md5/ab/cdef... holds bytes whose md5 is abcdef."""
    match = re.fullmatch(r".*/md5/([0-9a-f]{2})/([0-9a-f]{30})(\.dir)?", key)
    assert match, f"unexpected object key {key}"
    return hashlib.md5(content).hexdigest() == match[1] + match[2]


def test_wrong_credentials_are_refused_and_nothing_is_written(tmp_path: Path, s3_server):
    server = s3_server("nanio")
    project = make_data_project(tmp_path / "proj")
    good_env = s3_env(server)
    point_at(project, server.endpoint)
    dvc(["push"], project, good_env)
    # A new version of the data that a refused push would otherwise upload.
    (project / "data" / "blobs" / "new.bin").write_bytes(random.Random(1).randbytes(5_000))
    with Repo(str(project)) as repo:
        repo.add(str(Path(repo.root_dir) / "data" / "blobs"))
    state = tree_state(server.data_dir)

    for problem, overrides, words in CREDENTIAL_PROBLEMS:
        proc = dvc(["push"], project, s3_env(server, **overrides), check=False)
        output = proc.stdout + proc.stderr
        assert proc.returncode != 0, f"{problem}: push succeeded\n{output}"
        assert "ERROR" in output and all(word in output for word in words), (
            f"{problem}: unclear message\n{output}"
        )
        assert tree_state(server.data_dir) == state, f"{problem}: the bucket changed"

    # Proof the bucket was writable all along: the right key pair pushes the new version.
    assert "2 files pushed" in dvc(["push"], project, good_env).stdout


def test_push_cut_mid_upload_fails_clearly_then_a_full_push_restores_everything(
    tmp_path: Path, s3_server
):
    server = s3_server("nanio")
    project = make_data_project(tmp_path / "proj", files=12)
    env = s3_env(server)
    expected = workspace_hashes(project)
    objects_total = 13  # 12 files + the directory listing (.dir)
    cut_at = 10  # the 10th upload (PUT) is cut mid-body: few failures, few slow retries

    with CuttingProxy(server.port, cut_at=cut_at, method=b"PUT") as proxy:
        point_at(project, proxy.endpoint)
        # -j 1: one upload at a time, so exactly cut_at - 1 uploads complete. One botocore
        # attempt per call keeps the doomed retries short (s3fs still retries on its own).
        proc = dvc(["push", "-j", "1"], project, {**env, "AWS_MAX_ATTEMPTS": "1"}, check=False)
    output = proc.stdout + proc.stderr
    assert proxy.cut and proxy.counted == cut_at - 1
    assert proc.returncode != 0, output
    assert "failed to push data to the cloud" in output, output
    assert "Connection was closed" in output, output

    # Only whole objects reached the bucket: the cut upload was discarded, nothing else
    # arrived, and the directory listing (uploaded last by DVC) is not among them, so the
    # remote does not claim to hold the directory.
    stored = remote_objects(server.data_dir, server.bucket)
    assert len(stored) == cut_at - 1, sorted(stored)
    assert all(object_is_intact(key, content) for key, content in stored.items())
    assert not any(key.endswith(".dir") for key in stored)
    assert not list(server.data_dir.rglob(".tmp.*")), "a partial upload was left behind"

    point_at(project, server.endpoint)
    pushed = dvc(["push"], project, env).stdout
    assert f"{objects_total - (cut_at - 1)} files pushed" in pushed, pushed
    assert len(remote_objects(server.data_dir, server.bucket)) == objects_total

    clone = tmp_path / "clone"
    git(["clone", "-q", str(project), str(clone)], tmp_path)
    point_at(clone, server.endpoint)
    dvc(["pull"], clone, env)
    assert workspace_hashes(clone) == expected
