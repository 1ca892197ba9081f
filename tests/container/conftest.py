"""The container tests run the image's serve command on the session's trained model and its
ONNX export: infer's `model_dir` fixture (model.keras, model.json, model.onnx in one folder)."""

from tests.infer.conftest import model_dir  # noqa: F401 (a fixture, used by test_serve_cmd)
