"""dvclive for the train stage: never touches dvc.yaml, never creates an experiment itself.

`dvcyaml=False`: dvclive would otherwise rewrite the project's dvc.yaml (metrics and plots
are declared there by hand). `save_dvc_exp=False`: the stage runs under `dvc repro` or
`dvc exp run`, which record the experiment; a bare `stackseg train` must not create one.
`resume=False`: dvclive starts clean and a resumed run replays the history saved in its
checkpoint (DVC deletes stage outputs before running a stage, so dvclive's own files
would be gone anyway).
"""

from __future__ import annotations

import logging
from pathlib import Path

from dvclive import Live
from scmrepo.exceptions import SCMError

from stackseg.errors import StacksegError

# dvclive logs experiment names and DVC details at INFO; keep only its warnings
logging.getLogger("dvclive").setLevel(logging.WARNING)


def open_live(directory: str | Path, params: dict) -> Live:
    try:
        live = Live(
            dir=str(directory), dvcyaml=False, save_dvc_exp=False, resume=False, report=None
        )
    except SCMError as exc:
        # dvclive 3.49 asks git for HEAD before checking that a commit exists
        raise StacksegError(
            f"git repository has no commit yet ({exc}): commit once "
            "(`git add -A && git commit -m init`), then run the stage again"
        ) from None
    live.log_params(params)
    return live
