"""Markdown tables from `dvc params diff --json` and `dvc metrics diff --json`.

Both commands print {file: {dotted.key: {"old": ..., "new": ..., "diff": ...}}}; the tables
put the base revision's value next to the workspace's, one row per key.
"""

from __future__ import annotations

import json
import math

MISSING = "—"


def format_value(value: object) -> str:
    """A table cell: floats to 5 significant digits, lists/mappings as compact JSON."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.5g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def format_change(entry: dict) -> str:
    diff = entry.get("diff")
    if isinstance(diff, bool) or not isinstance(diff, (int, float)):
        return ""
    if diff == 0:
        return "0"
    return f"{diff:+.5g}" if isinstance(diff, float) else f"{diff:+d}"


def _cell(text: str) -> str:
    # a `|` inside a value would end the cell early
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(diff: dict) -> list[tuple[str, str, dict]]:
    rows = []
    for path in sorted(diff):
        keys = diff[path] or {}
        for key in sorted(keys):
            entry = keys[key] if isinstance(keys[key], dict) else {}
            rows.append((path, key, entry))
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def params_table(diff: dict, base_label: str, new_label: str) -> list[str]:
    """Changed params (what `dvc params diff` lists); empty list when nothing changed."""
    rows = [
        [path, key, format_value(entry.get("old")), format_value(entry.get("new"))]
        for path, key, entry in _rows(diff)
    ]
    return _table(["File", "Param", base_label, new_label], rows) if rows else []


def _metric_row(path: str, key: str, entry: dict) -> list[str]:
    old, new = entry.get("old"), entry.get("new")
    return [path, key, format_value(old), format_value(new), format_change(entry)]


def metrics_table(diff: dict, base_label: str, new_label: str) -> list[str]:
    """Metrics that differ between the sides in a table; unchanged ones in a collapsed one.

    `diff` is `dvc metrics diff --all --json` output (unchanged metrics included).
    """
    header = ["File", "Metric", base_label, new_label, "Change"]
    changed: list[list[str]] = []
    same: list[list[str]] = []
    for path, key, entry in _rows(diff):
        unchanged = entry.get("old") is not None and entry.get("old") == entry.get("new")
        (same if unchanged else changed).append(_metric_row(path, key, entry))
    if not changed and not same:
        return []
    lines = _table(header, changed) if changed else ["_No metric changed._"]
    if same:
        summary = f"{len(same)} unchanged metric{'s' if len(same) > 1 else ''}"
        lines += [
            "",
            f"<details><summary>{summary}</summary>",
            "",
            *_table(header, same),
            "",
            "</details>",
        ]
    return lines


def has_side(diff: dict, side: str) -> bool:
    """True when at least one value exists on that side ("old" = base, "new" = workspace)."""
    return any(entry.get(side) is not None for _, _, entry in _rows(diff))
