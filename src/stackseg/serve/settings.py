"""What one `stackseg serve` process serves, and how its workers learn it.

`Settings` names the params file and the model: a `.keras` file (card and ONNX file beside
it), or the workspace's; a registry choice (`--stage`, `--version`, `--rev`) is fetched once
by the command, before uvicorn starts, and handed on as the fetched files, so N workers do
not fetch N times. uvicorn's `--workers N` starts fresh processes that import the app by
name (`stackseg.serve.app:app_from_env`, a factory): the settings travel in the environment
variable `STACKSEG_SERVE_SETTINGS` as JSON. Nothing is read at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from stackseg.appsettings import EnvSettings
from stackseg.config import Config
from stackseg.infer import model as models

ENV_VAR = "STACKSEG_SERVE_SETTINGS"


@dataclass(frozen=True)
class Settings(EnvSettings):
    """The params file and the model files (None: the workspace's, params `paths:`)."""

    ENV_VAR: ClassVar[str] = ENV_VAR
    STARTED_BY: ClassVar[str] = "the server with `stackseg serve`"

    params: str = "params.yaml"
    keras: str | None = None
    card: str | None = None
    onnx: str | None = None
    origin: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_files(cls, params: str | Path, files: models.ModelFiles) -> Settings:
        return cls(str(params), str(files.keras), str(files.card), str(files.onnx), files.origin)

    def model_files(self, cfg: Config) -> models.ModelFiles:
        if self.keras is None:
            return models.workspace_model(cfg)
        default = models.beside(Path(self.keras))
        return models.ModelFiles(
            Path(self.keras),
            Path(self.card) if self.card else default.card,
            Path(self.onnx) if self.onnx else default.onnx,
            dict(self.origin),
        )
