"""The one typed contract for what passes between stages: the manifest and the model card.

prepare writes `<prepared>/manifest.json` through `Manifest`; train writes
`models/model.json` through `ModelCard`. Every reader (train, evaluate, and any later
consumer: inference, serving, drift, dashboards) reads through `read_manifest` and
`read_card`, so a field is named, typed and checked in one place, and a file of another
format version is refused with one line that says what to rerun.

Modules: `common` (split names, file names and suffixes, the PNG-channel rule of the masks,
the scaling rule's description, the checked reader), `manifest` and `card`. Import from
`stackseg.contracts`, which re-exports them all.
"""

from stackseg.contracts.card import (
    InputContract,
    InstancesContract,
    Lineage,
    ModelCard,
    OutputContract,
    Reproducibility,
    ThresholdChoice,
    TrainingSummary,
    instances_contract,
    read_card,
    write_card,
)
from stackseg.contracts.common import (
    CARD_FORMAT,
    IDS_FOLDER,
    IDS_SUFFIX,
    IMAGE_SUFFIX,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    MASK_SUFFIX,
    MAX_CLASSES,
    MAX_OBJECTS,
    SCALING_RULE,
    SPLITS,
    ScalingName,
    ScalingRule,
    Split,
    ids_file,
    mask_png_channels,
    pair_files,
    pair_stem,
    scaling_rule,
)
from stackseg.contracts.manifest import (
    Manifest,
    Pair,
    SplitBalance,
    StackRecord,
    StackScaling,
    read_manifest,
    write_manifest,
)

__all__ = [
    "CARD_FORMAT",
    "IDS_FOLDER",
    "IDS_SUFFIX",
    "IMAGE_SUFFIX",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "MASK_SUFFIX",
    "MAX_CLASSES",
    "MAX_OBJECTS",
    "SCALING_RULE",
    "SPLITS",
    "InputContract",
    "InstancesContract",
    "Lineage",
    "Manifest",
    "ModelCard",
    "OutputContract",
    "Reproducibility",
    "Pair",
    "ScalingName",
    "ScalingRule",
    "Split",
    "SplitBalance",
    "StackRecord",
    "StackScaling",
    "ThresholdChoice",
    "TrainingSummary",
    "ids_file",
    "instances_contract",
    "mask_png_channels",
    "pair_files",
    "pair_stem",
    "read_card",
    "read_manifest",
    "scaling_rule",
    "write_card",
    "write_manifest",
]
