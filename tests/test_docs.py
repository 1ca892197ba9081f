"""The README stays short and every relative link of the README and the docs resolves.

`mkdocs build --strict` (make test) checks the site's own links too; this test also covers
the README, which is not part of the site, and runs without mkdocs.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from tests.conftest import ROOT

README_MAX_LINES = 200
FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`]*`")
# [text](target) and ![alt](target); the target ends at whitespace or ")"
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s*\[[^\]]+\]:\s*(\S+)", re.M)
SNIPPET = re.compile(r'^--8<--\s+"([^"]+)"', re.M)
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, inline code removed."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(INLINE_CODE.sub("", line))
    return lines


def slug(heading: str) -> str:
    """The anchor Python-Markdown's toc (mkdocs) gives a heading; GitHub's matches it for
    headings of words, spaces and simple punctuation."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(path: Path) -> set[str]:
    found = set()
    fenced = False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := HEADING.match(line)):
            found.add(slug(m.group(2)))
    return found


def relative_links(path: Path) -> list[str]:
    prose = "\n".join(prose_lines(path.read_text()))
    targets = LINK.findall(prose) + REFERENCE.findall(prose)
    return [t for t in targets if not re.match(r"^[a-z][a-z0-9+.-]*:", t, re.I)]


def broken_links(path: Path) -> list[str]:
    """'file: target (why)' for every relative link of `path` that does not resolve."""
    problems = []
    for target in relative_links(path):
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{path.relative_to(ROOT)}: {target} (no heading #{anchor})")
    text = path.read_text()
    for include in SNIPPET.findall(text):
        if not (ROOT / "docs" / include).is_file():
            problems.append(f"{path.relative_to(ROOT)}: --8<-- {include} (no such file)")
    return problems


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, (
        f"README.md has {len(lines)} lines (at most {README_MAX_LINES}): move reference "
        "material to docs/"
    )


def test_every_relative_link_resolves():
    problems = [problem for path in documents() for problem in broken_links(path)]
    assert not problems, "\n".join(problems)


def test_the_readme_links_to_every_docs_page():
    linked = {
        (ROOT / target.partition("#")[0]).resolve() for target in relative_links(ROOT / "README.md")
    }
    pages = {p.resolve() for p in (ROOT / "docs").rglob("*.md") if p.parent.name != "benchmarks"}
    assert pages - linked == set(), sorted(str(p.relative_to(ROOT)) for p in pages - linked)


def test_the_checker_finds_broken_links(tmp_path, monkeypatch):
    """The link checker itself: a missing file, a missing anchor, links in code ignored."""
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Page\n\n## Some `code` (here)\n")
    doc = tmp_path / "README.md"
    doc.write_text(
        "[ok](docs/page.md) [ok anchor](docs/page.md#some-code-here) [web](https://x.org/a)\n"
        "[gone](docs/missing.md) [bad anchor](docs/page.md#nope) ![img](pic.png)\n"
        "`[in code](nowhere.md)`\n```\n[in a block](nowhere.md)\n```\n"
        '[self](#page)\n--8<-- "benchmarks/absent.md"\n[ref]: docs/absent.md\n'
    )
    assert broken_links(doc) == [
        "README.md: docs/missing.md (no such file)",
        "README.md: docs/page.md#nope (no heading #nope)",
        "README.md: pic.png (no such file)",
        "README.md: #page (no heading #page)",
        "README.md: docs/absent.md (no such file)",
        "README.md: --8<-- benchmarks/absent.md (no such file)",
    ]


def test_every_api_reference_names_a_module_of_src():
    """`::: stackseg.x.y` blocks render module docstrings: each must name a module that
    exists (mkdocs build --strict fails on it too, but only where mkdocs is installed)."""
    missing, found = [], 0
    for page in (ROOT / "docs").rglob("*.md"):
        for dotted in re.findall(r"^:::\s+([\w.]+)\s*$", page.read_text(), re.M):
            found += 1
            base = ROOT / "src" / Path(*dotted.split("."))
            if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
                missing.append(f"{page.relative_to(ROOT)}: ::: {dotted}")
    assert found >= 6
    assert not missing, "no such module:\n" + "\n".join(missing)
