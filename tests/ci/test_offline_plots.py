"""`dvc plots show/diff` HTML that renders offline (issue 15): the project's template
(.dvc/plots/offline.html, plots.html_template in .dvc/config) inlines Vega, Vega-Lite and
vega-embed from their pinned npm packages, so a page opened with no network draws every
chart. Checked in real headless Chromium (Debian's, driven by Playwright) with every network
request refused: each chart's canvas must hold drawn pixels. DVC's own page is the control:
offline, its charts stay blank.
"""

from __future__ import annotations

import configparser
import contextlib
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, run

TEMPLATE = ROOT / ".dvc" / "plots" / "offline.html"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# each chart's pixels, in the page: {chart id: how many are not transparent}; an empty
# chart (no data rows) gets a 0 x 0 canvas
DRAWN_PIXELS = """() => Object.fromEntries(Array.from(document.querySelectorAll('canvas')).map(c => {
    let n = 0;
    if (c.width && c.height) {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    }
    return [c.closest('div[id]').id, n]; }))"""
# instance-label data only: an empty chart for the demo's channel masks; and the drift
# stage's plots, which the `trained` fixture (through evaluate) does not run
EMPTY_FOR_THE_DEMO = {
    "plots_evaluate_objects_f1_json",
    "plots_drift_histogram_json",
    "plots_drift_scores_json",
}


def test_the_template_is_what_the_script_writes_from_the_pinned_packages():
    if not (ROOT / "node_modules" / "vega-embed").is_dir():
        pytest.fail("vega-embed is not installed: run `npm ci` (`make test` does it)")
    done = subprocess.run(
        ["node", "scripts/plots-template.mjs", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    page = TEMPLATE.read_text()
    assert "{plot_divs}" in page and "{scripts}" not in page  # DVC's CDN tags are dropped
    assert "cdn.jsdelivr" not in page and "<script src=" not in page


def test_the_repository_config_uses_the_template():
    config = configparser.ConfigParser()
    config.read(ROOT / ".dvc" / "config")
    # relative to .dvc/, as DVC resolves it
    assert (ROOT / ".dvc" / config["plots"]["html_template"]).resolve() == TEMPLATE


def _render(browser, page: Path, wait_ms: int) -> tuple[int, dict[str, int], list[str]]:
    """(charts in the page, drawn pixels per canvas, network requests tried), offline,
    after every chart has a canvas or `wait_ms`."""
    charts = len(re.findall(r"vegaEmbed\('#", page.read_text()))
    tried: list[str] = []
    tab = browser.new_page()

    def refuse(route) -> None:
        tried.append(route.request.url)
        route.abort()

    tab.route(re.compile(r"^https?://"), refuse)
    tab.goto(page.as_uri())  # returns after the load event: every script has run
    from playwright.sync_api import TimeoutError as Late

    with contextlib.suppress(Late):  # the canvases are counted below either way
        tab.wait_for_function(
            f"document.querySelectorAll('canvas').length >= {charts}", timeout=wait_ms
        )
    drawn = tab.evaluate(DRAWN_PIXELS)
    tab.close()
    return charts, drawn, tried


@pytest.mark.slow
def test_dvc_plots_show_draws_every_chart_offline(trained, tmp_path: Path):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make test` installs it (or set CHROMIUM)")
    project = tmp_path / "project"
    shutil.copytree(trained.root, project, symlinks=True)
    run(["dvc", "config", "plots.html_template", "plots/offline.html"], project)
    shutil.copy(TEMPLATE, project / ".dvc" / "plots" / "offline.html")
    run(["dvc", "plots", "show", "-o", "ours"], project)
    # the control: DVC's own page
    run(["dvc", "config", "--unset", "plots.html_template"], project)
    run(["dvc", "plots", "show", "-o", "theirs"], project)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            ours = _render(browser, project / "ours" / "index.html", wait_ms=30_000)
            # its CDN scripts failed before the load event; 3 s more for anything late
            theirs = _render(browser, project / "theirs" / "index.html", wait_ms=3_000)
        finally:
            browser.close()
    charts, drawn, tried = ours
    assert charts >= 5, charts  # the training curves and evaluate's plots
    assert len(drawn) == charts, drawn  # one canvas per chart
    assert all(n > 1000 for chart, n in drawn.items() if chart not in EMPTY_FOR_THE_DEMO), drawn
    assert tried == []  # nothing fetched: the overlay images are local files
    charts, drawn, tried = theirs  # offline, DVC's own page draws nothing
    assert charts >= 5 and drawn == {} and any("cdn.jsdelivr.net" in url for url in tried)
