"""Training: tf.data input, losses, metrics, callbacks, resume checkpoints and the loop.

Modules by concern: `prepared` (manifest, file lists, data hashes), `augment` and `dataset`
(tf.data), `losses`, `metrics`, `callbacks`, `resume`, `determinism`, `live` (dvclive),
`model_card` (models/model.json) and `loop` (the stage itself). Import them directly;
this package imports nothing heavy on its own.
"""
