"""MLflow end to end against a real `mlflow server` (tests/tracking/conftest.py): a tracked
train + evaluate on a copy of the session's trained project, registering it and loading it
back by alias, and a server that is down (one warning; `required: true` an error)."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml

from stackseg.config import config_from_dict
from stackseg.tracking import lineage
from stackseg.tracking.session import TrackingUnavailable, connect
from tests.conftest import run
from tests.tracking.conftest import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tracked(trained, mlflow_server, tmp_path_factory):
    """A copy of the trained project with tracking on, a DVC remote, one epoch of `stackseg
    train` under a DVC experiment name, then `stackseg evaluate`."""
    root = tmp_path_factory.mktemp("tracked") / "proj"
    shutil.copytree(trained.root, root, symlinks=True)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["train"]["epochs"] = 1
    params["tracking"]["mlflow"].update(enabled=True, uri=mlflow_server, experiment="tests")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["dvc", "remote", "add", "-d", "store", str(root.parent / "remote")], root)
    train = run(["stackseg", "train"], root, env={"DVC_EXP_NAME": "exp-tracked"})
    evaluate = run(["stackseg", "evaluate"], root)
    return root, config_from_dict(params), train.stderr + evaluate.stderr


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_train_and_evaluate_land_in_one_run(tracked, mlflow_server):
    root, cfg, log = tracked
    assert "MLflow at" not in log  # no warning: the server was there
    mlflow = client(mlflow_server)
    experiment = mlflow.get_experiment_by_name("tests")
    runs = mlflow.search_runs([experiment.experiment_id])
    assert len(runs) == 1  # evaluate found train's run instead of opening its own
    found = runs[0]
    card = json.loads((root / "models/model.json").read_text())
    model = root / "models/model.keras"
    assert found.info.run_name == "exp-tracked"
    assert found.info.status == "FINISHED"
    assert found.data.params["train.epochs"] == "1"
    assert found.data.params["train.loss"] == cfg.train.loss
    tags = found.data.tags
    assert tags[lineage.MODEL_SHA_TAG] == lineage.file_digest(model, "sha256")
    assert tags["stackseg.raw_data_sha256"] == card["lineage"]["raw_data_sha256"]
    assert tags["stackseg.prepared_data_sha256"] == card["lineage"]["prepared_data_sha256"]
    assert tags["stackseg.dvc_experiment"] == "exp-tracked"
    head = run(["git", "rev-parse", "HEAD"], root).stdout.strip()
    assert tags["stackseg.git_commit"] == head
    md5 = lineage.file_digest(model, "md5")
    remote = (root.parent / "remote").resolve()
    assert tags["stackseg.model_dvc_url"] == f"{remote}/files/md5/{md5[:2]}/{md5[2:]}"
    # per-epoch Keras logs, then evaluate's numbers
    assert [m.step for m in mlflow.get_metric_history(found.info.run_id, "loss")] == [1]
    document = json.loads((root / "metrics/evaluate.json").read_text())
    assert found.data.metrics["test.mean.iou"] == pytest.approx(document["mean"]["iou"])
    artifacts = {a.path for a in mlflow.list_artifacts(found.info.run_id)}
    assert {"card", "curves", "evaluate"} <= artifacts
    logged = Path(mlflow.download_artifacts(found.info.run_id, "card/model.json", str(root.parent)))
    assert logged.read_bytes() == (root / "models/model.json").read_bytes()


def test_register_then_infer_by_alias_gives_the_same_masks(tracked, mlflow_server, monkeypatch):
    from stackseg.infer import model as models
    from stackseg.infer import stage
    from stackseg.registry.mlflow_backend import register_mlflow

    root, cfg, _ = tracked
    monkeypatch.chdir(root)
    said: list[str] = []
    version = register_mlflow(cfg, root, "prod", "a one-epoch test model", said.append)
    assert any(line.startswith("  mean.iou ") for line in said)  # the gate's checks
    assert version.tags["stackseg.manual_reason"] == "a one-epoch test model"
    files = models.mlflow_model(f"models:/{cfg.registry.artifact}@champion", cfg)
    assert files.keras.read_bytes() == (root / "models/model.keras").read_bytes()
    assert files.card.read_bytes() == (root / "models/model.json").read_bytes()
    # the version is also a valid mlflow.keras model folder (MLmodel beside data/)
    assert "keras:" in (files.keras.parent.parent / "MLmodel").read_text()
    outputs = {}
    for name, chosen in (("workspace", models.workspace_model(cfg)), ("mlflow", files)):
        options = stage.Options(
            inputs=[str(root / "data/raw/images")],
            out=root.parent / f"out-{name}",
            backend="keras",
            format="index",
            png=False,
            overlays=False,
            probabilities=False,
            batch_size=8,
            threads=0,
        )
        stage.run(cfg, options, chosen)
        outputs[name] = sorted((root.parent / f"out-{name}").rglob("*.tif"))
    assert outputs["workspace"], "infer wrote no masks"
    for ours, theirs in zip(outputs["workspace"], outputs["mlflow"], strict=True):
        assert np.array_equal(tifffile.imread(ours), tifffile.imread(theirs))


def test_unreachable_server_is_one_warning_or_with_required_an_error(caplog):
    from stackseg.config import MlflowConfig

    dead = f"http://127.0.0.1:{free_port()}"
    settings = MlflowConfig(enabled=True, uri=dead, experiment="x", required=False)
    with caplog.at_level(logging.WARNING):
        assert connect(settings, Path.cwd(), "this run is") is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and dead in warnings[0].getMessage()
    required = settings.model_copy(update={"required": True})
    with pytest.raises(TrackingUnavailable) as error:
        connect(required, Path.cwd(), "this run is")
    assert len(error.value.problems) == 1 and "required" in error.value.problems[0]
