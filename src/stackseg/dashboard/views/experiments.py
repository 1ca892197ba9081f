"""Page "Experiments and versions": DVC experiments and the registry's versions.

1. `dvc exp show --json` (the workspace, each commit and its experiments): a table of the
   chosen metric columns and the params that differ, or one line saying why DVC/git
   cannot answer;
2. the registry's versions (GTO) with their stages, headline metrics and differing params;
3. a chart of one chosen metric across the runs and versions.
Both lists are read once per session (the "Reload" button reads them again).
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from stackseg.dashboard import experiments, page
from stackseg.dashboard.settings import Settings

# metric columns shown by default: the mean scores (every metric can be added)
DEFAULT_COLUMNS = 6


def _rows(settings: Settings) -> tuple[list[experiments.Row], list[experiments.Row]]:
    """Experiment runs and registry versions, each list empty when unavailable (shown)."""
    if st.button("Reload") or "experiment_rows" not in st.session_state:
        root = Path(settings.root)
        found: dict[str, list[experiments.Row]] = {"runs": [], "versions": []}
        errors: list[str] = []
        with st.spinner("Reading `dvc exp show` and the registry..."):
            for key, read in (
                ("runs", lambda: experiments.experiment_runs(root)),
                ("versions", lambda: experiments.version_rows(settings.config(), root)),
            ):
                try:
                    found[key] = read()
                except Exception as exc:  # noqa: BLE001 (shown as one line below)
                    errors.append(_line(exc))
        st.session_state["experiment_rows"] = (found["runs"], found["versions"], errors)
    runs, versions, errors = st.session_state["experiment_rows"]
    for line in errors:
        st.error(line)
    return runs, versions


def _line(exc: Exception) -> str:
    from stackseg.errors import StacksegError

    if isinstance(exc, StacksegError):
        return " ".join(exc.problems)
    if isinstance(exc, OSError):
        from stackseg.cli import os_error_line

        return os_error_line(exc)
    return f"{type(exc).__name__}: {exc}"


def _default_columns(names: list[str]) -> list[str]:
    means = [name for name in names if ".mean." in f".{name.split(':')[-1]}"]
    return (means or names)[:DEFAULT_COLUMNS]


def render(settings: Settings) -> None:
    st.title("Experiments and versions")
    runs, versions = _rows(settings)
    st.subheader("DVC experiments")
    if runs:
        names = experiments.metric_names(runs)
        columns = st.multiselect(
            "Metric columns",
            names,
            default=_default_columns(names),
            format_func=experiments.short_metric,
            key="exp_columns",
        )
        st.dataframe(experiments.table(runs, columns), hide_index=True)
    else:
        st.info("No runs from `dvc exp show` (see above, or run `dvc exp run`).")
    st.subheader("Registered versions")
    if versions:
        st.dataframe(experiments.table(versions), hide_index=True)
    else:
        st.info("No registered version (`stackseg register` registers one).")
    everything = runs + versions
    names = experiments.metric_names(everything)
    if not names:
        return
    st.subheader("A metric across runs and versions")
    default = experiments.default_metric(names)
    metric = st.selectbox(
        "Metric",
        names,
        index=names.index(default) if default else 0,
        format_func=experiments.short_metric,
        key="chart_metric",
    )
    series = experiments.metric_series(everything, metric)
    label = experiments.short_metric(metric)
    st.bar_chart(
        {"run": list(series), label: list(series.values())}, x="run", y=label, horizontal=True
    )


if __name__ == "__main__":
    page.run_page(render)
