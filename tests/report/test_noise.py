"""The noise estimate's cache: computed once per base commit, fetched from the DVC remote after.

The seeded runs are injected through the `runner` boundary of get_or_compute (constructed
per-seed metrics, no training); the remote is a real S3 server on loopback (nanio), reached
through DVC's own filesystem for the project's default remote.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.s3server import S3Server, start_server
from stackseg.errors import StacksegError
from stackseg.report.noise import (
    LOCAL_DIR,
    REMOTE_PREFIX,
    NoiseEstimate,
    get_or_compute,
    open_cache,
)
from stackseg.report.verdict import headline_metrics
from tests.remote.helpers import NO_FILE, remote_objects

COMMIT = "0123456789abcdef0123456789abcdef01234567"
HEADS = headline_metrics(["disc", "ring"])
SEEDS = [43, 44, 45]


def per_seed(seeds: list[int]) -> dict[int, dict[str, float | None]]:
    """Constructed results: each metric moves with the seed by a known amount."""
    return {
        seed: {h.key: 0.9 + 0.01 * (seed - 43) + 0.001 * k for k, h in enumerate(HEADS)}
        for seed in seeds
    }


class CountingRunner:
    def __init__(self) -> None:
        self.calls: list[list[int]] = []

    def __call__(self, seeds: list[int]) -> dict[int, dict[str, float | None]]:
        self.calls.append(list(seeds))
        return per_seed(seeds)


def dvc_project(path: Path, server: S3Server | None, **remote: object) -> Path:
    from dvc.config import Config
    from dvc.repo import Repo

    path.mkdir(parents=True)
    Repo.init(str(path), no_scm=True).close()
    if server is not None:
        with Config(dvc_dir=str(path / ".dvc")).edit("repo") as conf:
            conf["core"]["remote"] = "storage"
            conf["remote"]["storage"] = {
                "url": f"s3://{server.bucket}/store",
                "endpointurl": server.endpoint,
                "connect_timeout": 5,
                "read_timeout": 5,
                **remote,
            }
    return path


@pytest.fixture
def nanio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    """A loopback nanio server; this process's AWS settings are only its credentials."""
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_CONFIG_FILE", NO_FILE)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", NO_FILE)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with (tmp_path / "nanio.log").open("w") as log:
        server = start_server("nanio", data_dir=tmp_path / "s3", output=log)
        for key, value in server.client_env().items():
            monkeypatch.setenv(key, value)
        try:
            yield server
        finally:
            server.stop()


@pytest.mark.slow
def test_computed_once_then_fetched_from_the_remote(tmp_path, nanio):
    first = dvc_project(tmp_path / "ci-run-1", nanio)
    runner = CountingRunner()
    estimate, computed = get_or_compute(open_cache(first), COMMIT, SEEDS, HEADS, runner)
    assert computed and runner.calls == [SEEDS]
    assert estimate.seeds == tuple(SEEDS)
    assert estimate.spread("mean.iou").values == pytest.approx((0.9, 0.91, 0.92))
    assert estimate.spread("mean.iou").std == pytest.approx(0.01)

    # stored under the remote's URL, beside (not inside) DVC's files/md5/
    objects = remote_objects(tmp_path / "s3", nanio.bucket)
    key = f"store/{REMOTE_PREFIX}/{COMMIT}.json"
    assert list(objects) == [key]
    stored = json.loads(objects[key])
    assert stored["base_commit"] == COMMIT and stored["seeds"] == SEEDS
    assert stored["metrics"]["per_class.ring.iou"]["min"] == pytest.approx(0.902)
    assert stored["metrics"]["per_class.ring.iou"]["max"] == pytest.approx(0.922)

    # another checkout (another CI run): nothing local, fetched from the remote, not rerun
    second = dvc_project(tmp_path / "ci-run-2", nanio)
    assert not (second / LOCAL_DIR).exists()
    again = CountingRunner()
    fetched, computed = get_or_compute(open_cache(second), COMMIT, SEEDS, HEADS, again)
    assert not computed and again.calls == []
    assert fetched == estimate
    assert (second / LOCAL_DIR / f"{COMMIT}.json").read_bytes() == objects[key]

    # another number of seeds is recomputed and replaces the cached estimate
    more = CountingRunner()
    bigger, computed = get_or_compute(open_cache(second), COMMIT, [43, 44, 45, 46], HEADS, more)
    assert computed and more.calls == [[43, 44, 45, 46]] and len(bigger.seeds) == 4
    assert len(json.loads(remote_objects(tmp_path / "s3", nanio.bucket)[key])["seeds"]) == 4

    # a remote that refuses us: an error naming the file, not a silent "no estimate"
    third = dvc_project(
        tmp_path / "ci-run-3", nanio, access_key_id="wrong", secret_access_key="wrong"
    )
    with pytest.raises(StacksegError, match=f"could not read s3://.*/{COMMIT}.json from the DVC"):
        open_cache(third).get(COMMIT)


def test_without_a_remote_the_cache_is_local_and_says_so(tmp_path):
    project = dvc_project(tmp_path / "proj", None)
    cache = open_cache(project)
    assert cache.remote is None and "no DVC remote configured: local only" in cache.where
    runner = CountingRunner()
    get_or_compute(cache, COMMIT, SEEDS, HEADS, runner)
    _, computed = get_or_compute(open_cache(project), COMMIT, SEEDS, HEADS, runner)
    assert not computed and len(runner.calls) == 1
    assert (project / LOCAL_DIR / f"{COMMIT}.json").is_file()
    # --force recomputes
    _, computed = get_or_compute(open_cache(project), COMMIT, SEEDS, HEADS, runner, force=True)
    assert computed and len(runner.calls) == 2


def test_a_run_missing_a_metric_is_an_error_and_nothing_is_cached(tmp_path):
    project = dvc_project(tmp_path / "proj", None)

    def broken(seeds: list[int]) -> dict[int, dict[str, float | None]]:
        runs = per_seed(seeds)
        runs[44]["per_class.disc.iou"] = None
        return runs

    with pytest.raises(StacksegError, match=r"seed run\(s\) \[44\] .* `per_class.disc.iou`"):
        get_or_compute(open_cache(project), COMMIT, SEEDS, HEADS, broken)
    assert not (project / LOCAL_DIR / f"{COMMIT}.json").exists()


def test_a_damaged_cached_file_is_one_clear_error(tmp_path):
    project = dvc_project(tmp_path / "proj", None)
    (project / LOCAL_DIR).mkdir(parents=True)
    damaged = project / LOCAL_DIR / f"{COMMIT}.json"
    damaged.write_text('{"format": 1, "seeds": [1, 2], "metrics": {"m": {"values": [0.5]}}}')
    with pytest.raises(StacksegError, match="not a noise estimate stackseg can read"):
        open_cache(project).get(COMMIT)
    damaged.write_text("{not json")
    with pytest.raises(StacksegError, match="not valid JSON: delete it"):
        open_cache(project).get(COMMIT)


def test_estimate_round_trips_through_json():
    estimate = NoiseEstimate(COMMIT, (1, 2), {"mean.iou": (0.5, 0.7)}, "cpu", "2026-01-01")
    data = json.loads(json.dumps(estimate.to_json()))
    assert data["metrics"]["mean.iou"]["mean"] == pytest.approx(0.6)
    assert NoiseEstimate.from_json(data, "x") == estimate
