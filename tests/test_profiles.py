"""Profiles merged over params.yaml, and `stackseg overrides` feeding them to `dvc exp run`."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from stackseg import cli
from stackseg.commands.overrides import dvc_arguments
from stackseg.config import config_from_dict, load_config, load_params, load_profile, merge
from stackseg.errors import ConfigError
from tests.conftest import ROOT, run

PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))


def _leaf_keys(mapping: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in mapping.items():
        if isinstance(value, dict):
            keys |= _leaf_keys(value, f"{prefix}{key}.")
        else:
            keys.add(prefix + key)
    return keys


def test_the_tiny_and_full_profiles_exist():
    assert {path.name for path in PROFILES} >= {"tiny.yaml", "full.yaml"}


@pytest.mark.parametrize("profile", PROFILES, ids=lambda path: path.name)
def test_a_profile_overrides_existing_params_keys_with_valid_values(profile):
    params = load_params(ROOT / "params.yaml")
    overrides = load_profile(profile)
    # every key is already in params.yaml, so `dvc exp run -S key=value` needs no `+`
    assert _leaf_keys(overrides) <= _leaf_keys(params)
    merged = config_from_dict(merge(params, overrides), source=str(profile))
    for key in _leaf_keys(overrides):
        assert _lookup(merged.model_dump(), key) == _lookup(overrides, key)


def _lookup(mapping: dict, key: str):
    for part in key.split("."):
        mapping = mapping[part]
    return mapping


def test_the_full_profile_is_the_full_scale():
    full = config_from_dict(
        merge(load_params(ROOT / "params.yaml"), load_profile(ROOT / "profiles/full.yaml"))
    )
    assert full.synth.stacks * full.synth.frames == 20_090
    assert (full.synth.height, full.synth.width, full.train.image_size) == (256, 256, 256)
    assert (full.train.depth, full.train.base_filters) == (4, 64)


@pytest.mark.parametrize("path", [ROOT / "params.yaml", *PROFILES], ids=lambda path: path.name)
def test_comments_name_only_commands_and_files_that_exist(path):
    # these comments once pointed to a `stackseg-overrides` command and a params-full.yaml
    text = path.read_text()
    comments = "\n".join(line.partition("#")[2] for line in text.splitlines())
    # the only program is `stackseg` (pyproject's [project.scripts]); its words are commands
    assert not re.search(r"\bstackseg-\w", comments), f"{path.name}: names a stackseg-* program"
    for command in re.findall(r"\bstackseg ([a-z][a-z-]*)(?=[\s`)]|$)", comments, re.M):
        assert command in cli.COMMANDS, f"{path.name}: names `stackseg {command}`"
    for name in re.findall(r"[\w./-]+\.yaml\b", comments):
        assert (ROOT / name).is_file(), f"{path.name}: names {name}"


def test_overrides_prints_one_dash_s_per_profile_key(capsys):
    assert cli.main(["overrides", str(ROOT / "profiles/full.yaml")]) == 0
    words = capsys.readouterr().out.split()
    assert words[0::2] == ["-S"] * (len(words) // 2)
    assert "train.base_filters=64" in words[1::2]
    pairs = dict(word.split("=", 1) for word in words[1::2])
    assert set(pairs) == _leaf_keys(load_profile(ROOT / "profiles/full.yaml"))


def test_overrides_refuses_a_key_the_config_does_not_know(tmp_path, capsys):
    profile = tmp_path / "typo.yaml"
    profile.write_text("train:\n  epocs: 3\n  depth: 4\n")
    assert cli.main(["overrides", str(profile)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [f"stackseg overrides: error: {profile}: train.epocs: unknown key"]


def test_overrides_blames_params_yaml_for_its_own_problems(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    data = load_params(ROOT / "params.yaml")
    del data["train"]["epochs"]
    params.write_text(yaml.safe_dump(data))
    code = cli.main(["overrides", "--params", str(params), str(ROOT / "profiles/tiny.yaml")])
    assert code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"stackseg overrides: error: {params}: train.epochs: missing"
    ]


@pytest.mark.parametrize(
    "value", [41, 0.002, 1e-05, 2.0, True, None, "resnet34", "true", "1e3", "a:b", ["x", "y"]]
)
def test_each_value_reads_back_as_itself(value):
    (argument,) = dvc_arguments({"k": value}, "p.yaml")[1:]
    text = argument.removeprefix("k=")
    assert not any(char.isspace() for char in text)
    assert yaml.safe_load(text) == value
    assert type(yaml.safe_load(text)) is type(value)


def test_a_value_with_spaces_is_refused():
    with pytest.raises(ConfigError) as err:
        dvc_arguments({"train": {"backbone": "two words"}}, "p.yaml")
    assert err.value.problems[0].startswith("p.yaml: train.backbone: 'two words' holds whitespace")


STAGE = """\
stages:
  check:
    # any stackseg command that reads params.yaml; writes out.txt only when it succeeds
    cmd: stackseg overrides profiles/tiny.yaml > .out.tmp && mv .out.tmp out.txt
    params: [train, synth]
    outs: [out.txt]
"""


@pytest.fixture
def dvc_project(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    path.mkdir()
    shutil.copy(ROOT / "params.yaml", path / "params.yaml")
    shutil.copytree(ROOT / "profiles", path / "profiles")
    (path / "dvc.yaml").write_text(STAGE)
    (path / ".gitignore").write_text(".out.tmp\n")
    run(["git", "init", "-q", "-b", "main"], path)
    run(["git", "config", "user.email", "tests@stackseg.invalid"], path)
    run(["git", "config", "user.name", "stackseg tests"], path)
    run(["dvc", "init", "-q"], path)
    run(["dvc", "config", "core.analytics", "false"], path)
    run(["dvc", "repro", "-q"], path)
    run(["git", "add", "-A"], path)
    run(["git", "commit", "-q", "-m", "init"], path)
    return path


@pytest.mark.slow
def test_dvc_exp_run_with_the_printed_overrides_applies_the_profile(dvc_project):
    profile = dvc_project / "profiles" / "full.yaml"
    printed = run(["stackseg", "overrides", str(profile)], dvc_project).stdout.split()
    run(["dvc", "exp", "run", "-q", *printed], dvc_project)
    # DVC rewrote params.yaml; stackseg reads back exactly the merged profile
    expected = config_from_dict(merge(load_params(ROOT / "params.yaml"), load_profile(profile)))
    assert load_config(dvc_project / "params.yaml") == expected


@pytest.mark.slow
def test_a_key_added_by_dvc_exp_run_is_refused_and_dvc_checkout_restores(dvc_project):
    out = dvc_project / "out.txt"
    before = out.read_text()
    proc = run(["dvc", "exp", "run", "-S", "+train.epocs=3"], dvc_project, check=False)
    assert proc.returncode != 0
    err = proc.stderr + proc.stdout
    assert "stackseg overrides: error: params.yaml: train.epocs: unknown key" in err
    assert "DVC removed the outputs of stage 'check'" in err
    assert "`dvc checkout` restores the cached ones" in err
    assert not out.exists()  # DVC deleted it before stackseg ran
    # what the hint says to do
    run(["git", "checkout", "params.yaml"], dvc_project)
    run(["dvc", "checkout"], dvc_project)
    assert out.read_text() == before
