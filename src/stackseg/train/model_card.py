"""models/model.json: lineage and the preprocessing contract of the trained model.

Everything a consumer needs to use the model correctly (classes, input channels, scaling,
size rule, threshold) and to trace it (commit, data hashes, params, best epoch), built as a
`contracts.ModelCard` and written with `contracts.write_card`. Nothing volatile (no
timestamps, hosts or durations), so retraining with the same seed on the same machine type
reproduces the file byte for byte.
"""

from __future__ import annotations

import hashlib
import subprocess
from importlib import metadata
from pathlib import Path

from stackseg import __version__
from stackseg.config import Config
from stackseg.contracts import (
    CARD_FORMAT,
    InputContract,
    Lineage,
    ModelCard,
    OutputContract,
    TrainingSummary,
    instances_contract,
)
from stackseg.models import INPUT_RULE
from stackseg.train import determinism
from stackseg.train.callbacks import RunState
from stackseg.train.prepared import PreparedData

SIZE_RULE = (
    "any height and width that are multiples of size_multiple: pad a frame at the bottom "
    "and right up to the next multiple, predict, and crop the output back"
)
JPEG_DECODING = (
    "accurate integer IDCT (libjpeg ISLOW): PIL, simplejpeg, or "
    "tf.io.decode_jpeg(dct_method='INTEGER_ACCURATE'); TF's default decoder differs slightly"
)
TRAIN_CROP_RULE = (
    "train: random train_size x train_size crops of the native-resolution frames (a frame "
    "smaller than that is zero-padded, centred); val: one centre crop of the same size"
)


PACKAGE = Path(__file__).resolve().parents[1]
# The training code, relative to the package: exactly the train stage's code dependencies
# in dvc.yaml (tests/train/test_model_card.py ties the two together)
TRAINING_CODE = (
    "models",
    "preprocessing.py",
    "train",
    "commands/train.py",
    "contracts",
    "atomic.py",
    # threshold auto predicts the val split (train/threshold.py)
    "predict.py",
    "runtime.py",
    "evaluate/io.py",
)


def _training_files() -> list[Path]:
    files = []
    for name in TRAINING_CODE:
        path = PACKAGE / name
        files += sorted(path.glob("*.py")) if path.is_dir() else [path]
    return [path for path in files if path.is_file()]


def code_commit(cwd: Path) -> str | None:
    """The last git commit that changed the training code, or None outside a git repo.

    Not HEAD: committing results (dvc.lock, metrics) moves HEAD, and a model card holding
    HEAD would then change on every `dvc repro -f train`, changing dvc.lock with it.
    """
    try:
        out = subprocess.run(
            # paths as the project at `cwd` holds them (its own copy of src/, not this one)
            [
                "git",
                "log",
                "-1",
                "--format=%H",
                "--",
                *(f"src/stackseg/{n}" for n in TRAINING_CODE),
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def code_hash() -> str:
    """sha256 of the training code (TRAINING_CODE) and the stackseg version."""
    digest = hashlib.sha256(__version__.encode())
    for path in _training_files():
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def software_versions(arch: str) -> dict:
    tensorflow = _version("tensorflow-cpu") or _version("tensorflow")
    versions = {"stackseg": __version__, "tensorflow": tensorflow, "keras": _version("keras")}
    if arch != "unet":
        versions["segmentation_models"] = _version("segmentation-models")
    return versions


def train_params(cfg: Config) -> dict:
    """The params the train stage depends on (dvc.yaml: classes, train).

    Not the top-level `seed`: it draws the split, which reaches training through the
    prepared data (hashed); training draws from `train.seed`.
    """
    return {
        "classes": list(cfg.classes),
        "train": cfg.train.model_dump(mode="json"),
    }


def build_card(
    cfg: Config,
    data: PreparedData,
    hashes: dict[str, str],
    state: RunState,
    size_multiple: int,
    cwd: Path,
) -> ModelCard:
    """The card of the model just trained; `hashes` holds "code", "raw" and "prepared"."""
    t = cfg.train
    best = state.best_summary()
    return ModelCard(
        format=CARD_FORMAT,
        model_file=Path(cfg.paths.model).name,
        classes=list(cfg.classes),
        input=InputContract(
            channels=data.image_channels,
            dtype="float32",
            scaling=INPUT_RULE,
            jpeg_decoding=JPEG_DECODING,
            value_range=[0.0, 1.0],
            size_multiple=size_multiple,
            size_rule=SIZE_RULE,
            train_size=t.image_size,
            train_crop=TRAIN_CROP_RULE,
        ),
        output=OutputContract(
            channels=len(cfg.classes),
            activation="sigmoid",
            meaning="channel k = probability that the pixel belongs to classes[k]",
            # auto: 0.5 here, then chosen on val per class (train/threshold.py)
            thresholds=[t.training_threshold] * len(cfg.classes),
            threshold_rule="fixed",
            instances=instances_contract(data.manifest),
        ),
        prepared_scaling=data.manifest.scaling,
        lineage=Lineage(
            code_commit=code_commit(cwd),
            code_sha256=hashes["code"],
            raw_data_sha256=hashes["raw"],
            prepared_data_sha256=hashes["prepared"],
            pairs={split: len(pairs) for split, pairs in data.splits.items()},
            software=software_versions(t.arch),
            reproducibility=determinism.record(t),
        ),
        params=train_params(cfg),
        training=TrainingSummary(
            epochs_run=len(state.history),
            stopped_early=state.stopped_early,
            best_epoch=best.get("epoch"),
            best_val=best.get("val", {}),
            monitor="val mean IoU",
        ),
    )
