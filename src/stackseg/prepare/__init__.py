"""The prepare stage: TIFF stacks in, 8-bit jpg/png pairs and a manifest out.

`stage.run(cfg)` is the orchestrator; its docstring lists the steps. The other modules,
by what they are about:

- `settings`: the stage's part of the config and the codec settings
- `raw`: finding and pairing the raw files, their content hashes, the structural checks
- `layout`, `tiff`, `frames`: a stack's layout (plain records), read from TIFF metadata,
  and its frames read one at a time
- `scaling`: the per-stack rule that brings uint16/float images to 8 bits
- `window`: the one window of `prepare.scaling: training | fixed`, before any pair
- `masks`: mask formats to one 0/255 channel per class
- `split`: the stable hash split
- `jobs`: the plan of a run (jobs, their results, problem lines)
- `pairs`: one job's work in a worker: reuse or explode, encode, write
- `workers`: the process pool and the entry points the workers run
- `manifest`: the manifest built through `stackseg.contracts`, the previous one read back

Nothing here imports TensorFlow: the stage and its workers stay light.
"""
