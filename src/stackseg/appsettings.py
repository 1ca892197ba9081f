"""Settings that a command hands to the app it starts in another process (`stackseg serve`'s
uvicorn workers, `stackseg dashboard`'s Streamlit script), as JSON in one environment
variable.

A subclass is a frozen dataclass of JSON-able fields that names its variable (`ENV_VAR`)
and the command that sets it (`STARTED_BY`, for the error when it is missing):
`to_env()` is the variable's value, `from_env()` reads it back (ConfigError, one line,
when it is absent or not the settings). Nothing is read at import time.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, fields
from typing import Any, ClassVar, Self

from stackseg.errors import ConfigError


class EnvSettings:
    """Mixin of a frozen dataclass: its fields through the environment variable `ENV_VAR`."""

    ENV_VAR: ClassVar[str]
    STARTED_BY: ClassVar[str]  # e.g. "the server with `stackseg serve`"

    def to_env(self) -> str:
        return json.dumps(asdict(self))  # type: ignore[call-overload]

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Self:
        """The settings the command started this process with (ConfigError if absent or bad)."""
        text = (os.environ if environ is None else environ).get(cls.ENV_VAR)
        if not text:
            raise ConfigError(f"{cls.ENV_VAR} is not set: start {cls.STARTED_BY}")
        try:
            data: Any = json.loads(text)
            known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
            if not isinstance(data, dict) or set(data) - known:
                raise ValueError(f"expected an object with keys {sorted(known)}")
            return cls(**data)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{cls.ENV_VAR}: not valid settings ({exc})") from None
