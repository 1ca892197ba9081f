"""Page "Drift" (being written)."""

from __future__ import annotations

import streamlit as st

from stackseg.dashboard import page
from stackseg.dashboard.settings import Settings


def render(settings: Settings) -> None:
    st.title("Drift")


if __name__ == "__main__":
    page.run_page(render)
