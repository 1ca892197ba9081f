"""What one `stackseg dashboard` shows: the project folder, its params file and the model.

`stackseg dashboard` checks these, then starts `streamlit run` on the packaged entry script;
Streamlit runs that script in its own process, so the settings travel in the environment
variable `STACKSEG_DASHBOARD_SETTINGS` as JSON (absolute paths). Nothing is read at import
time: each page reads them when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from stackseg.appsettings import EnvSettings
from stackseg.config import Config, load_config
from stackseg.infer import model as models

ENV_VAR = "STACKSEG_DASHBOARD_SETTINGS"


@dataclass(frozen=True)
class Settings(EnvSettings):
    """The project folder (paths in params are relative to it), the params file, a
    model's .keras file (card and ONNX file beside it; None: the workspace's model) and a
    drift reference (None: the model's)."""

    ENV_VAR: ClassVar[str] = ENV_VAR
    STARTED_BY: ClassVar[str] = "the dashboard with `stackseg dashboard`"

    root: str
    params: str
    keras: str | None = None
    reference: str | None = None  # a drift reference.json (None: driftview.reference_path)

    def config(self) -> Config:
        return load_config(self.params)

    def path(self, relative: str | Path) -> Path:
        """A path of params `paths:` (relative to the project folder) as an absolute one."""
        return Path(self.root) / relative

    def model_files(self, cfg: Config) -> models.ModelFiles:
        if self.keras is not None:
            return models.beside(Path(self.keras))
        files = models.workspace_model(cfg)
        return models.ModelFiles(
            self.path(files.keras), self.path(files.card), self.path(files.onnx)
        )
