"""Ids that become result-path segments and shell words (policy, mission, sweep, variant,
trial, run) follow one rule, checked wherever they enter: a one-line error naming the key."""

import copy

import pytest

from daf.config import NAME_PATTERN, is_path_name, validate_study
from daf.errors import UserError

TRAINED = {"train": {"mission": "cogs.tiny", "steps": 1000}}
BASE = {
    "policies": {"random": {"spec": "random"}, "baseline": {"spec": "baseline"}, "ppo": TRAINED},
    "missions": ["cogs.tiny", "cogs.small"],
    "evaluation": {"episodes": 2},
}
SWEEP = {"policy": "ppo", "strategy": "grid", "space": {"learning_rate": {"values": [0.001]}}}
BAD_NAMES = ["a/b", "..", "ppo\n", " ppo", "-x", "a b", "x;rm"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_rule(name):
    assert not is_path_name(name)
    assert all(is_path_name(ok) for ok in ("ppo", "cogs.tiny", "ppo_v2", "t1a2b3c4d", "r000-001", "lstm+x"))


def _config(where: str, name: str, tmp_path) -> tuple[dict, str]:
    """A valid study with `name` placed at `where`; returns it and the key the error must name."""
    config = copy.deepcopy(BASE)
    if where == "policy":
        config["policies"][name] = {"spec": "random"}
        return config, "policies"
    if where == "sweep":
        config["sweeps"] = {name: SWEEP}
        return config, "sweeps"
    if where == "variant":
        config["variants"] = {name: {"missions": ["cogs.tiny"], "policies": ["random"]}}
        return config, "variants"
    # a mission file whose stem is the bad id (only names a file system allows)
    path = tmp_path / f"{name}.py"
    path.write_text("def get_config():\n    raise AssertionError('never loaded')\n")
    if where == "mission":
        config["missions"].append(str(path))
        return config, "missions"
    if where == "train mission":
        config["policies"]["ppo"] = {"train": {"mission": str(path), "steps": 1000}}
        return config, "policies.ppo.train.mission"
    if where == "sweep mission":
        config["sweeps"] = {"s": {**SWEEP, "missions": [str(path)]}}
        return config, "sweeps.s.missions"
    config["variants"] = {"v": {"missions": [str(path)], "policies": ["random"]}}
    return config, "variants.v"


@pytest.mark.parametrize(
    "where", ["policy", "sweep", "variant", "mission", "train mission", "sweep mission", "variant mission"]
)
@pytest.mark.parametrize("name", ["..", "a b", "x;rm", ".hidden"])
def test_every_id_in_a_path_is_checked_naming_its_key(where, name, tmp_path):
    validate_study(copy.deepcopy(BASE), "study.yaml")  # the base is valid
    config, key = _config(where, name, tmp_path)
    with pytest.raises(UserError) as caught:
        validate_study(config, "study.yaml")
    message = str(caught.value)
    assert "\n" not in message and f"study.yaml: {key}" in message, message
    assert NAME_PATTERN in message, message


@pytest.mark.parametrize("trial", ["../x", "t1/..", "t 1", "t1\n"])
def test_a_trial_id_is_checked_before_anything_runs(daf, tmp_path, trial):
    out = tmp_path / "out"
    result = daf("sweep", "run", "--trial", trial, "--seed", "0", "--params", "{}", "--base", "{}",
                 "--missions", "cogs.tiny", "--episodes", "1", "--eval-seed", "0", "--metric", "mean",
                 "--out", str(out))  # fmt: skip
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("daf: error: --trial ") and NAME_PATTERN in lines[0], lines
    assert not out.exists()


def test_sweep_run_with_invalid_base_settings_is_one_line(daf, tmp_path):
    out = tmp_path / "out"
    result = daf("sweep", "run", "--trial", "t1", "--seed", "0", "--params", "{}", "--base", "{}",
                 "--missions", "cogs.tiny", "--episodes", "1", "--eval-seed", "0", "--metric", "mean",
                 "--out", str(out))  # fmt: skip
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [
        "daf: error: invalid config --base: steps: required key is missing"
    ], result.stderr
    assert not out.exists()
