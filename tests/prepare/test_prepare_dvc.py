"""`dvc repro prepare` for real, in a throw-away git + DVC project on tiny demo data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import yaml

from tests.conftest import make_project, run, tiny_params


@pytest.mark.slow
def test_dvc_repro_prepare_then_an_incremental_rerun(tmp_path):
    params = tiny_params()
    project = make_project(tmp_path / "proj", params)
    run(["dvc", "repro", "prepare"], project)

    prepared = project / params["paths"]["prepared"]
    manifest = json.loads((prepared / "manifest.json").read_text())
    stacks, frames = params["synth"]["stacks"], params["synth"]["frames"]
    assert len(manifest["pairs"]) == stacks * frames
    assert manifest["classes"] == params["classes"]
    assert {pair["split"] for pair in manifest["pairs"]} == {"train", "val", "test"}
    for pair in manifest["pairs"]:
        assert (prepared / pair["image"]).is_file() and (prepared / pair["mask"]).is_file()
        assert (pair["height"], pair["width"]) == (
            params["synth"]["height"],
            params["synth"]["width"],
        )

    lock = yaml.safe_load((project / "dvc.lock").read_text())
    stage = lock["stages"]["prepare"]
    assert stage["cmd"] == "stackseg prepare"
    [out] = stage["outs"]
    assert out["path"] == params["paths"]["prepared"] and out["md5"].endswith(".dir")
    assert out["nfiles"] == 2 * stacks * frames + 1
    assert stage["params"]["params.yaml"]["prepare"]["jpeg_quality"] == 95

    # byte-code Python writes next to the code is not a code change (.dvcignore): it differs
    # from machine to machine
    cache = project / "src" / "stackseg" / "prepare" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "stage.cpython-311.pyc").write_bytes(b"\x00" * 16)
    assert "changed" not in run(["dvc", "status", "prepare"], project).stdout

    # change one raw stack: DVC reruns the stage, which redoes only that stack
    mask_path = sorted((project / params["paths"]["raw"] / "masks").glob("*.tif"))[0]
    masks = tifffile.imread(mask_path)
    tifffile.imwrite(mask_path, np.zeros_like(masks), photometric="rgb")
    rerun = run(["dvc", "repro", "prepare"], project)
    assert f"(1 stacks redone, {stacks - 1} unchanged)" in rerun.stdout + rerun.stderr
    changed = json.loads((prepared / "manifest.json").read_text())
    assert (
        changed["stacks"][mask_path.stem]["source_hash"]
        != (manifest["stacks"][mask_path.stem]["source_hash"])
    )
    assert (
        yaml.safe_load((project / "dvc.lock").read_text())["stages"]["prepare"]["outs"][0]["md5"]
        != out["md5"]
    )
