"""The building blocks of the config sections: the strict base model and shared field types."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# Largest train.image_size: at 4096 TensorFlow crashed (exit 139, issue 20) or, with the
# tiny profile's model, ran out of memory (killed); 2048 is 8x the full profile's 256.
MAX_IMAGE_SIZE = 2048

PositiveInt = Annotated[int, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
# YAML has no path type: a path field takes a string (strict mode would refuse one)
LaxPath = Annotated[Path, Field(strict=False)]


class Section(BaseModel):
    # strict: "3" is not an int and 1 is not a bool; floats accept ints (YAML writes 1 for 1.0).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
