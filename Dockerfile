# syntax=docker/dockerfile:1
# The stackseg HTTP API (`stackseg serve`) as a container image: docs/serving.md, "Container".
#
# Two images from this file, one per way of getting the model (both documented there):
#
#   dvc pull models/model.keras models/model.onnx     # or: dvc repro export
#   docker build -t stackseg-api .                     # default target `baked`: the model inside
#
#   docker build --target registry -t stackseg-api:registry .
#     # no model inside: `stackseg serve --stage prod` fetches it at start from a clone of the
#     # project mounted at /srv/stackseg (git tags for the stage, the DVC remote for the files);
#     # the remote's credentials come from the environment at run time, never from the image.
#
# tests/container/test_dockerfile.py checks this file (each COPY source exists and is not
# excluded by .dockerignore, base images pinned, non-root user, HEALTHCHECK, the CMD is the
# command docs/serving.md documents) and runs that CMD outside Docker; hadolint lints it.

# --- builder: the server's lock into a virtual environment -----------------------------------
# The exact patch release and Debian release: the same Python and glibc in both stages. The
# tag is rebuilt by Docker for Debian security fixes; pin a digest (@sha256:...) to freeze it.
FROM python:3.11.15-slim-bookworm AS builder

# the uv release the Makefile uses (UV_VERSION there)
ARG UV_VERSION=0.13.9
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir "uv==${UV_VERSION}"

WORKDIR /build
# The server's lock (make lock): requirements.lock without TensorFlow, Keras, the export and
# the plots, at the same versions; the server runs the ONNX file. Alone first: this layer is
# rebuilt only when the lock changes, not with the code.
COPY requirements-serve.lock ./
RUN uv venv --python /usr/local/bin/python3.11 /opt/venv \
    && uv pip install --python /opt/venv/bin/python --no-cache -r requirements-serve.lock

# the package itself, not editable; its build backend (setuptools) is pinned in the lock, so
# the build uses that one instead of fetching the newest into an isolated environment
# (tests/container checks that the lock pins it)
COPY pyproject.toml README.md ./
COPY src/ src/
RUN uv pip install --python /opt/venv/bin/python --no-cache --no-deps --no-build-isolation .

# --- registry: the runtime without a model (fetched at start by registry stage) ----------------
FROM python:3.11.15-slim-bookworm AS registry

# git: the registry resolves a stage or version through git tags (GTO) and reads the model card
# at that commit (DVC). The base tag fixes the Debian release; git's version is Debian's
# current security release of it, so it is not pinned further.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

# an unprivileged user with a fixed uid (match it with `--user` when mounting a project clone)
RUN groupadd --system --gid 10001 stackseg \
    && useradd --system --uid 10001 --gid stackseg --create-home --home-dir /home/stackseg \
       --shell /usr/sbin/nologin stackseg

COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DVC_NO_ANALYTICS=1

# The project folder: params.yaml (the `serve:` section, infer's backend, prepare's scaling
# rule). The registry image is run with a clone of the project mounted over it.
WORKDIR /srv/stackseg
COPY params.yaml ./
# the fetched-model cache (params paths.model_cache, .stackseg/models) when the registry is a
# git URL (`--repo`) rather than a mounted clone: the only folder the server writes here
RUN mkdir -p .stackseg && chown 10001:10001 .stackseg

# numeric: Kubernetes' runAsNonRoot can verify a uid, not a name
USER 10001:10001
EXPOSE 8000
# /ready answers 200 once the model is loaded, 503 before: python's urllib, no curl in the
# image (urlopen raises on 503 or a refused connection, so the check exits non-zero). The
# start period covers the imports and the model load (and, for `registry`, the download).
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/ready', timeout=4)"]
# 0.0.0.0 inside the container: the server is in the container's own network namespace, where
# 127.0.0.1 is unreachable from the host; the host decides who can connect when it publishes
# the port (`docker run -p 127.0.0.1:8000:8000`, docker-compose.yml does the same).
CMD ["stackseg", "serve", "--stage", "prod", "--host", "0.0.0.0", "--port", "8000"]

# --- baked (the default): the model built into the image ------------------------------------
FROM registry AS baked

# models/ as `dvc pull` or `dvc repro export` leaves it: the Keras model, its card and the ONNX
# file `stackseg serve` runs (params infer.backend). Owned by root: the server cannot change it.
COPY models/model.keras models/model.json models/model.onnx models/

# 0.0.0.0: see the registry stage above
CMD ["stackseg", "serve", "--model", "models/model.keras", "--host", "0.0.0.0", "--port", "8000"]
