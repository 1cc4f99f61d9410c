# Shared definitions: the validated study (pydantic, daf.config) and its plan (daf.workflow.plan:
# every path, input, param and flag the rules need, unit-tested there), plus small getters that
# take wildcards apart. Every results path comes from daf/paths.py; rules pass files on as
# {input}/{output}.
import json  # the rules share this namespace: sweep.smk and curves.smk use json and shlex
import logging
import os
import re
import shlex

# mettagrid adds a root log handler on import, which would print every Snakemake log line twice.
_root_handlers, _root_level = list(logging.root.handlers), logging.root.level
from daf import paths
from daf.config.load import load_study, validate_study
from daf.errors import UserError
from daf.evaluation.store import STORE_ENV
from daf.limits import LIMITS_ENV
from daf.tracking import TRACKING_ENV
from daf.missions import mission_id
from daf.versions import RULE_VERSIONS
from daf.workflow.plan import StudyPlan, mission_files, report_flags as _report_flags

logging.root.handlers[:] = _root_handlers
logging.root.setLevel(_root_level)

STUDY_FILE = str(workflow.overwrite_configfiles[-1] if workflow.overwrite_configfiles else "config/config.yaml")

try:
    STUDY = validate_study(config, source=STUDY_FILE)  # fails before any job runs
    if validate_study(load_study(STUDY_FILE).model_dump(mode="json"), STUDY_FILE) != STUDY:
        logger.warning(
            f"--config overrides are in effect; the report's provenance shows {STUDY_FILE} as written. "
            "Put the study in a config file for an exact record."
        )
    PLAN = StudyPlan(STUDY)
    PLAN.mission_sha  # each mission's fingerprint: a broken mission file fails here, on one line
except UserError as exc:
    raise WorkflowError(str(exc)) from None

if PLAN.store is not None:
    os.environ[STORE_ENV] = str(PLAN.store.root)  # every `daf evaluate` job (here or on a cluster node) uses it
if PLAN.tracking_targets is not None:  # `daf train` and `daf report` log to MLflow / W&B; no command changes
    os.environ[TRACKING_ENV] = PLAN.tracking_targets.to_env()
# time limits for policy and mission code in every job (evaluation, VOR, cross-play, curves, sweeps);
# from the environment, not the commands: a limit changes whether a job finishes, never its result
os.environ[LIMITS_ENV] = STUDY.evaluation.time_limits().to_env()
POLICIES = PLAN.policies
TRAINED = PLAN.trained
MISSIONS = PLAN.missions  # result-path id -> name or mission file
MISSION_SHA = PLAN.mission_sha  # a param of every job of a mission: a changed game reruns exactly those
MISSION_AGENTS = PLAN.mission_agents
VOR = PLAN.vor
VOR_CANDIDATES = PLAN.vor_candidates
CURVE_POLICIES = PLAN.curve_policies
CROSSPLAY_MISSIONS = PLAN.crossplay_missions
SWEEPS = PLAN.sweeps
PLANNED_SWEEPS = PLAN.planned_sweeps  # grid, random
TPE_SWEEPS = PLAN.tpe_sweeps
PLANNED_TRIALS = PLAN.planned_trials
TPE_SLOTS = PLAN.tpe_slots  # {sweep: [(round, trial id), ...]}
VARIANTS = PLAN.variants


def workflow_error(get):
    """An input function whose one-line UserError (a target outside the study) stops the DAG."""

    def checked(*args):
        try:
            return get(*args)
        except UserError as exc:
            raise WorkflowError(str(exc)) from None

    return checked


wildcard_constraints:
    policy="|".join(map(re.escape, POLICIES)),
    mission="|".join(map(re.escape, MISSIONS)),
    candidate="|".join(map(re.escape, STUDY.vor.candidates)) if STUDY.vor else "(?!)",
    partner="|".join(map(re.escape, POLICIES)),
    partner_run=r"\d+",
    k=r"\d+",
    seed=r"\d+",
    run=r"\d+",


