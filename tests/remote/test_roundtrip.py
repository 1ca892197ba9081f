"""Everything `dvc repro` produces round-trips through an S3 remote with nothing lost.

moto's S3 server (the endpoint s3fs itself is tested against) serves here, over real HTTP
on 127.0.0.1; the pipeline is the project's own, run once on tiny data per module.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from devtools.s3server import s3_client, start_server
from tests.remote.helpers import (
    cached_outputs,
    committed_remote,
    copy_project,
    dvc,
    git,
    point_at,
    s3_env,
    wipe_cache_and_outputs,
    workspace_hashes,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


def stage_names(project: Path) -> list[str]:
    return list(yaml.safe_load((project / "dvc.yaml").read_text())["stages"])


def assert_nothing_ran(output: str, project: Path) -> None:
    """Every stage was skipped (up to date) or had its outputs pulled; none ran."""
    assert "Running stage" not in output, output
    for name in stage_names(project):
        assert (
            f"Stage '{name}' didn't change, skipping" in output
            or f"Pulling data for stage: '{name}'" in output
        ), output


@pytest.fixture(scope="module")
def remote(pipeline_template: Path, tmp_path_factory: pytest.TempPathFactory):
    """A moto server holding what `dvc push` sent from the tiny pipeline's project."""
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = start_server("moto", output=log)
    try:
        point_at(pipeline_template, server.endpoint)
        pushed = dvc(["push"], pipeline_template, s3_env(server)).stdout
        yield server, pushed
    finally:
        server.stop()
        log.close()


def run_cache_copies(project: Path) -> set[str]:
    """Cache keys (`ab/cdef...`) of the stage outputs that are not cached (`cache: false`)."""
    lock = yaml.safe_load((project / "dvc.lock").read_text())
    return {
        out["md5"][:2] + "/" + out["md5"][2:]
        for stage in lock["stages"].values()
        for out in stage.get("outs", [])
        if not (project / out["path"]).is_dir()
        and out["path"] not in {p.relative_to(project).as_posix() for p in cached_outputs(project)}
    }


def remote_keys(server) -> set[str]:
    client = s3_client(server.endpoint, server.access_key, server.secret_key)
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=server.bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def test_push_then_pull_into_a_wiped_workspace_restores_every_file(
    pipeline_template: Path, remote, tmp_path: Path
):
    server, pushed = remote
    env = s3_env(server)
    project = copy_project(pipeline_template, tmp_path / "proj")
    paths = yaml.safe_load((project / "params.yaml").read_text())["paths"]
    # raw stacks, prepared pairs and the model are the cached (pushed) outputs; metrics and
    # plots are small `cache: false` files that travel in git.
    outputs = {path.relative_to(project).as_posix() for path in cached_outputs(project)}
    assert {paths["raw"], paths["prepared"], paths["model"]} <= outputs
    # The push sent the whole cache: one object per cached file, and nothing else.
    cache = project / ".dvc" / "cache" / "files" / "md5"
    cached = {path.relative_to(cache).as_posix() for path in cache.rglob("*") if path.is_file()}
    # DVC's run cache (.dvc/cache/runs) also keeps a copy of a run-cached stage's `cache:
    # false` outputs (export's metrics file) in the cache; `dvc push` leaves those out
    cached -= run_cache_copies(project)
    prefix = committed_remote()["url"].removeprefix(f"s3://{server.bucket}/") + "/files/md5/"
    assert f"{len(cached)} files pushed" in pushed, pushed
    assert remote_keys(server) == {prefix + key for key in cached}
    before = workspace_hashes(project)

    wipe_cache_and_outputs(project)
    assert not (project / paths["model"]).exists() and not (project / ".dvc" / "cache").exists()
    dvc(["pull"], project, env)
    assert workspace_hashes(project) == before
    assert "Cache and remote 'storage' are in sync" in dvc(["status", "-c"], project, env).stdout
    output = dvc(["repro"], project, env).stdout
    assert_nothing_ran(output, project)
    assert "Data and pipelines are up to date" in output
    assert workspace_hashes(project) == before


def test_repro_pull_on_a_fresh_clone_uses_the_remote_instead_of_recomputing(
    pipeline_template: Path, remote, tmp_path: Path
):
    server, _ = remote
    clone = tmp_path / "clone"
    git(["clone", "-q", str(pipeline_template), str(clone)], tmp_path)
    point_at(clone, server.endpoint)
    # Any stage that ran would call `stackseg`: this stand-in records the call and fails.
    shims = tmp_path / "shims"
    shims.mkdir()
    marker = tmp_path / "stackseg-was-called"
    shim = shims / "stackseg"
    shim.write_text(f'#!/bin/sh\ntouch "{marker}"\nexit 97\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = s3_env(server, PATH=f"{shims}{os.pathsep}{s3_env(None)['PATH']}")

    output = dvc(["repro", "--pull"], clone, env).stdout
    assert not marker.exists(), output
    assert_nothing_ran(output, clone)
    assert "Data and pipelines are up to date" in output
    assert workspace_hashes(clone) == workspace_hashes(pipeline_template)
