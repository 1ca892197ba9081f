"""`stackseg dashboard`: a Streamlit app over the trained model, the experiments and drift.

- `app.py`: the entry script `streamlit run` starts (st.navigation over `views/`);
- `views/`: one thin Streamlit script per page (try the model, experiments and versions,
  drift), each calling the plain functions below;
- `settings`: what the command hands the Streamlit process (params file, project folder,
  model files), through the environment;
- `predictions`: the model through `stackseg.infer` (infer's Runner: the masks `stackseg
  infer` writes), thresholds, overlays, class fractions, mask downloads;
- `experiments`: `dvc exp show --json` and the registry's versions as tables;
- `driftview`: reference vs new frames through `stackseg.drift`.
"""
