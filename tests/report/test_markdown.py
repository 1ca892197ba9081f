"""Report assembly and the comment size limit (forced truncation)."""

from __future__ import annotations

from stackseg.report.markdown import (
    COMMENT_LIMIT,
    PUBLISHED_URL_ALLOWANCE,
    Section,
    assemble,
    budget_for,
    image_cell,
    published_length,
)


def sections(rows: int) -> list[Section]:
    table = ["| File | Metric | base | workspace |", "|---|---|---|---|"]
    table += [f"| m.json | metric_{i:05d} | 0.{i:05d} | 0.{i + 1:05d} |" for i in range(rows)]
    images = ["| Plot | base | workspace |", "|---|---|---|"]
    images += [
        f"| p{i} | ![base](report/p{i}.base.png) | ![workspace](report/p{i}.pr.png) |"
        for i in range(rows)
    ]
    return [Section("Metrics", table), Section("Plots", images)]


def test_published_length_counts_the_urls_cml_substitutes():
    line = "| a | ![base](report/a.base.png) | ![workspace](report/a.pr.png) |"
    assert published_length(line) == len(line) + 2 * PUBLISHED_URL_ALLOWANCE
    assert budget_for(COMMENT_LIMIT) == COMMENT_LIMIT - 1000
    assert budget_for(2000) == 1800


def test_small_report_is_kept_whole():
    result = assemble(["## title"], sections(3), budget_for(COMMENT_LIMIT))
    assert not result.truncated
    assert result.text.startswith("## title\n\n### Metrics\n")
    assert "| m.json | metric_00002 | 0.00002 | 0.00003 |" in result.text
    assert result.text.count("![") == 6
    assert "truncated" not in result.text


def test_large_report_is_truncated_under_the_limit_with_a_note():
    budget = budget_for(COMMENT_LIMIT)
    result = assemble(["## title"], sections(3000), budget, hint="Run it locally.")
    assert result.truncated and result.omitted_lines > 0
    assert published_length(result.text) <= budget
    last = result.text.rstrip("\n").splitlines()[-1]
    assert last.startswith("> **Report truncated** to stay under the comment size limit")
    assert "sections: Metrics, Plots" in last and last.endswith("Run it locally.")
    # cut at a line boundary: every kept table row is complete
    rows = [line for line in result.text.splitlines() if line.startswith("| m.json")]
    assert all(line.endswith(" |") for line in rows)
    assert len(rows) + result.omitted_lines > 3000


def test_images_count_towards_the_limit_before_publishing():
    # few characters but many images: the published comment would exceed the budget
    budget = 20_000
    result = assemble(["## t"], [sections(200)[1]], budget)
    assert result.truncated
    assert published_length(result.text) <= budget
    assert len(result.text) < budget / 2


def test_a_cut_inside_a_collapsed_block_closes_it_before_the_note():
    rows = [f"| m.json | metric_{i:05d} | 1 | 1 |  |" for i in range(2000)]
    section = Section(
        "Metrics",
        [
            "_No metric changed._",
            "",
            "<details><summary>many</summary>",
            "",
            *rows,
            "",
            "</details>",
        ],
    )
    result = assemble(["## t"], [section], 20_000)
    assert result.truncated
    lines = result.text.rstrip("\n").splitlines()
    assert lines[-3:] == ["</details>", "", lines[-1]] and lines[-1].startswith(
        "> **Report truncated**"
    )
    assert published_length(result.text) <= 20_000


def test_image_cell_sanitises_alt_text():
    assert image_cell("a [b] | c", "report/x.png") == "![a b  c](report/x.png)"
    assert image_cell("x", None, missing="n/a") == "n/a"
