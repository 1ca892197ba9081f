"""DVC's filled Vega-Lite specs, both revisions in one chart, rendered to PNG offline.

`dvc plots diff --json` returns, per plot, one Vega-Lite spec whose inline data holds the
rows of every revision (field `rev`), coloured by revision as `dvc plots diff` draws it.
The report renders that one chart (base and PR overlaid, one image instead of two side by
side) with the revisions named for readers. Rendering uses vl-convert (Vega bundled in a
Rust extension): no browser, no CDN, and network access refused outright.
"""

from __future__ import annotations

import copy
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


def label_revisions(spec: dict, labels: dict[str, str]) -> dict:
    """The spec with each revision's rows (field `rev`) and colour-scale entry renamed.

    DVC's filled spec already draws every revision in one chart, coloured by `rev` (its
    colour scale's domain lists the revisions); only the names change: `HEAD` or a sha
    becomes e.g. "base main (abc12345)". Renamed in the data and in every scale domain that
    lists them, so colours and legend stay consistent.
    """
    out = copy.deepcopy(spec)
    for row in _values(out):
        if isinstance(row, dict) and REV_FIELD in row:
            row[REV_FIELD] = labels.get(str(row[REV_FIELD]), row[REV_FIELD])
    for node in _walk(out):
        encoding = node.get("encoding")
        if not isinstance(encoding, dict):
            continue
        for enc in encoding.values():
            if not (isinstance(enc, dict) and enc.get("field") == REV_FIELD):
                continue
            scale = enc.get("scale")
            if isinstance(scale, dict) and isinstance(scale.get("domain"), list):
                scale["domain"] = [labels.get(str(v), v) for v in scale["domain"]]
    return out


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
