"""The model registry: GTO tags over the `artifacts:` model of dvc.yaml, the quality gate of
`stackseg register`, the listing of `stackseg models`, best-run selection (`stackseg
select`) and fetching a registered model or experiment from the DVC remote (`fetch`).

One concern per module: gate (pure checks on a metrics dict), tags (GTO), workspace (the
refusals: dirty workspace, model not in the remote), register, listing, select, fetch,
choices (the picker's list for `stackseg infer --interactive`).
"""
