"""The export stage: models/model.onnx from models/model.keras, checked against it.

Modules: `onnx` (the conversion through Keras 3 / tf2onnx and the normalisation that makes
the file byte-identical run to run), `parity` (ONNX against Keras on the test split) and
`stage` (the orchestrator, `run(cfg)`).
"""
