"""Runs and registered models in MLflow too, beside DVC (params `tracking.mlflow`,
docs/mlflow.md). DVC stays the source of truth: nothing here changes a stage's outputs.

- `session`: the connection (tracking URI, bounded HTTP retries) and the never-fail rule:
  an unreachable server is one warning, unless `tracking.mlflow.required`.
- `lineage`: what a run is tagged with (git commit, data hashes, DVC experiment, the model
  file's URL in the DVC remote).
- `hooks`: what the train and evaluate stages log (a few lines call them).
"""
