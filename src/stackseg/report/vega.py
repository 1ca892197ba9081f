"""DVC's filled Vega-Lite specs, split per revision and rendered to PNG offline.

`dvc plots diff --json` returns, per plot, one Vega-Lite spec whose inline data holds the
rows of every revision (field `rev`). The report shows base and PR side by side, so each
spec is split into one spec per revision; both halves get the same x/y domains so their
axes line up and the images can be compared by eye. Rendering uses vl-convert (Vega
bundled in a Rust extension): no browser, no CDN, and network access refused outright.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterator

from stackseg.errors import StacksegError

REV_FIELD = "rev"
PNG_SCALE = 1.5


def revisions_in(spec: dict) -> list[str]:
    seen: dict[str, None] = {}
    for row in _values(spec):
        if isinstance(row, dict) and REV_FIELD in row:
            seen.setdefault(str(row[REV_FIELD]), None)
    return list(seen)


def _values(spec: dict) -> list:
    data = spec.get("data")
    values = data.get("values") if isinstance(data, dict) else None
    return values if isinstance(values, list) else []


def _walk(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _has_bar_mark(spec: dict) -> bool:
    for node in _walk(spec):
        mark = node.get("mark")
        kind = mark.get("type") if isinstance(mark, dict) else mark
        if kind == "bar":
            return True
    return False


def _numeric_extent(rows: list, field: str) -> tuple[float, float] | None:
    numbers = [
        float(row[field])
        for row in rows
        if isinstance(row, dict)
        and isinstance(row.get(field), (int, float))
        and not isinstance(row.get(field), bool)
        and math.isfinite(row[field])
    ]
    return (min(numbers), max(numbers)) if numbers else None


def share_axis_domains(spec: dict) -> dict:
    """Fix every plain quantitative x/y encoding's domain to the extent over all revisions."""
    out = copy.deepcopy(spec)
    rows = _values(out)
    include_zero = _has_bar_mark(out)
    for node in _walk(out):
        encoding = node.get("encoding")
        if not isinstance(encoding, dict):
            continue
        for channel in ("x", "y"):
            enc = encoding.get(channel)
            if not (isinstance(enc, dict) and enc.get("type") == "quantitative"):
                continue
            if "aggregate" in enc or "bin" in enc or not isinstance(enc.get("field"), str):
                continue
            extent = _numeric_extent(rows, enc["field"])
            if extent is None:
                continue
            low, high = extent
            if include_zero:
                low, high = min(low, 0.0), max(high, 0.0)
            if low == high:
                continue
            scale = enc.setdefault("scale", {})
            if isinstance(scale, dict) and "domain" not in scale:
                scale["domain"] = [low, high]
    return out


def _label_title(spec: dict, label: str) -> None:
    title = spec.get("title")
    if isinstance(title, dict):
        title["subtitle"] = label
    elif isinstance(title, str):
        spec["title"] = {"text": title, "subtitle": label}
    else:
        spec["title"] = {"text": label}


def split_by_revision(spec: dict, labels: dict[str, str]) -> dict[str, dict]:
    """{rev: spec holding only that revision's rows}, for each rev present in the data.

    `labels` maps a DVC revision name to the subtitle shown on its image.
    """
    shared = share_axis_domains(spec)
    result = {}
    for rev in revisions_in(shared):
        one = copy.deepcopy(shared)
        one["data"]["values"] = [
            row
            for row in _values(shared)
            if isinstance(row, dict) and str(row.get(REV_FIELD)) == rev
        ]
        _label_title(one, labels.get(rev, rev))
        result[rev] = one
    return result


def vegalite_version(spec: dict, available: list[str]) -> str | None:
    """Newest bundled Vega-Lite of the spec's major version (DVC writes v5 specs)."""
    match = re.search(r"vega-lite/v(\d+)", str(spec.get("$schema", "")))
    if not match:
        return None
    same_major = [v for v in available if v.split(".")[0] == match.group(1)]
    return (
        max(same_major, key=lambda v: tuple(int(p) for p in v.split("."))) if same_major else None
    )


def render_png(spec: dict, scale: float = PNG_SCALE) -> bytes:
    """PNG bytes of a Vega-Lite spec; external data URLs are refused (offline by design)."""
    import vl_convert

    version = vegalite_version(spec, vl_convert.get_vegalite_versions())
    try:
        return vl_convert.vegalite_to_png(
            spec, vl_version=version, scale=scale, allowed_base_urls=[]
        )
    except Exception as exc:  # vl-convert raises plain ValueError/RuntimeError
        raise StacksegError(f"could not render plot: {_one_line(exc)}") from None


def _one_line(exc: Exception) -> str:
    # vl-convert's message is "...conversion failed:\nError: <reason>\n    at <js stack>"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    reasons = [line for line in lines if line.startswith("Error")]
    return (reasons or lines or [type(exc).__name__])[0]
