"""The dashboard's entry script: `stackseg dashboard` runs `streamlit run` on this file.

Three pages (st.navigation over the scripts in `views/`): try the model, experiments and
versions, drift. The settings (project folder, params, model) come from the environment
(`settings.ENV_VAR`), set by the command. Importing this module does nothing: Streamlit
runs it as `__main__`.
"""

from __future__ import annotations

from pathlib import Path

VIEWS = Path(__file__).resolve().parent / "views"
# (script in views/, title): the first is the default page
PAGES = (
    ("model.py", "Try the model"),
    ("experiments.py", "Experiments and versions"),
    ("drift.py", "Drift"),
)


def main() -> None:
    import streamlit as st

    st.set_page_config(page_title="stackseg dashboard", layout="wide")
    pages = [st.Page(VIEWS / script, title=title) for script, title in PAGES]
    st.navigation(pages).run()


if __name__ == "__main__":
    main()
