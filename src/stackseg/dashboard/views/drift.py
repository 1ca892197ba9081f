"""Page "Drift": new frames against the model's drift reference (`stackseg.drift`).

1. the reference (the training split's profile with bootstrap-calibrated thresholds):
   where it is, how many frames and bins;
2. the frames to check: uploaded images or stacks, a folder of this machine (e.g. what is
   being segmented now), or the prepared test split;
3. the verdict (any metric above its threshold at this many frames: drift), the intensity
   histograms (reference vs current), each metric's score / threshold, and one chosen
   feature's distribution in the reference and now.
"""

from __future__ import annotations

import streamlit as st

from stackseg.dashboard import driftview, page
from stackseg.dashboard.settings import Settings

UPLOADS, FOLDER, TEST_SPLIT = "Upload frames or stacks", "A folder", "The prepared test split"


def _current(settings: Settings, cfg, bins: int):
    """The chosen frames' profile, computed once per choice (kept in the session)."""
    source = st.radio("Frames to check", [UPLOADS, FOLDER, TEST_SPLIT], horizontal=True)
    if source == UPLOADS:
        files = st.file_uploader(
            "PNG, JPEG or TIFF files (frames or stacks)",
            type=["png", "jpg", "jpeg", "tif", "tiff"],
            accept_multiple_files=True,
            key="drift_uploads",
        )
        if not files:
            st.info("Upload frames to check, or choose another source above.")
            return None
        key = "uploads:" + ",".join(f.file_id for f in files)

        def compute():
            uploads = [(f.name, f.getvalue()) for f in files]
            return driftview.uploads_profile(cfg, uploads, bins)
    elif source == FOLDER:
        folder = st.text_input("Folder (relative to the project, or absolute)", key="drift_folder")
        if not folder:
            st.info("Name a folder of images or stacks.")
            return None
        key = f"folder:{folder}"

        def compute():
            return driftview.folder_profile(settings, cfg, folder, bins)
    else:
        key = "split:test"

        def compute():
            return driftview.split_profile(settings, cfg, bins)

    kept = st.session_state.get("drift_profile")
    if kept is None or kept[0] != key:
        with st.spinner("Reading the frames' features..."), page.errors_shown():
            st.session_state["drift_profile"] = (key, compute())
    return st.session_state["drift_profile"][1]


def render(settings: Settings) -> None:
    from stackseg.drift import compare
    from stackseg.drift.plots import histogram_figure, score_rows, scores_figure

    st.title("Drift")
    with page.errors_shown():
        cfg = settings.config()
        path = driftview.reference_path(settings, cfg)
        reference = driftview.load(settings, cfg)
    st.caption(
        f"reference {path}: {reference.images.frames} frames "
        f"({reference.about.get('images', 'training split')}), {reference.bins} bins, "
        f"thresholds at alpha {reference.alpha:g}"
    )
    current = _current(settings, cfg, reference.bins)
    if current is None:
        return
    with page.errors_shown():
        try:
            report = compare(reference, current)
        except (ValueError, KeyError) as exc:
            from stackseg.errors import InputDataError

            raise InputDataError(f"cannot compare with {path}: {exc}") from None
    if report.drifted:
        st.warning(
            f"DRIFT in {report.frames} frames: {', '.join(report.drifted_metrics)} above "
            "their thresholds"
        )
    else:
        st.success(f"No drift in {report.frames} frames: every metric within its threshold")
    left, right = st.columns(2)
    left.pyplot(histogram_figure(report))
    right.pyplot(scores_figure(report))
    st.subheader("Scores")
    st.dataframe(score_rows(report), hide_index=True)
    st.subheader("One feature, reference vs now")
    feature = st.selectbox("Feature", driftview.features(), key="drift_feature")
    rows = driftview.feature_rows(reference, current, feature)
    st.bar_chart(rows, x="value", y=["reference", "current"], stack=False)


if __name__ == "__main__":
    page.run_page(render)
