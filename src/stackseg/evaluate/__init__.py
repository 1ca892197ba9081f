"""The evaluate stage: score the trained model on the test split at native resolution.

Modules by noun: `metrics` (pooled confusion counts -> IoU/Dice/precision/recall),
`baseline` (best global intensity threshold per class), `io` (reading prepared pairs),
`results` (what the pass accumulates), `overlays` (best/worst frame images), `plots` (plot
data files), `outputs` (writing metrics and plots) and `stage` (the orchestrator,
`run(cfg)`).
"""