eval_tables = PLAN.eval_tables
train_outputs = PLAN.train_logs
curve_summary_tables = PLAN.curve_summary_tables
curve_reference_tables = PLAN.curve_reference_tables
plan_flags = PLAN.plan_flags
compare_normalize_flag = PLAN.compare_normalize_flag
weights_sha = PLAN.weights_sha
evaluate_files = PLAN.evaluate_files
vor_outputs = PLAN.vor_outputs
crossplay_players = PLAN.crossplay_players
crossplay_cells = PLAN.crossplay_cells
sweep_runs = PLAN.sweep_runs
sweep_json = PLAN.sweep_json
sweep_best_inputs = PLAN.sweep_best_inputs
sweep_replacement_flags = PLAN.sweep_replacement_flags
variant_tables = PLAN.variant_tables

EVALUATE_CHUNK_SHELL = (
    "daf --log-json {log.json} evaluate --policy {params.spec:q} --label {wildcards.policy} --mission {params.mission:q}"
    " --run {wildcards.run} --first-episode {params.first} --episodes {params.size} --seed {params.seed}"
    " --num-envs {params.num_envs} --out {output.table} {params.replays} --no-progress > {log.text} 2>&1"
)


def evaluate_chunk_params(replays):
    return dict(
        spec=lambda w: STUDY.policy_spec(w.policy, int(w.run)),
        mission=lambda w: MISSIONS[w.mission],
        mission_sha=lambda w: MISSION_SHA[w.mission],  # not used by the command: a rerun trigger
        weights_sha=lambda w: weights_sha(w.policy),  # so is the content of an external weights file
        first=lambda w: PLAN.chunk_first(chunk_index(w)),
        size=lambda w: PLAN.chunk_size(chunk_index(w)),  # not the total: a larger `episodes` leaves full chunks alone
        seed=STUDY.evaluation.seed,
        num_envs=STUDY.evaluation.num_envs,
        replays=replays,
        version=RULE_VERSIONS["evaluate"],
    )


def replay_flags(w):
    """Chunk 0 records episode 0 of the run for the report's replay."""
    replay_dir = paths.REPLAY_DIR.format(policy=w.policy, mission=w.mission, run=w.run)
    return f"--replays 1 --replay-dir {replay_dir}"


def chunk_index(w):
    return int(w.get("chunk", 0))  # evaluate_first_chunk's path has no chunk wildcard


def reusable_chunk_input(w):
    """A stored chunk's manifest, else a path nothing makes (then `evaluate_chunk` plays it)."""
    found = PLAN.reusable_chunk(w.policy, w.mission, int(w.run), chunk_index(w))
    return found or str(PLAN.store.root / "not-stored" / f"{w.policy}-{w.mission}-run{w.run}-chunk{chunk_index(w)}")


def evaluation_chunks(w):
    return PLAN.evaluation_chunks(w.policy, w.mission)


checked_seed = workflow_error(lambda w: PLAN.checked_seed(w.policy, int(w.seed)))
evaluate_run_inputs = workflow_error(lambda w: PLAN.run_inputs(w.policy, w.mission, int(w.run)))
crossplay_cell_inputs = workflow_error(
    lambda w: PLAN.crossplay_cell_inputs(w.mission, w.policy, w.partner, int(w.k), int(w.run), int(w.partner_run))
)


def train_settings(policy):
    return STUDY.policies[policy].train


def hyperparameter_flags(w):
    return PLAN.hyperparameter_flags(w.policy)


def tracking_flags(w):
    return PLAN.tracking_flags()


def replacement_flags(w):
    return PLAN.vor_replacement_flags()


def vor_scenario_tables(w):
    return PLAN.vor_scenario_tables(w.candidate)


def report_flags(w, input):
    return _report_flags(input, input.sweeps)


def crossplay_unplayable_flags(w):
    return PLAN.crossplay_unplayable_flags(w.mission)


def planned_trial_params(w):
    return PLANNED_TRIALS[w.sweep][w.trial].params


def sweep_mission_inputs(w):
    return PLAN.sweep_mission_inputs(w.sweep)


def sweep_run_params(w):
    return PLAN.sweep_run_params(w.sweep)


def tpe_previous_round(w):
    return PLAN.tpe_previous_round(w.sweep, w.trial)


def tpe_round_runs(w):
    return PLAN.tpe_round_runs(w.sweep, w.trial)


def sweep_pruner_flag(w):
    return PLAN.sweep_pruner_flag(w.sweep)
