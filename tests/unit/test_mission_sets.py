"""Which missions can train one network, and training-only reward shaping (daf/missions/sets.py):
checked in the config, on the command line and by hand."""

import typing

import pytest

from daf.config.load import validate_study
from daf.config.training import TrainConfig
from daf.errors import UserError
from daf.missions import MISSIONS
from daf.missions.sets import PRESET_EXTRA_TERMS, PRESETS, check_compatible, preset_shaping, resolve_shaping

# --- which missions can train together ---------------------------------------------------


def test_missions_that_differ_get_one_line_naming_the_difference():
    with pytest.raises(UserError) as err:
        check_compatible([MISSIONS["cogs.tiny"], MISSIONS["cogs.standard"]])
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("missions cogs.tiny and cogs.standard cannot train one network: observation features")
    assert "cogs.standard alone has inv:germanium" in message
    with pytest.raises(
        UserError,
        match=r"observation features differ \(cogs.tiny alone has inv:carbon, .* and 8 more; "
        r"forage.open alone has inv:food",
    ):
        check_compatible([MISSIONS["cogs.tiny"], MISSIONS["forage.open"]])
    assert check_compatible([MISSIONS["cogs.tiny"], MISSIONS["cogs.small"], MISSIONS["cogs.scarce"]])


def study(train: dict) -> dict:
    return {"policies": {"p": {"train": {"steps": 100, **train}}}, "missions": ["cogs.tiny"]}


@pytest.mark.parametrize(
    "train_settings, needle",
    [
        ({"missions": ["cogs.tiny", "cogs.standard"]}, "policies.p.train: missions cogs.tiny and cogs.standard cannot"),
        ({"mission": "cogs.tiny", "missions": ["cogs.small"]}, "give exactly one of `mission`"),
        ({}, "give exactly one of `mission`"),
        ({"missions": ["cogs.tiny", "cogs.small"], "mission_weights": [1]}, "one weight per mission (2 missions, 1"),
        ({"missions": ["cogs.tiny", "cogs.small"], "mission_weights": [1, 0]}, "weights must be positive"),
        ({"mission": "cogs.tiny", "shaping": {"carbon.gaind": 0.1}}, "'carbon.gaind' is not a stat shaping can use"),
        ({"mission": "cogs.tiny", "shaping": {"germanium.gained": 0.1}}, "valid: carbon.gained, carbon.lost"),
        ({"mission": "forage.open", "preset": "gather"}, "forage.open declare no gathered resources"),
        ({"mission": "cogs.tiny", "preset": "shiny"}, "preset"),
    ],
)
def test_bad_train_settings_name_the_key(train_settings, needle):
    with pytest.raises(UserError) as err:
        validate_study(study(train_settings), "t.yaml")
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_cli_rejects_incompatible_missions_in_one_line(daf, tmp_path):
    result = daf("train", "--mission", "cogs.tiny", "--mission", "forage.open", "--steps", "64", "--seed", "0",
                 "--out", str(tmp_path / "x"))  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "missions cogs.tiny and forage.open cannot train one network" in lines[0]
    assert not (tmp_path / "x" / "model.pt").exists()
    bad = daf("train", "--mission", "cogs.tiny", "--shape", "carbon.gained", "--steps", "64", "--seed", "0",
              "--out", str(tmp_path / "y"))  # fmt: skip
    assert bad.returncode == 2 and "--shape 'carbon.gained' is not STAT=WEIGHT" in bad.stderr
    weights = daf("train", "--mission", "cogs.tiny", "--mission", "cogs.small", "--mission-weights", "1",
                  "--steps", "64", "--seed", "0", "--out", str(tmp_path / "z"))  # fmt: skip
    assert weights.returncode == 2 and "--mission-weights needs 2 positive numbers, one per --mission" in weights.stderr


def test_gather_preset_shapes_what_the_missions_gather():
    assert preset_shaping("gather", [MISSIONS["cogs.standard"]]) == {
        f"{e}.gained": 0.5 for e in ("carbon", "germanium", "oxygen", "silicon")
    }
    # explicit terms override the preset's
    resolved = resolve_shaping("gather", {"carbon.gained": 0.2}, [MISSIONS["cogs.small"]])
    assert resolved == {"carbon.gained": 0.2, "oxygen.gained": 0.5}


def test_explore_preset_adds_a_bonus_per_new_cell_to_gather():
    assert preset_shaping("explore", [MISSIONS["cogs.small"]]) == {
        "carbon.gained": 0.5,
        "oxygen.gained": 0.5,
        "cell.unique_visited": 0.01,
    }
    # a mission that gathers nothing gets the exploration bonus alone (gather refuses it)
    assert preset_shaping("explore", [MISSIONS["forage.open"]]) == {"cell.unique_visited": 0.01}
    assert resolve_shaping("explore", {"cell.unique_visited": 0.0}, [MISSIONS["forage.open"]]) == {
        "cell.unique_visited": 0.0
    }


def test_every_preset_has_terms_and_a_config_choice():
    choices = typing.get_args(typing.get_args(TrainConfig.model_fields["preset"].annotation)[0])
    assert set(PRESETS) == set(PRESET_EXTRA_TERMS) == set(choices)
