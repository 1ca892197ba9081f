"""Splitting DVC's Vega-Lite specs per revision, shared axes, offline PNG rendering."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from stackseg.errors import StacksegError
from stackseg.report.vega import (
    render_png,
    revisions_in,
    share_axis_domains,
    split_by_revision,
    vegalite_version,
)


def line_spec() -> dict:
    # the shape of DVC's filled `linear` template: layered, quantitative x/y, rows tagged by rev
    rows = [{"step": s, "loss": 1.0 - 0.1 * s, "rev": "workspace"} for s in range(4)]
    rows += [{"step": s, "loss": 2.0 - 0.1 * s, "rev": "main"} for s in range(3)]
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "data": {"values": rows},
        "title": {"text": "Loss", "anchor": "middle"},
        "encoding": {"x": {"field": "step", "type": "quantitative"}},
        "layer": [
            {
                "mark": "line",
                "encoding": {
                    "y": {"field": "loss", "type": "quantitative", "scale": {"zero": False}},
                    "color": {"field": "rev", "type": "nominal"},
                },
            },
            {
                "mark": {"type": "circle"},
                "encoding": {"y": {"field": "loss", "type": "quantitative", "aggregate": "max"}},
            },
        ],
    }


def test_split_keeps_each_revisions_rows_and_labels_it():
    parts = split_by_revision(line_spec(), {"main": "base main (abc)"})
    assert set(parts) == {"workspace", "main"}
    assert {row["rev"] for row in parts["main"]["data"]["values"]} == {"main"}
    assert len(parts["workspace"]["data"]["values"]) == 4
    assert parts["main"]["title"] == {
        "text": "Loss",
        "anchor": "middle",
        "subtitle": "base main (abc)",
    }
    assert parts["workspace"]["title"]["subtitle"] == "workspace"
    assert revisions_in(line_spec()) == ["workspace", "main"]


def test_both_sides_share_axis_domains_over_all_revisions():
    parts = split_by_revision(line_spec(), {})
    for part in parts.values():
        assert part["encoding"]["x"]["scale"]["domain"] == [0.0, 3.0]
        assert part["layer"][0]["encoding"]["y"]["scale"] == {"zero": False, "domain": [0.7, 2.0]}
        # aggregated encodings are left to Vega-Lite
        assert "scale" not in part["layer"][1]["encoding"]["y"]


def test_bar_domains_include_zero():
    spec = {
        "data": {
            "values": [
                {"iou": 0.6, "label": "a", "rev": "w"},
                {"iou": 0.8, "label": "b", "rev": "m"},
            ]
        },
        "mark": {"type": "bar"},
        "encoding": {
            "x": {"field": "iou", "type": "quantitative"},
            "y": {"field": "label", "type": "nominal"},
        },
    }
    shared = share_axis_domains(spec)
    assert shared["encoding"]["x"]["scale"]["domain"] == [0.0, 0.8]
    assert "scale" not in shared["encoding"]["y"]
    assert "scale" not in spec["encoding"]["x"]  # the input is not modified


def test_vegalite_version_matches_the_specs_major_version():
    available = ["5.8", "5.14", "5.21", "6.1", "6.4"]
    assert vegalite_version(line_spec(), available) == "5.21"
    assert (
        vegalite_version({"$schema": "https://vega.github.io/schema/vega-lite/v6.json"}, available)
        == "6.4"
    )
    assert vegalite_version({}, available) is None


def test_render_png_gives_a_valid_image_offline():
    png = render_png(split_by_revision(line_spec(), {})["main"], scale=1.0)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.width > 100 and image.height > 100


def test_render_refuses_external_data():
    spec = {"data": {"url": "https://example.com/data.csv"}, "mark": "point"}
    with pytest.raises(StacksegError, match="could not render plot: .*not allowed"):
        render_png(spec)
