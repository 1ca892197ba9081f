"""The prepare stage: TIFF stacks in, 8-bit jpg/png pairs and a manifest out.

Modules by concern: `tiff_io` (layout from metadata, frames one page at a time), `scaling`
(the per-stack rule that brings uint16/float images to 8 bits), `masks` (mask formats to
one 0/255 channel per class), `encode` (fast codecs), `validate` (finding and pairing the
raw files, structural checks), `split` (stable hash split), `manifest`, `plan` (plain data
passed to workers), `pool` (process pool), `worker` (one stack, run in a worker) and
`prepare` (orchestration, temp dir and swap).

Nothing here imports TensorFlow: the stage and its workers stay light.
"""
