"""Every plot of `dvc plots diff BASE` as PNG/image files.

Vega plots (training curves, per-class metrics, confusion, PR curves) are rendered from
DVC's own filled Vega-Lite specs, one chart per plot holding both revisions coloured by
revision (side "both"); plots under a `detail_prefixes` directory (dvclive's one curve per
metric and class) are flagged so the report can collapse them. Image plots (the best/worst overlays, git-tracked with
`cache: false`) are the files DVC itself exports for each revision. Plot ids and their
order come from dvc.yaml, so new plots appear in the report without touching this code.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from stackseg.errors import StacksegError
from stackseg.progress import progress
from stackseg.report.dvc_cli import dvc_json
from stackseg.report.revisions import BaseRevision
from stackseg.report.vega import label_revisions, render_png

log = logging.getLogger(__name__)

WORKSPACE = "workspace"  # DVC's name for the working tree
SIDES = ("base", "pr")
BOTH = "both"  # a Vega chart drawing base and PR together
MAX_SLUG = 60


@dataclass
class PlotImages:
    plot_id: str
    kind: str  # "vega" | "image"
    slug: str  # file-name stem shared by both sides
    files: dict[str, Path] = field(default_factory=dict)  # side -> written file
    detail: bool = False  # one of many per-metric curves: shown collapsed


@dataclass
class ExportedPlots:
    vega: list[PlotImages]
    images: list[PlotImages]
    problems: list[str]


def slugify(text: str, taken: set[str]) -> str:
    """A short file-name-safe slug, unique within `taken` (which it updates)."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "plot"
    if len(slug) > MAX_SLUG:
        slug = slug[-MAX_SLUG:].lstrip("-")
    if slug in taken:
        slug = f"{slug}-{hashlib.sha1(text.encode()).hexdigest()[:6]}"
    while slug in taken:
        slug += "-x"
    taken.add(slug)
    return slug


def _side(rev: str, base: BaseRevision) -> str | None:
    if rev == WORKSPACE:
        return "pr"
    return "base" if rev == base.ref else None


def _problem_lines(errors: list, base: BaseRevision, limit: int = 5) -> list[str]:
    lines = []
    for err in errors:
        if not isinstance(err, dict):
            continue
        rev = err.get("rev") or WORKSPACE
        if rev == base.ref and not base.has_results:
            continue  # already explained: the base has no results at all
        what = err.get("name") or err.get("source") or "plots"
        message = str(err.get("msg") or err.get("type") or "error").splitlines()[0]
        lines.append(f"DVC could not read `{what}` at `{rev}`: {message}")
    extra = len(lines) - limit
    return lines[:limit] + ([f"... and {extra} more plot errors"] if extra > 0 else [])


def export_plots(
    base: BaseRevision,
    cwd: Path,
    out_dir: Path,
    scratch: Path,
    labels: dict[str, str],
    detail_prefixes: tuple[str, ...] = (),
) -> ExportedPlots:
    """Write one image per Vega plot (both revisions) and per image plot and side into
    out_dir; scratch is for DVC's own export."""
    data = dvc_json(["plots", "diff", base.ref, "-o", str(scratch)], cwd)
    taken: set[str] = set()
    vega: list[PlotImages] = []
    to_render: list[tuple[PlotImages, dict]] = []  # (plot, filled Vega-Lite spec)
    images: dict[str, PlotImages] = {}
    problems = _problem_lines(data.get("errors") or [], base)
    for plot_id, entries in (data.get("data") or {}).items():
        for entry in entries or []:
            kind = entry.get("type")
            if kind == "vega" and isinstance(entry.get("content"), dict):
                detail = any(plot_id.startswith(f"{p.rstrip('/')}/") for p in detail_prefixes)
                plot = PlotImages(plot_id, "vega", slugify(plot_id, taken), detail=detail)
                to_render.append((plot, label_revisions(entry["content"], labels)))
                vega.append(plot)
            elif kind == "image" and entry.get("url"):
                revs = entry.get("revisions") or []
                side = _side(str(revs[0]), base) if revs else None
                source = Path(entry["url"])
                if side is None or not source.is_file():
                    continue
                if plot_id not in images:
                    images[plot_id] = PlotImages(plot_id, "image", slugify(plot_id, taken))
                plot = images[plot_id]
                target = out_dir / f"{plot.slug}.{side}{source.suffix.lower()}"
                shutil.copyfile(source, target)
                plot.files[side] = target
    # rendering the Vega-Lite specs is the slow part of the report: show its progress
    with progress(len(to_render), "report", "plot") as bar:
        for plot, spec in to_render:
            try:
                png = render_png(spec)
            except StacksegError as exc:
                problems.append(f"`{plot.plot_id}`: {exc.problems[0]}")
            else:
                target = out_dir / f"{plot.slug}.png"
                target.write_bytes(png)
                plot.files[BOTH] = target
            bar.update(1)
    log.info("exported %d vega plots and %d image plots", len(vega), len(images))
    return ExportedPlots(vega=vega, images=list(images.values()), problems=problems)
