#!/usr/bin/env python
"""Train a tiny fixed configuration in portable mode; compare its weights with the committed ones.

The proof across machines of `train.reproducibility: portable` (docs/reproducibility.md):
`tests/train/test_determinism.py::test_portable_training_gives_the_committed_bytes` runs
`train_hash` on whatever CPU the suite's machine has (CI machines vary: Intel and AMD) and
fails when the bytes differ from `devtools/portable_hash.json` (trained on the CPU named
there). By hand, one line, and `--write` after a change that moves the bytes everywhere:

    .venv/bin/python devtools/portable_hash.py            # SAME or DIFFERENT
    .venv/bin/python devtools/portable_hash.py --write    # commit a new value (after a change
                                                         # of model code, TF or the config)

Steps: 1. a temporary project with params.yaml + profiles/tiny.yaml, 1 epoch, portable, 2
threads; 2. `stackseg synth`, `prepare`, `train` (about 30 s on 2 cores); 3. sha256 of
models/model.keras against the committed value, with both CPU names.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COMMITTED = ROOT / "devtools/portable_hash.json"
# the run's own settings; the rest is params.yaml + profiles/tiny.yaml, so a change there
# (or in synth, prepare or the model code) moves the committed value too
OVERRIDES = {"train": {"epochs": 1, "reproducibility": "portable", "threads": 2, "seed": 0}}


def cpu_model() -> str:
    """The model name, family and model (a VM may name only the vendor), widest vectors."""
    fields: dict[str, str] = {}
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set(fields.get("flags", "").split())
    widest = [f for f in ("amx_tile", "avx512f", "avx2") if f in flags][:1] or ["no avx2"]
    return (
        f"{fields.get('model name', 'unknown CPU')} (family {fields.get('cpu family', '?')} "
        f"model {fields.get('model', '?')}, {widest[0]})"
    )


def train_hash(work: Path) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from stackseg.config import load_params, load_profile, merge

    params = merge(load_params(ROOT / "params.yaml"), load_profile(ROOT / "profiles/tiny.yaml"))
    params = merge(params, OVERRIDES)
    (work / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ONEDNN_", "DNNL_", "TF_"))}
    for stage in ("synth", "prepare", "train"):
        done = subprocess.run(
            [str(BIN / "stackseg"), stage], cwd=work, env=env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"portable-hash: stackseg {stage} failed: {done.stderr.strip()}")
    return hashlib.sha256((work / "models/model.keras").read_bytes()).hexdigest()


def explain(digest: str, committed: dict[str, str]) -> str:
    """The one line for a difference: the two values, the two CPUs, what to do."""
    return (
        f"portable training on {cpu_model()} gave {digest[:12]}…, the committed bytes are "
        f"{committed['sha256'][:12]}… (from {committed['cpu']}). After a change of the model "
        "code, TensorFlow/Keras, params.yaml or profiles/tiny.yaml: `.venv/bin/python "
        "devtools/portable_hash.py --write` and commit. Otherwise this CPU trains other bytes "
        "in portable mode: docs/reproducibility.md (across CPU vendors)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="commit this machine's value")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="portable-hash-") as tmp:
        digest = train_hash(Path(tmp))
    here = cpu_model()
    if args.write:
        COMMITTED.write_text(json.dumps({"sha256": digest, "cpu": here}, indent=1) + "\n")
        print(f"portable-hash: wrote {digest[:12]}… from {here} to {COMMITTED.name}")
        return 0
    committed = json.loads(COMMITTED.read_text())
    same = digest == committed["sha256"]
    print(
        f"portable-hash: {'SAME' if same else 'DIFFERENT'}: {digest[:12]}… trained on {here}; "
        f"committed {committed['sha256'][:12]}… from {committed['cpu']}"
    )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
