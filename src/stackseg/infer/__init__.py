"""`stackseg infer`: segment new images and TIFF stacks with a trained model.

Modules, one concern each: `sources` (what the inputs are and how their frames are read,
through prepare's own reader and scaling rule), `model` (which model, which backend),
`tiles` (frames over the memory budget, predicted in overlapping tiles), `outputs` (the mask
stack, PNGs, overlays, probabilities and the sidecar, all moved into place together),
`picker` (the terminal picker of `--interactive`) and `stage` (the numbered steps).
"""
