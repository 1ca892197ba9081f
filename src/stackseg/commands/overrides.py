"""`stackseg overrides PROFILE`: a profile as `-S key=value` arguments for `dvc exp run`.

    dvc exp run $(stackseg overrides profiles/full.yaml)

1. Validate params.yaml (`--params`) on its own, so a problem there is not blamed on the profile.
2. Merge the profile over it and validate the result: a key the config does not know, or a
   bad value, is one error line naming the profile and the key; nothing is printed.
3. Print one `-S dotted.key=value` per leaf of the profile, on one line, values written as
   YAML that both DVC (which parses each value as YAML) and params.yaml's reader read back
   as the same value. A profile key names an existing params.yaml key (every key is there),
   so no `-S +key` is needed.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import yaml

from stackseg.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("profile", type=Path, help="a profile, e.g. profiles/full.yaml")
    parser.epilog = "Use as: dvc exp run $(stackseg overrides profiles/full.yaml)"


def _value(value: Any) -> str:
    """`value` as compact YAML with no whitespace (it travels through the shell's $(...))."""
    if isinstance(value, list):
        return "[" + ",".join(_value(item) for item in value) + "]"
    # PyYAML's own spelling: what it writes it reads back as the same type (1.0e-05 stays
    # a float; a string that would read as a number or a bool is quoted)
    text = yaml.safe_dump(value, default_flow_style=True, width=2**30)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _leaves(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    leaves = []
    for key, value in mapping.items():
        if isinstance(value, dict):
            leaves += _leaves(value, f"{prefix}{key}.")
        else:
            leaves.append((f"{prefix}{key}", value))
    return leaves


def dvc_arguments(profile: dict[str, Any], source: str) -> list[str]:
    """`-S key=value` for each leaf of `profile` (already validated)."""
    arguments, problems = [], []
    for key, value in _leaves(profile):
        text = _value(value)
        if any(char.isspace() for char in text):
            problems.append(
                f"{source}: {key}: {text!r} holds whitespace, which cannot pass through "
                "$(...) as one argument; write `-S` for it by hand"
            )
        arguments += ["-S", f"{key}={text}"]
    if problems:
        raise ConfigError(problems)
    return arguments


def run(args: argparse.Namespace) -> None:
    from stackseg.config import config_from_dict, load_params, load_profile, merge

    base = load_params(args.params)
    config_from_dict(base, source=str(args.params))
    profile = load_profile(args.profile)
    config_from_dict(merge(base, profile), source=str(args.profile))
    print(" ".join(dvc_arguments(profile, str(args.profile))))
