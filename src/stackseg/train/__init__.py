"""Training: tf.data input, losses, metrics, callbacks, resume checkpoints and the stage.

Modules by noun: `prepared` (manifest, file lists, data hashes), `augment` and `dataset`
(tf.data), `losses`, `metrics`, `callbacks`, `resume`, `determinism`, `live` (dvclive),
`progress`, `model_card` (models/model.json), `threshold` (`train.threshold: auto`, per
class on val) and `stage` (the orchestrator, `run(cfg)`).
Import them directly; this package imports nothing heavy on its own.
"""
