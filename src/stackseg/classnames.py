"""Class names as they appear in metric keys and file names, and the rules they follow.

Metric keys are `iou_<class>` and `dice_<class>` (train/metrics.py) with every run of
characters other than A-Z a-z 0-9 _ - replaced by one `_`, so they are safe as dvclive keys
(a `/` would nest them) and as file names. Two names that become the same key would share
one metric and mislabel it, so the config refuses them (config.Config) with this function.
"""

from __future__ import annotations

import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def metric_safe(class_name: str) -> str:
    """A class name as it appears in metric keys (iou_<name>) and file names."""
    return _UNSAFE.sub("_", class_name)


def class_name_problem(classes: list[str]) -> str | None:
    """Why these class names cannot all be told apart in metric keys, or None."""
    if len(set(classes)) != len(classes):
        return f"class names must be unique, got {classes}"
    seen: dict[str, str] = {}
    for name in classes:
        key = metric_safe(name)
        if not re.search(r"[A-Za-z0-9]", key):
            return f"class name {name!r} needs a letter or digit (its metric key: iou_{key})"
        if key in seen:
            return (
                f"class names {seen[key]!r} and {name!r} both become metric iou_{key} "
                "(characters other than A-Z a-z 0-9 _ - become _): rename one"
            )
        seen[key] = name
    return None
