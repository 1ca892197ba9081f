"""Page "Try the model": an upload or a prepared test frame through the model.

1. the model (cached once per dashboard), its backend, classes and thresholds;
2. the input: an uploaded PNG, JPEG or TIFF (frame or stack), or a frame of the prepared
   test split (with its ground truth); predicted once per input and kept in the session;
3. the sidebar: one threshold slider per class (the card's thresholds by default) and a
   toggle per class for the overlay;
4. the frame (a slider picks it in a stack), ground truth when known, the prediction
   overlay, per-class fractions, and the masks to download (PNG; a stack: TIFF).
"""

from __future__ import annotations

import streamlit as st

from stackseg.dashboard import page, predictions
from stackseg.dashboard.settings import Settings

UPLOAD, TEST_FRAME = "Upload a frame or stack", "A test frame"
UPLOAD_TYPES = ["png", "jpg", "jpeg", "tif", "tiff"]


def _prediction(settings: Settings, model: predictions.Model) -> predictions.Prediction | None:
    """The input's prediction, computed once per input (kept in the session state)."""
    source = st.radio("Input", [UPLOAD, TEST_FRAME], horizontal=True, key="source")
    max_frames = model.cfg.dashboard.max_frames
    if source == UPLOAD:
        file = st.file_uploader(
            f"A PNG, JPEG or TIFF (a frame, or a stack of up to {max_frames} frames)",
            type=UPLOAD_TYPES,
            key="upload",
        )
        if file is None:
            st.info("Upload an image, or choose a test frame above.")
            return None
        key = f"upload:{file.file_id}"
        compute = lambda: predictions.predict_upload(model, file.name, file.getvalue(), max_frames)  # noqa: E731
    else:
        with page.errors_shown():
            pairs = predictions.split_pairs(settings, model.cfg)
        if not pairs:
            st.warning("The prepared test split has no frames.")
            return None
        names = [pair.name for pair in pairs]
        chosen = st.selectbox("Test frame", names, key="test_frame")
        pair = pairs[names.index(chosen)]
        key = f"pair:{pair.name}"
        compute = lambda: predictions.predict_pair(model, settings, pair)  # noqa: E731
    kept = st.session_state.get("prediction")
    if kept is None or kept[0] != key:
        with st.spinner("Predicting..."), page.errors_shown():
            st.session_state["prediction"] = (key, compute())
    return st.session_state["prediction"][1]


def _controls(model: predictions.Model) -> tuple[list[float], list[bool]]:
    """Sidebar: a threshold and a show/hide toggle per class."""
    st.sidebar.header("Classes")
    thresholds, shown = [], []
    for k, (name, default) in enumerate(
        zip(model.classes, predictions.default_thresholds(model.card), strict=True)
    ):
        shown.append(st.sidebar.checkbox(f"show {name}", value=True, key=f"show_{k}"))
        thresholds.append(
            st.sidebar.slider(
                f"{name} threshold", 0.0, 1.0, float(default), 0.01, key=f"threshold_{k}"
            )
        )
    return thresholds, shown


def _show(model: predictions.Model, prediction: predictions.Prediction) -> None:
    thresholds, shown = _controls(model)
    frames = len(prediction.frames)
    index = 0
    if frames > 1:
        index = st.slider("Frame", 0, frames - 1, 0, key="frame")
    frame, probs = prediction.frames[index], prediction.probs[index]
    masks = predictions.present(probs, thresholds)
    columns = st.columns(3 if prediction.truth is not None else 2)
    columns[0].image(
        predictions.enlarge(predictions.gray_to_rgb(frame)), caption=f"{prediction.name} image"
    )
    fractions = {"prediction": predictions.fractions(masks, model.classes)}
    if prediction.truth is not None:
        truth = prediction.truth[index]
        columns[1].image(
            predictions.enlarge(predictions.overlay_image(frame, truth, shown)),
            caption="ground truth",
        )
        fractions["ground truth"] = predictions.fractions(truth, model.classes)
    columns[-1].image(
        predictions.enlarge(predictions.overlay_image(frame, masks, shown)),
        caption="prediction overlay",
    )
    st.subheader("Class fractions")
    st.dataframe(fractions)
    if frames == 1:
        st.download_button(
            "Download the mask (PNG)",
            predictions.mask_png(masks),
            file_name=f"{prediction.name}.mask.png",
            mime="image/png",
        )
    else:
        stack = [predictions.present(p, thresholds) for p in prediction.probs]
        st.download_button(
            "Download the masks (TIFF stack)",
            predictions.mask_tiff(stack),
            file_name=f"{prediction.name}.mask.tif",
            mime="image/tiff",
        )


def render(settings: Settings) -> None:
    st.title("Try the model")
    model = page.model(settings)
    info = predictions.describe(model)
    st.caption(
        f"{info['model']} ({info['backend']}); classes {', '.join(info['classes'])}; "
        f"card thresholds {', '.join(f'{t:g}' for t in info['thresholds'])}"
    )
    if model.note:
        st.info(model.note)
    prediction = _prediction(settings, model)
    if prediction is not None:
        _show(model, prediction)


if __name__ == "__main__":
    page.run_page(render)
