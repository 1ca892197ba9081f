"""Assemble the report's Markdown and keep it under the PR-comment size limit.

GitHub refuses comments longer than 65,536 characters. What GitHub receives is longer than
the file: `cml comment ... --publish` replaces every relative image path with an uploaded
asset URL and appends its watermark. The budget therefore counts each image reference at
its path length plus a URL allowance, and keeps headroom for the watermark. Sections are
added in order of importance (metrics, params, plots, images); the first line that does
not fit ends the report with a note saying what was left out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMMENT_LIMIT = 65_536
HEADROOM = 1_000  # CML's watermark and hidden markers
PUBLISHED_URL_ALLOWANCE = 300  # a published asset URL is ~120 characters; keep a margin
NOTE_RESERVE = 420  # room for the truncation note (and a closing </details>)


@dataclass
class Section:
    title: str
    lines: list[str] = field(default_factory=list)


def published_length(text: str) -> int:
    """Length of `text` once CML has swapped each image path for an uploaded URL."""
    return len(text) + PUBLISHED_URL_ALLOWANCE * text.count("![")


def budget_for(max_chars: int) -> int:
    """Characters available to the report for a comment limit of max_chars."""
    return max_chars - min(HEADROOM, max_chars // 10)


@dataclass
class Assembled:
    text: str
    truncated: bool
    omitted_lines: int = 0


def _truncation_note(omitted: int, sections: list[str], hint: str) -> str:
    where = ", ".join(sections)
    return (
        f"> **Report truncated** to stay under the comment size limit: {omitted} more "
        f"lines left out (sections: {where}). {hint}"
    )[: NOTE_RESERVE - 2]


def assemble(header: list[str], sections: list[Section], budget: int, hint: str = "") -> Assembled:
    """Header plus as many section lines as fit in `budget` (published length)."""
    blocks: list[tuple[str, list[str]]] = [("header", header)]
    for section in sections:
        blocks.append((section.title, ["", f"### {section.title}", "", *section.lines]))

    out: list[str] = []
    used = 0
    for index, (title, lines) in enumerate(blocks):
        for pos, line in enumerate(lines):
            cost = published_length(line) + 1  # + newline
            if used + cost + NOTE_RESERVE > budget:
                omitted = len(lines) - pos + sum(len(rest) for _, rest in blocks[index + 1 :])
                cut = [title] + [name for name, _ in blocks[index + 1 :]]
                # close a collapsed block the cut fell into, so the note stays visible
                unclosed = sum(line.startswith("<details>") for line in out) - out.count(
                    "</details>"
                )
                out += ["", "</details>"] * max(unclosed, 0)
                out += ["", _truncation_note(omitted, cut, hint)]
                return Assembled("\n".join(out) + "\n", truncated=True, omitted_lines=omitted)
            out.append(line)
            used += cost
    return Assembled("\n".join(out) + "\n", truncated=False)


def image_cell(alt: str, rel_path: str | None, missing: str = "—") -> str:
    if rel_path is None:
        return missing
    clean_alt = "".join(ch for ch in alt if ch not in "[]|\n")
    return f"![{clean_alt}]({rel_path})"
