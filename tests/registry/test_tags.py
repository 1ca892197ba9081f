"""The registry's tags through GTO, and git reads of a commit's metrics, on a bare git repo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from stackseg.errors import InputDataError
from stackseg.registry import tags, workspace
from tests.conftest import ROOT
from tests.remote.helpers import git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    git(["init", "-q", "-b", "main"], tmp_path)
    git(["config", "user.email", "tests@stackseg.invalid"], tmp_path)
    git(["config", "user.name", "stackseg tests"], tmp_path)
    shutil.copy(ROOT / ".gto", tmp_path / ".gto")
    git(["add", "-A"], tmp_path)
    git(["commit", "-q", "-m", "one"], tmp_path)
    return tmp_path


def test_versions_bump_from_the_latest_and_stages_follow_assignments(repo: Path):
    root = str(repo)
    assert tags.versions(root, "segmenter") == []
    assert tags.next_version(root, "segmenter", "minor") == tags.FIRST_VERSION == "v0.1.0"
    first = workspace.head_commit(repo)
    assert tags.register(root, "segmenter", first, "v0.1.0", "first") == "segmenter@v0.1.0"
    assert tags.next_version(root, "segmenter", "patch") == "v0.1.1"
    assert tags.next_version(root, "segmenter", "minor") == "v0.2.0"
    assert tags.next_version(root, "segmenter", "major") == "v1.0.0"
    git(["commit", "-q", "--allow-empty", "-m", "two"], repo)
    second = workspace.head_commit(repo)
    tags.register(root, "segmenter", second, "v0.10.0", "second")
    # semver order, not text order: v0.10.0 is after v0.9.x
    assert tags.next_version(root, "segmenter", "minor") == "v0.11.0"

    tags.assign(root, "segmenter", "v0.1.0", "prod", "to prod")
    assert tags.in_stage(root, "segmenter", "prod").commit == first
    tags.assign(root, "segmenter", "v0.10.0", "prod", "newer to prod")
    assert tags.in_stage(root, "segmenter", "prod").version == "v0.10.0"
    assert {v.version: v.stages for v in tags.versions(root, "segmenter")} == {
        "v0.10.0": ["prod"],
        "v0.1.0": [],
    }
    assert tags.version_of_commit(root, "segmenter", first).version == "v0.1.0"
    assert tags.find_version(root, "segmenter", "v0.1.0").message == "first"
    with pytest.raises(tags.RegistryError, match="unknown stage 'qa': .gto allows dev"):
        tags.in_stage(root, "segmenter", "qa")
    with pytest.raises(tags.RegistryError, match="registering segmenter v0.1.0: .*"):
        tags.register(root, "segmenter", second, "v0.1.0", "again")


def test_a_commit_without_the_metrics_file_is_one_line(repo: Path):
    commit = workspace.head_commit(repo)
    with pytest.raises(InputDataError) as error:
        workspace.metrics_at(repo, commit, Path("metrics/evaluate.json"))
    assert error.value.problems == [
        f"metrics/evaluate.json: not in commit {commit[:7]}: run `dvc repro` (evaluate) and "
        "commit dvc.lock with the metrics first"
    ]
    (repo / "metrics.json").write_text("[1, 2")
    git(["add", "-A"], repo)
    git(["commit", "-q", "-m", "broken"], repo)
    with pytest.raises(InputDataError, match="metrics.json at .*: not JSON"):
        workspace.metrics_at(repo, workspace.head_commit(repo), Path("metrics.json"))
