"""The "Experiments and versions" page: real `dvc exp show --json` and GTO registry output
of a copy of the trained project (one version registered, the workspace's params and
metrics changed), and one clear line where DVC cannot answer."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest
import yaml

from stackseg.dashboard import experiments
from stackseg.dashboard.settings import ENV_VAR
from stackseg.errors import StacksegError
from tests.conftest import ROOT, run
from tests.dashboard.conftest import app_test, page_errors

MEAN = "metrics/evaluate.json:mean.iou"


@pytest.fixture(scope="module")
def project(trained, tmp_path_factory):
    """The trained project committed and registered as v0.1.0 (stage dev); then, not
    committed, a lower learning rate and a mean IoU of 0.5 in the workspace."""
    from stackseg.registry import tags

    root = tmp_path_factory.mktemp("dashboard-exp") / "proj"
    shutil.copytree(trained.root, root, symlinks=True)
    shutil.copy(ROOT / ".gto", root / ".gto")
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "trained"], root)
    commit = run(["git", "rev-parse", "HEAD"], root).stdout.strip()
    tags.register(str(root), "segmenter", commit, "v0.1.0", "the trained fixture")
    tags.assign(str(root), "segmenter", "v0.1.0", "dev", "for the dashboard test")
    committed = json.loads((root / "metrics/evaluate.json").read_text())["mean"]["iou"]
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["learning_rate"] = 0.001
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    metrics = json.loads((root / "metrics/evaluate.json").read_text())
    metrics["mean"]["iou"] = 0.5
    (root / "metrics/evaluate.json").write_text(json.dumps(metrics))
    return root, committed


@pytest.mark.slow
def test_runs_and_versions_are_read_with_their_metrics_and_differing_params(
    project, settings, monkeypatch
):
    root, committed = project
    runs = experiments.experiment_runs(root)
    assert [(r.name, r.kind) for r in runs][0] == ("workspace", "workspace")
    assert [r.kind for r in runs] == ["workspace", "baseline"]
    assert [r.metrics[MEAN] for r in runs] == [0.5, committed]
    assert experiments.differing_params(runs) == ["train.learning_rate"]
    [version] = experiments.version_rows(settings.config(), root)
    assert (version.name, version.kind, version.stages) == ("v0.1.0", "version", ["dev"])
    assert version.metrics[MEAN] == committed
    assert version.params["train.learning_rate"] == 0.005
    rows = experiments.table(runs + [version], [MEAN])
    assert [row["evaluate.json:mean.iou"] for row in rows] == [0.5, committed, committed]
    assert [row["train.learning_rate"] for row in rows] == [0.001, 0.005, 0.005]
    assert list(experiments.metric_series(runs + [version], MEAN).values()) == [
        0.5,
        committed,
        committed,
    ]
    # the page: both tables and the chart, no error
    chosen = dataclasses.replace(settings, root=str(root), params=str(root / "params.yaml"))
    monkeypatch.setenv(ENV_VAR, chosen.to_env())
    at = app_test("experiments.py")
    assert page_errors(at) == []
    assert len(at.dataframe) == 2
    assert list(at.dataframe[1].value["name"]) == ["v0.1.0"]
    assert at.selectbox(key="chart_metric").value == MEAN
    [chart] = at.get("vega_lite_chart")
    assert "evaluate.json:mean.iou" in chart.proto.spec


def test_without_dvc_the_page_says_so_in_one_line(settings, tmp_path, monkeypatch):
    with pytest.raises(StacksegError) as caught:
        experiments.experiment_runs(tmp_path)
    assert caught.value.problems == [
        f"experiments unavailable: {tmp_path} is not a DVC project (no .dvc folder): run `dvc init`"
    ]
    chosen = dataclasses.replace(settings, root=str(tmp_path))
    monkeypatch.setenv(ENV_VAR, chosen.to_env())
    at = app_test("experiments.py")
    errors = page_errors(at)
    assert errors[0] == caught.value.problems[0]
    assert errors[1].startswith("listing the versions of segmenter: ") or "git" in errors[1]


def test_default_metric_and_short_names():
    names = ["metrics/evaluate.json:per_class.disc.iou", MEAN]
    assert experiments.default_metric(names) == MEAN
    assert experiments.default_metric([]) is None
    assert experiments.short_metric(MEAN) == "evaluate.json:mean.iou"
    assert experiments.short_metric("mean.iou") == "mean.iou"
