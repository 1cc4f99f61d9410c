"""The mission registry: names, families, maps, and that every mission really plays."""

import json

import numpy as np
import pytest
from mettagrid.simulator import Simulation

from daf.errors import UserError
from daf.evaluation.episodes import Seat, mission_env_info, run_episodes
from daf.evaluation.table import episode_scores
from daf.missions import MISSIONS, get_mission, load_mission_file, mission_id
from daf.policies import parse_spec
from daf.policies.actors import build_actor
from daf.stats.estimates import bootstrap_ci


def test_registry_has_families_and_map_kinds():
    assert len(MISSIONS) >= 6
    families = {m.family for m in MISSIONS.values()}
    assert {"cogs", "forage"} <= families
    for name, mission in MISSIONS.items():
        family, _, variant = name.partition(".")
        assert family == mission.family and variant, name
    kinds = {m.summary()["map"] for m in MISSIONS.values()}
    assert kinds == {"ascii", "procedural"}


@pytest.mark.parametrize("name", list(MISSIONS))
def test_every_mission_builds_and_steps(name):
    cfg = MISSIONS[name].config()
    assert not cfg.game.actions.change_vibe.enabled  # 5 primary actions, not ~160
    sim = Simulation(cfg, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        for agent in range(cfg.game.num_agents):
            sim.agent(agent).set_action(sim.action_names[int(rng.integers(len(sim.action_names)))])
        sim.step()
    assert sim.current_step == 20
    assert len(sim.episode_stats["agent"]) == cfg.game.num_agents
    sim.close()


@pytest.mark.parametrize("name", list(MISSIONS))
def test_random_policy_scores_in_some_episodes(name):
    mission = MISSIONS[name]
    actor = build_actor(parse_spec("random"), mission_env_info(mission), seed=0)
    frame = run_episodes(mission, Seat("random", actor), episodes=16, base_seed=0)
    team = frame.groupby("episode")["reward"].sum()
    assert (team > 0).any(), f"random never scores on {name}"


def test_cogs_family_is_cogsguard_like():
    cfg = MISSIONS["cogs.standard"].config()
    objects = set(cfg.game.objects)
    extractors = {o for o in objects if o.endswith("_extractor")}
    assert len(extractors) >= 2 and "assembler" in objects
    assert "heart" in cfg.game.agent.rewards and cfg.game.num_agents > 1
    variants = {name: MISSIONS[name].summary() for name in MISSIONS if name.startswith("cogs.")}
    assert len({(v["width"], v["num_agents"]) for v in variants.values()}) >= 3  # size / agent count vary


COGS = [name for name, mission in MISSIONS.items() if mission.family == "cogs"]
# docs/policies.md: `baseline` beats `random` on every cogs mission. The margin is 5x the
# random mean, except on cogs.scarce: its extractors hold 3 units each, so a team makes at most
# 6 hearts (1.5 reward per agent) and random already makes ~1.5 of them (0.35 per agent); the
# baseline's ~1.35 per agent (near the cap) is ~4x random, and the claim there is 3x.
MARGIN = {"cogs.scarce": 3.0}


@pytest.mark.parametrize("name", COGS)
def test_baseline_beats_random_on_every_cogs_mission(name):
    """95% bootstrap CIs of the mean episode score (mean reward per agent) do not overlap, and
    the baseline's mean is MARGIN times random's; 12 episodes each, the same maps for both."""
    mission = MISSIONS[name]
    info = mission_env_info(mission)
    scores = {}
    for spec in ("random", "baseline"):
        frame = run_episodes(mission, Seat(spec, build_actor(parse_spec(spec), info, seed=0)), 12, 1)
        scores[spec] = episode_scores(frame)["score"].to_numpy()
    low_baseline, _ = bootstrap_ci(scores["baseline"], confidence=0.95, reps=2000)
    _, high_random = bootstrap_ci(scores["random"], confidence=0.95, reps=2000)
    assert len(scores["baseline"]) == len(scores["random"]) == 12
    assert low_baseline > high_random, (name, low_baseline, high_random)  # CIs do not overlap
    margin = MARGIN.get(name, 5.0)
    assert scores["baseline"].mean() > margin * scores["random"].mean(), (name, scores)


def test_success_criterion_is_defined_for_every_mission():
    for mission in MISSIONS.values():
        assert mission.success.describe().startswith("team total")


def test_unknown_mission_names_valid_choices():
    with pytest.raises(UserError, match=r"unknown mission 'cogs.smal'.*did you mean 'cogs.small'.*forage.open"):
        get_mission("cogs.smal")


def test_mission_file_is_a_mission(mission_file):
    mission = get_mission(str(mission_file))
    assert mission.name == "my_mission" == mission_id(str(mission_file))
    assert mission.family == "file" and mission.success.threshold == 4
    assert mission.config().game.num_agents == 2


def test_broken_mission_files(tmp_path):
    missing = tmp_path / "nope.py"
    with pytest.raises(UserError, match="does not exist"):
        load_mission_file(missing)
    no_fn = tmp_path / "no_fn.py"
    no_fn.write_text("X = 1\n")
    with pytest.raises(UserError, match=r"no_fn.py' does not define get_config"):
        load_mission_file(no_fn)
    bad_import = tmp_path / "bad.py"
    bad_import.write_text("import not_a_module_xyz\n")
    with pytest.raises(UserError, match=r"bad.py' failed to import: ModuleNotFoundError"):
        load_mission_file(bad_import)
    old_path = tmp_path / "old_path.py"  # written before daf/ became domain packages
    old_path.write_text("from daf.rollout import episode_seed\n")
    with pytest.raises(UserError, match=r"daf.rollout moved to daf.evaluation.episodes; import it from there\)$"):
        load_mission_file(old_path)
    wrong_type = tmp_path / "wrong.py"
    wrong_type.write_text("def get_config():\n    return {'game': 1}\n")
    with pytest.raises(UserError, match="returned dict, expected"):
        load_mission_file(wrong_type)


def test_missions_cli_json(daf):
    result = daf("missions", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert {r["name"] for r in rows} == set(MISSIONS)
    for row in rows:
        assert {"name", "family", "num_agents", "width", "height", "max_steps", "description"} <= set(row)
        assert row["num_agents"] >= 1 and row["width"] > 0 and row["max_steps"] > 0


def test_missions_cli_table(daf):
    result = daf("missions")
    assert result.returncode == 0
    header = result.stdout.splitlines()[0].split()
    assert header[:5] == ["name", "num_agents", "width", "height", "max_steps"]
    assert "cogs.tiny" in result.stdout
