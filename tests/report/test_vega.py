"""DVC's Vega-Lite specs with both revisions in one chart, renamed; offline PNG rendering."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from stackseg.errors import StacksegError
from stackseg.report.vega import label_revisions, render_png, revisions_in, vegalite_version


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


def colour_scale_spec() -> dict:
    # DVC's filled spec lists the revisions in the colour scale's domain
    spec = line_spec()
    spec["encoding"]["color"] = {
        "field": "rev",
        "scale": {"domain": ["workspace", "main"], "range": ["#945dd6", "#13adc7"]},
    }
    return spec


def test_both_revisions_stay_in_one_spec_under_readable_names():
    spec = colour_scale_spec()
    labelled = label_revisions(spec, {"main": "base main (abc12345)"})
    assert revisions_in(labelled) == ["workspace", "base main (abc12345)"]
    assert len(labelled["data"]["values"]) == 7  # every row of both revisions
    assert labelled["encoding"]["color"]["scale"]["domain"] == ["workspace", "base main (abc12345)"]
    # colours stay paired with their revisions; the input is not modified
    assert labelled["encoding"]["color"]["scale"]["range"] == ["#945dd6", "#13adc7"]
    assert revisions_in(spec) == ["workspace", "main"]


def test_one_chart_draws_both_revisions_in_their_colours():
    spec = colour_scale_spec()
    spec["layer"] = spec["layer"][:1]  # lines only: the colours are the two revisions'
    png = render_png(label_revisions(spec, {"main": "base"}), scale=1.0)
    with Image.open(io.BytesIO(png)) as image:
        colours = {rgb for _, rgb in image.convert("RGB").getcolors(1 << 20)}
    assert (0x94, 0x5D, 0xD6) in colours and (0x13, 0xAD, 0xC7) in colours


def test_vegalite_version_matches_the_specs_major_version():
    available = ["5.8", "5.14", "5.21", "6.1", "6.4"]
    assert vegalite_version(line_spec(), available) == "5.21"
    assert (
        vegalite_version({"$schema": "https://vega.github.io/schema/vega-lite/v6.json"}, available)
        == "6.4"
    )
    assert vegalite_version({}, available) is None


def test_render_png_gives_a_valid_image_offline():
    png = render_png(line_spec(), scale=1.0)
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.width > 100 and image.height > 100


def test_render_refuses_external_data():
    spec = {"data": {"url": "https://example.com/data.csv"}, "mark": "point"}
    with pytest.raises(StacksegError, match="could not render plot: .*not allowed"):
        render_png(spec)
