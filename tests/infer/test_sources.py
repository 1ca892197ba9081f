"""Inputs of `stackseg infer`: discovery, and a uint16 stack scaled exactly as prepare
scales it (the window prepare recorded in its manifest)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from stackseg.cli import main
from stackseg.contracts import read_manifest
from stackseg.errors import InputDataError
from stackseg.infer import sources
from stackseg.prepare.scaling import Scaler
from tests.conftest import make_project, run, tiny_params


def test_folders_expand_to_their_images_sorted_and_names_must_differ(tmp_path):
    for name in ("b.tif", "a.png", "c.JPG", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    found = sources.find_inputs([str(tmp_path)])
    assert [p.name for p in found] == ["a.png", "b.tif", "c.JPG"]
    with pytest.raises(InputDataError, match="not an image file"):
        sources.find_inputs([str(tmp_path / "notes.txt")])
    with pytest.raises(InputDataError, match="not found"):
        sources.find_inputs([str(tmp_path / "gone.tif")])
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.tif").write_bytes(b"x")
    with pytest.raises(InputDataError, match="same output name 'a'"):
        sources.check_unique_names([tmp_path / "a.png", tmp_path / "sub" / "a.tif"])
    assert sources.output_name(Path("x/cells.ome.tif")) == "cells.ome"


@pytest.mark.slow
def test_a_uint16_stack_gets_prepares_window(tmp_path, model_dir, trained, capsys):
    project = make_project(tmp_path / "p", tiny_params(synth={"dtype": "uint16", "stacks": 3}))
    run(["stackseg", "prepare"], project)
    manifest = read_manifest(project / "data/prepared")
    name, record = next(iter(manifest.stacks.items()))
    assert record.scaling.method == "percentile"
    raw = project / "data/raw" / record.image
    params = tiny_params()["prepare"]
    reader = sources.open_input(raw)
    window = sources.stack_window(
        raw, reader, params["scale_low_percentile"], params["scale_high_percentile"]
    )
    assert (window.low, window.high) == (record.scaling.low, record.scaling.high)
    ours = list(sources.scaled_frames(raw, reader, Scaler(reader.dtype, window)))
    reader.close()
    assert ours[0].dtype == np.uint8 and len(ours) == record.frames
    out = tmp_path / "out"
    args = ["infer", "--params", str(project / "params.yaml"), str(raw), "--out", str(out)]
    args += ["--model", str(model_dir / "model.keras"), "--backend", "keras"]
    capsys.readouterr()
    assert main(args) == 0
    # both passes show progress: the statistics (one pass for uint16), then the frames
    err = capsys.readouterr().err
    frames = record.frames
    assert f"infer {raw.name}: scaling statistics: {frames}/{frames} frames" in err
    assert f"infer {raw.name}: {frames}/{frames} frames" in err
    sidecar = json.loads((out / f"{raw.stem}.infer.json").read_text())
    assert sidecar["input"]["dtype"] == "uint16"
    assert sidecar["input"]["scaling"] == record.scaling.model_dump(mode="json", exclude_none=True)
