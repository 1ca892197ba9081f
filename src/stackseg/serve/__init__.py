"""`stackseg serve`: the model behind an HTTP API (FastAPI + uvicorn).

- `settings`: which params and model files a server process serves (and how uvicorn's
  worker processes learn it);
- `app`: `create_app(settings)`, the lifespan that loads the model, the thread limiter;
- `routes`: the endpoints; `encode`: the answers of /predict;
- `predictor`: the model and predictions through `stackseg infer`'s own code;
- `uploads`: spooling, content sniffing and the header's pixel count;
- `middleware`, `metrics`, `errors`: request ids, JSON logs, timeout, Prometheus metrics
  and the JSON errors.

Nothing here is imported by other commands; FastAPI is imported only by `stackseg serve`.
"""
