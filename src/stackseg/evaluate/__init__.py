"""The evaluate stage: score the trained model on the test split at native resolution.

Modules by concern: `metrics` (pooled confusion counts -> IoU/Dice/precision/recall),
`baseline` (best global intensity threshold per class), `io` (reading prepared pairs),
`overlays` (best/worst frame images), `plots` (plot data files), `run` (orchestration).
"""
