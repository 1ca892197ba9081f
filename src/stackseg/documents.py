"""Reading the JSON files one stage hands to the next (manifest, model card)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackseg.errors import InputDataError


def read_json(path: Path, *, missing: str, invalid: str) -> Any:
    """The parsed contents of `path`; a missing or broken file is one InputDataError line.

    "<path>: not found (<missing>)" or "<path>: not valid JSON (<parser message>); <invalid>".
    """
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputDataError([f"{path}: not found ({missing})"]) from None
    except json.JSONDecodeError as exc:
        raise InputDataError([f"{path}: not valid JSON ({exc}); {invalid}"]) from None
