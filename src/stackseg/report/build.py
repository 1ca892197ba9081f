"""`stackseg report`: what a change did to the model, as one Markdown file plus images.

Base revision vs workspace: first the headline (test mean IoU and per-class IoU, base ->
PR, each with a "beyond noise" / "within noise" verdict against the base's seed spread,
stackseg.report.headline), then the `dvc metrics diff` and `dvc params diff` tables, every
Vega plot rendered to PNG with both revisions in one chart (dvclive's per-metric curves
collapsed), and the image plots (best/worst overlays) of both sides. Image links are relative to the report file, so `cml comment ... --publish` uploads
them. A base revision that does not exist is an error; one that exists but holds no results
yet (no dvc.lock: the project's first PR) gives a workspace-only report with a note.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from stackseg import atomic
from stackseg.errors import StacksegError
from stackseg.report.dvc_cli import dvc_json
from stackseg.report.headline import find_estimate, headline_section_lines
from stackseg.report.markdown import (
    COMMENT_LIMIT,
    Assembled,
    Section,
    assemble,
    budget_for,
    image_cell,
)
from stackseg.report.noise import NoiseEstimate
from stackseg.report.plots import BOTH, ExportedPlots, PlotImages, export_plots
from stackseg.report.revisions import BaseRevision, resolve_base, workspace_description
from stackseg.report.tables import has_side, metrics_table, params_table

log = logging.getLogger(__name__)

MARKER = ".stackseg-report"  # marks an images directory this command may replace


@dataclass(frozen=True)
class ReportOptions:
    base: str
    out: Path = Path("report.md")
    images_dir: Path = Path("report")
    images: bool = True
    notes: tuple[str, ...] = ()
    max_chars: int = COMMENT_LIMIT
    text_out: Path | None = None  # also write a text-only version (job summaries)
    # the headline: params `classes`, `paths.evaluate_metrics`, `report.noise_k`
    classes: tuple[str, ...] = ()
    metrics_file: str = "metrics/evaluate.json"
    noise_k: float = 3.0
    # dvclive's directory (params `paths.train_live`): its one-curve-per-file plots collapse
    detail_prefixes: tuple[str, ...] = ()
    # the commit whose noise estimate the verdicts use, when `base` is not it (a base
    # retrained on the CI runner is a temporary commit on top of it); None: `base`
    noise_base: str | None = None


def _display_names(plots: list[PlotImages]) -> list[str]:
    # top-level dvc.yaml plots are ids like "dvc.yaml::Loss": show "Loss" unless ambiguous
    short = [plot.plot_id.split("::", 1)[-1] for plot in plots]
    return [
        name if short.count(name) == 1 else plot.plot_id
        for name, plot in zip(short, plots, strict=True)
    ]


def _image_rows(
    plots: list[PlotImages], base: BaseRevision, out_dir: Path, final_dir: Path
) -> list[str]:
    lines = [f"| Plot | base `{base.label}` | workspace |", "|---|---|---|"]
    for name, plot in zip(_display_names(plots), plots, strict=True):
        cells = []
        for side, alt in (("base", "base"), ("pr", "workspace")):
            written = plot.files.get(side)
            rel = None
            if written is not None:
                rel = Path(os.path.relpath(final_dir / written.name, out_dir)).as_posix()
            cells.append(image_cell(alt, rel, missing="— (not available)"))
        lines.append(f"| `{name}` | {cells[0]} | {cells[1]} |")
    return lines


GRID_COLUMNS = 2


def _vega_grid(plots: list[PlotImages], out_dir: Path, final_dir: Path) -> list[str]:
    """Charts two to a row (each with both revisions): half the scrolling of one per row."""
    cells = []
    for name, plot in zip(_display_names(plots), plots, strict=True):
        written = plot.files.get(BOTH)
        rel = None
        if written is not None:
            rel = Path(os.path.relpath(final_dir / written.name, out_dir)).as_posix()
        image = image_cell(name, rel, missing="— (not rendered)")
        cells.append(f"**{name.replace('|', '/')}**<br>{image}")
    lines = ["|" + " |" * GRID_COLUMNS, "|" + "---|" * GRID_COLUMNS]
    for start in range(0, len(cells), GRID_COLUMNS):
        row = cells[start : start + GRID_COLUMNS]
        row += [""] * (GRID_COLUMNS - len(row))
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _plot_lines(exported: ExportedPlots, out_dir: Path, final_dir: Path) -> list[str]:
    main = [plot for plot in exported.vega if not plot.detail]
    detail = [plot for plot in exported.vega if plot.detail]
    if not exported.vega:
        lines = ["_No plots._"]
    else:
        lines = ["Base and workspace in one chart each, coloured by revision.", ""]
        lines += _vega_grid(main, out_dir, final_dir) if main else []
    if detail:
        summary = f"Training curves, one per metric and class ({len(detail)} plots)"
        lines += ["", f"<details><summary>{summary}</summary>", ""]
        lines += [*_vega_grid(detail, out_dir, final_dir), "", "</details>"]
    if exported.problems:
        lines += ["", *[f"- {problem}" for problem in exported.problems]]
    return lines


def _notes(base: BaseRevision, metrics: dict, options: ReportOptions) -> list[str]:
    notes = list(options.notes)
    if not base.has_results:
        notes.append(
            f"Base {base.described} has no dvc.lock: nothing was run there yet, "
            "so this report shows the workspace's results only."
        )
    elif not has_side(metrics, "old"):
        notes.append(f"Base {base.described} has no committed metrics to compare with.")
    return notes


def build_sections(
    base: BaseRevision,
    metrics: dict,
    params: dict,
    exported: ExportedPlots | None,
    out_dir: Path,
    final_dir: Path,
    headline: list[str] | None = None,
) -> list[Section]:
    base_label = f"base `{base.label}`"
    sections = [Section("Headline metrics", headline)] if headline else []
    sections += [
        Section("Metrics", metrics_table(metrics, base_label, "workspace")),
        Section(
            "Params", params_table(params, base_label, "workspace") or ["_No parameter changes._"]
        ),
    ]
    if exported is not None:
        sections.append(Section("Plots", _plot_lines(exported, out_dir, final_dir)))
        if exported.images:
            sections.append(
                Section("Images", _image_rows(exported.images, base, out_dir, final_dir))
            )
    return sections


def _check_images_dir(images_dir: Path) -> None:
    if images_dir.is_dir() and any(images_dir.iterdir()) and not (images_dir / MARKER).exists():
        raise StacksegError(
            f"{images_dir}: exists and was not written by `stackseg report`; "
            "pass another --images-dir (its contents would be replaced)"
        )
    if images_dir.exists() and not images_dir.is_dir():
        raise StacksegError(
            f"{images_dir}: exists and is not a directory; pass another --images-dir"
        )


def _write_text(path: Path, text: str) -> None:
    atomic.write_bytes(path, text.encode("utf-8"))


def _absolute(path: Path, cwd: Path) -> Path:
    return path if path.is_absolute() else cwd / path


def write_report(options: ReportOptions, cwd: Path | None = None) -> Assembled:
    """Build the report; write options.out (and options.images_dir) only when all succeeded."""
    cwd = Path(cwd or Path.cwd())
    out = _absolute(options.out, cwd)
    images_dir = _absolute(options.images_dir, cwd)
    if options.images:
        _check_images_dir(images_dir)

    base = resolve_base(options.base, cwd)
    if not base.has_results:
        log.warning(
            "base %r has no dvc.lock (no results yet): reporting the workspace only", base.ref
        )
    metrics = dvc_json(["metrics", "diff", base.ref, "--all"], cwd)
    if not has_side(metrics, "new"):
        raise StacksegError(
            "the workspace has no metrics: run `dvc repro` first "
            "(the report compares results, it does not compute them)"
        )
    params = dvc_json(["params", "diff", base.ref], cwd)
    notes = _notes(base, metrics, options)
    budget = budget_for(options.max_chars)
    hint = f"Run `stackseg report --base {base.ref}` locally for the full report."
    intro = f"Base {base.described} compared with the workspace {workspace_description(cwd)}."
    headline = _headline(base, metrics, options, cwd)

    def text_only(why: str) -> Assembled:
        header = ["## stackseg report", "", intro, "", *[f"> {n}" for n in [*notes, why]]]
        sections = build_sections(base, metrics, params, None, out.parent, images_dir, headline)
        return assemble(header, sections, budget, hint)

    if options.images:
        header = ["## stackseg report", "", intro]
        header += ["", *[f"> {note}" for note in notes]] if notes else []
        result = _write_with_images(
            base, cwd, (metrics, params, headline), header, hint, options, out, images_dir
        )
    else:
        result = text_only("Plots and images left out (`--no-images`).")
        _write_text(out, result.text)
    if options.text_out is not None:
        text = text_only(f"Text-only version: plots and images are in {options.out.name}.")
        _write_text(_absolute(options.text_out, cwd), text.text)
    if result.truncated:
        log.warning(
            "report truncated to fit %d characters (%d lines left out)",
            options.max_chars,
            result.omitted_lines,
        )
    log.info("wrote %s", out)
    return result


def _headline(
    base: BaseRevision, metrics: dict, options: ReportOptions, cwd: Path
) -> list[str] | None:
    """The headline section's lines; None when no classes were given (nothing to judge)."""
    if not options.classes:
        return None
    estimate: NoiseEstimate | None = None
    why = f"base `{base.short}` has no results"
    if base.has_results:
        noise_base = resolve_base(options.noise_base, cwd) if options.noise_base else base
        estimate, why = find_estimate(cwd, noise_base)
    return headline_section_lines(
        base, metrics, list(options.classes), options.metrics_file, options.noise_k, estimate, why
    )


def _write_with_images(
    base: BaseRevision,
    cwd: Path,
    tables: tuple[dict, dict, list[str] | None],  # metrics diff, params diff, headline
    header: list[str],
    hint: str,
    options: ReportOptions,
    out: Path,
    images_dir: Path,
) -> Assembled:
    """Render into a staging directory; swap it in and write the report only on success."""
    atomic.remove_stale(images_dir)  # left by a report killed with SIGKILL
    with atomic.replacing(images_dir, directory=True) as staging:
        (staging / MARKER).write_text("written by `stackseg report`; replaced on each run\n")
        with tempfile.TemporaryDirectory(prefix="stackseg-dvc-plots-") as scratch:
            labels = {base.ref: f"base {base.label} ({base.short})", "workspace": "workspace"}
            exported = export_plots(
                base, cwd, staging, Path(scratch), labels, options.detail_prefixes
            )
        metrics, params, headline = tables
        sections = build_sections(base, metrics, params, exported, out.parent, images_dir, headline)
        result = assemble(header, sections, budget_for(options.max_chars), hint)
    _write_text(out, result.text)
    return result
