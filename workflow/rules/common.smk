# Shared definitions: the validated study (pydantic, daf.config) and input helpers. Every
# results path comes from daf/paths.py (one table); rules pass files on as {input}/{output}.
import json
import logging
import re
import shlex
from pathlib import Path

# mettagrid adds a root log handler on import, which would print every Snakemake log line twice.
_root_handlers, _root_level = list(logging.root.handlers), logging.root.level
from daf import RULE_VERSIONS, paths
from daf.config import load_study, validate_study
from daf.errors import UserError
from daf.missions import get_mission, is_mission_file, mission_id
from daf.policies import parse_spec
from daf.sweep import planned_trials, tpe_slots

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
except UserError as exc:
    raise WorkflowError(str(exc)) from None

POLICIES = list(STUDY.policies)
TRAINED = STUDY.trained_policies()
MISSIONS = {**STUDY.variant_missions(), **STUDY.mission_by_id()}  # result-path id -> name or mission file
# Changing a mission's game (its MettaGridConfig) or success criterion changes this hash
# and reruns exactly that mission's jobs; Snakemake's params trigger does the bookkeeping.
MISSION_SHA = {
    mid: get_mission(name).fingerprint()
    for mid, name in {**MISSIONS, **{mission_id(m): m for p in TRAINED for m in STUDY.policies[p].train.mission_names()},
                      **{mission_id(m): m for s in STUDY.sweeps for m in STUDY.sweep_mission_names(s)}}.items()
}


wildcard_constraints:
    policy="|".join(map(re.escape, POLICIES)),
    mission="|".join(map(re.escape, MISSIONS)),
    candidate="|".join(map(re.escape, STUDY.vor.candidates)) if STUDY.vor else "(?!)",
    partner="|".join(map(re.escape, POLICIES)),
    partner_run=r"\d+",
    k=r"\d+",
    seed=r"\d+",
    run=r"\d+",


def eval_tables():
    """One table per policy x mission it plays (a trained network only plays missions like its own)."""
    return [paths.EVAL.format(policy=p, mission=m) for p in POLICIES for m in STUDY.policy_missions(p)]


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
        first=lambda w: chunk_index(w) * STUDY.evaluation.chunk,
        size=chunk_size,  # not the total: a larger `episodes` leaves full chunks alone
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


def chunk_size(w):
    """Episodes of a chunk: `evaluation.chunk`, fewer in the last one."""
    first = chunk_index(w) * STUDY.evaluation.chunk
    return min(STUDY.evaluation.chunk, STUDY.evaluation.episodes - first)


def evaluation_chunks(w):
    """Every run x chunk of a policy x mission (runs: the policy's training seeds, else 0)."""
    chunks = range(-(-STUDY.evaluation.episodes // STUDY.evaluation.chunk))
    return [paths.EVAL_CHUNK.format(policy=w.policy, mission=w.mission, run=run, chunk=c)
            for run in STUDY.policy_runs(w.policy) for c in chunks]


def checked_seed(w):
    """A train job's seed, which must be one of the policy's `seeds` (a typo'd target path fails)."""
    seeds = train_settings(w.policy).run_seeds()
    if int(w.seed) not in seeds:
        raise WorkflowError(f"policy '{w.policy}' has no training seed {w.seed}; its seeds: {seeds}")
    return int(w.seed)


def evaluate_run_inputs(w):
    """Files a run's evaluation reads: a mission file and the run's weights (the checkpoint of a
    trained policy comes from its `train` job)."""
    if int(w.run) not in STUDY.policy_runs(w.policy):
        raise WorkflowError(f"policy '{w.policy}' has no run {w.run}; its runs: {STUDY.policy_runs(w.policy)}")
    data = parse_spec(STUDY.policy_spec(w.policy, int(w.run)), check_files=False).data_path
    return mission_files(MISSIONS[w.mission]) + ([data] if data else [])


def train_outputs(policy):
    """The train logs of every run of a policy."""
    return [paths.TRAIN_LOG.format(policy=policy, seed=s) for s in STUDY.policy_runs(policy)]


# --- learning curves ---------------------------------------------------------------------

CURVE_POLICIES = TRAINED if STUDY.curves else []


def curve_summary_tables():
    """What `curves_summary` writes (per-policy tables, summary, final vs best), for the report."""
    if not CURVE_POLICIES:
        return []
    return [*(paths.CURVE_POLICY.format(policy=p) for p in CURVE_POLICIES), paths.CURVES_SUMMARY, paths.FINAL_VS_BEST]


def curve_reference_tables():
    """The normalisation pair's evaluations on the curve missions (they set ALL's 0 and 1)."""
    norm = STUDY.compare.normalization
    if not (CURVE_POLICIES and norm):
        return []
    missions = sorted({m for p in CURVE_POLICIES for m in STUDY.policy_missions(p)})
    return [paths.EVAL.format(policy=ref, mission=m) for ref in (norm.low, norm.high) for m in missions]


def plan_flags():
    plan = STUDY.plan
    if plan is None:
        return ""
    flags = f"--power {plan.power} --max-runs {plan.max_runs} --sims {plan.sims}"
    flags += f" --half-width {plan.half_width}" if plan.half_width else ""
    flags += f" --difference {plan.difference}" if plan.difference else ""
    flags += (" --pairs " + " ".join(plan.pairs)) if plan.pairs else ""
    return flags


def mission_files(*names):
    return [name for name in names if is_mission_file(name)]


def weights_sha(*policies):
    """sha256 of the weights files of policies given as `data=PATH` specs. Profiles rerun on
    params, not modification times, so a changed file reruns its jobs and a touched one does not.
    Trained policies' checkpoints are outputs of `train`: the DAG reruns their dependents."""
    digests = []
    for policy in policies:
        if policy in TRAINED or (STUDY.policies[policy].spec or "").startswith("sweep:"):
            continue
        data = parse_spec(STUDY.policy_spec(policy), check_files=False).data_path
        if data:
            digests.append(file_sha(data))
    return ",".join(digests)


_FILE_SHA = {}


def file_sha(path):
    """sha256 of a weights file, read once per DAG build (every evaluation chunk asks for it)."""
    from daf.checkpoint import sha256_file

    if path not in _FILE_SHA:
        _FILE_SHA[path] = sha256_file(path) if Path(path).is_file() else "missing"
    return _FILE_SHA[path]


def train_settings(policy):
    return STUDY.policies[policy].train


def hyperparameter_flags(wildcards):
    """Every hyperparameter, explicitly: a changed default then reruns training too."""
    hp = train_settings(wildcards.policy).hyperparameters.model_dump(mode="json")
    return " ".join(f"--set {shlex.quote(f'{k}={json.dumps(v)}')}" for k, v in hp.items())


def train_mission_flags(settings):
    """--mission (repeated), --mission-weights and --shape flags of a policy's train settings."""
    flags = " ".join(f"--mission {shlex.quote(m)}" for m in settings.mission_names())
    if settings.mission_weights:
        flags += " --mission-weights " + ",".join(map(str, settings.mission_weights))
    if settings.preset:
        flags += f" --preset {settings.preset}"
    for stat, weight in sorted(settings.shaping.items()):
        flags += f" --shape {shlex.quote(f'{stat}={weight}')}"
    return flags


def tracking_flags(wildcards):
    return "--tensorboard" if STUDY.tracking.tensorboard else ""


# --- comparison and VOR ------------------------------------------------------------------

VOR = STUDY.vor
VOR_CANDIDATES = VOR.candidates if VOR else []
MISSION_AGENTS = {mid: get_mission(name).config().game.num_agents for mid, name in MISSIONS.items()}


def compare_normalize_flag():
    norm = STUDY.compare.normalization
    return f"--normalize {norm.low},{norm.high}" if norm else ""


def evaluate_files(*policies, mission):
    """Inputs of an evaluation of these policies: mission file, weights files."""
    files = mission_files(MISSIONS[mission])
    for policy in policies:
        data = parse_spec(STUDY.policy_spec(policy), check_files=False).data_path
        files += [data] if data else []
    return files


def pool_flags(names, weights=None):
    """A replacement pool as `daf evaluate` and `daf sweep run|best` take it: one --replacement
    SPEC per policy, their labels, and their shares."""
    flags = " ".join(f"--replacement {shlex.quote(STUDY.policy_spec(p))}" for p in names)
    flags += " --replacement-labels " + ",".join(names)  # tables name config policies, not specs
    if weights:
        flags += " --replacement-weights " + ",".join(map(str, weights))
    return flags


def replacement_flags(wildcards):
    return pool_flags(VOR.replacement, VOR.replacement_weights)


def vor_scenario_tables(wildcards):
    tables = []
    for mission in STUDY.vor_missions(wildcards.candidate):
        tables += [paths.VOR_SCENARIO.format(candidate=wildcards.candidate, mission=mission, k=k)
                   for k in range(1, MISSION_AGENTS[mission] + 1)]
        tables.append(paths.VOR_REPLACEMENT.format(mission=mission))
    return tables


def vor_outputs():
    return [paths.VOR.format(candidate=c) for c in VOR_CANDIDATES]


def report_flags(wildcards, input):
    """Optional report inputs as flags (a flag with no files would be an error)."""
    flags = []
    for name in ("vor", "train_logs", "replays", "variants", "curves", "plan", "crossplay", "crossplay_gaps"):
        files = list(input[name])
        if files:
            flags.append(f"--{name.replace('_', '-')} " + " ".join(files))
    if input.sweeps:
        flags.append("--sweeps " + " ".join(str(Path(f).parent) for f in input.sweeps))
    return " ".join(flags)


# --- cross-play ----------------------------------------------------------------------------

CROSSPLAY_MISSIONS = STUDY.crossplay_missions()


def crossplay_players(mission):
    """The cross-play policies that play `mission` (the others' cells are skipped with a note)."""
    return [p for p in STUDY.crossplay.policies if mission in STUDY.policy_missions(p)]


def crossplay_counts(mission):
    """A's agent counts of the splits on `mission`; splits giving the same count share jobs."""
    from daf.crossplay import split_agents

    return sorted({split_agents(s, MISSION_AGENTS[mission], mission) for s in STUDY.crossplay.splits})


def crossplay_pairings(a, b):
    """(A's run, B's run) of a cell's jobs: pairing i plays A's i-th run with B's i-th, cycling
    the shorter list, so every run of both policies plays (max(runs) jobs, not runs x runs)."""
    runs_a, runs_b = STUDY.policy_runs(a), STUDY.policy_runs(b)
    return [(runs_a[i % len(runs_a)], runs_b[i % len(runs_b)]) for i in range(max(len(runs_a), len(runs_b)))]


def crossplay_cells(mission):
    players = crossplay_players(mission)
    return [paths.CROSSPLAY_CELL.format(mission=mission, policy=a, partner=b, k=k, run=r, partner_run=rb)
            for k in crossplay_counts(mission) for a in players for b in players if a != b
            for r, rb in crossplay_pairings(a, b)]


def crossplay_cell_inputs(w):
    """A cell's mission file and the weights of A's and B's runs; a target outside the study fails."""
    if w.mission not in CROSSPLAY_MISSIONS or {w.policy, w.partner} - set(crossplay_players(w.mission)) \
            or w.policy == w.partner or int(w.k) not in crossplay_counts(w.mission) \
            or (int(w.run), int(w.partner_run)) not in crossplay_pairings(w.policy, w.partner):
        raise WorkflowError(f"no cross-play cell {w.policy} (run {w.run}) with {w.partner} (run {w.partner_run}) "
                            f"on {w.k} agents of {w.mission} in this study (crossplay: {STUDY.crossplay})")
    files = mission_files(MISSIONS[w.mission])
    for policy, run in ((w.policy, int(w.run)), (w.partner, int(w.partner_run))):
        data = parse_spec(STUDY.policy_spec(policy, run), check_files=False).data_path
        files += [data] if data else []
    return files


def crossplay_unplayable_flags(w):
    return " ".join(f"--unplayable {shlex.quote(f'{p}={why}')}"
                    for p, why in STUDY.crossplay_unplayable(w.mission).items())


# --- sweeps and variants -----------------------------------------------------------------

SWEEPS = STUDY.sweeps
PLANNED_SWEEPS = [name for name, s in SWEEPS.items() if s.strategy != "tpe"]  # grid, random
TPE_SWEEPS = [name for name, s in SWEEPS.items() if s.strategy == "tpe"]
PLANNED_TRIALS = {name: {t.id: t for t in planned_trials(SWEEPS[name])} for name in PLANNED_SWEEPS}
TPE_SLOTS = {name: tpe_slots(SWEEPS[name]) for name in TPE_SWEEPS}  # [(round, trial id), ...]


def sweep_trial_ids(sweep):
    if sweep in PLANNED_TRIALS:
        return list(PLANNED_TRIALS[sweep])
    return [tid for _, tid in TPE_SLOTS[sweep]]


def sweep_runs(sweep, trials=None):
    return [paths.SWEEP_RUN.format(sweep=sweep, trial=t, seed=s)
            for t in (trials or sweep_trial_ids(sweep)) for s in SWEEPS[sweep].seeds]


def sweep_base(sweep):
    """The tuned policy's train settings (the trial's hyperparameters and seed go on top)."""
    base = STUDY.policies[SWEEPS[sweep].policy].train.model_dump(mode="json")
    base.pop("seed")
    base.pop("seeds")  # a trial's seeds are the sweep's
    base["steps"] = SWEEPS[sweep].steps or base["steps"]
    return json.dumps(base, sort_keys=True)


def sweep_replacement_flags(sweep):
    if SWEEPS[sweep].objective.metric != "vor":
        return ""
    return pool_flags(STUDY.sweep_replacement(sweep), STUDY.sweep_replacement_weights(sweep))


def sweep_json(sweep):
    return json.dumps(SWEEPS[sweep].model_dump(mode="json"), sort_keys=True)


def sweep_best_inputs():
    return [paths.SWEEP_BEST.format(sweep=name) for name in SWEEPS]


VARIANTS = STUDY.variants


def variant_tables(name):
    return [paths.EVAL.format(policy=p, mission=mission_id(m))
            for p in VARIANTS[name].policies for m in VARIANTS[name].mission_names()]


def planned_trial_params(w):
    return PLANNED_TRIALS[w.sweep][w.trial].params


def sweep_mission_inputs(w):
    return mission_files(*train_settings(SWEEPS[w.sweep].policy).mission_names(), *STUDY.sweep_mission_names(w.sweep))


def sweep_run_params(w):
    """Everything a run's result depends on (a change reruns it; a larger budget does not)."""
    sweep = SWEEPS[w.sweep]
    return {
        "base": sweep_base(w.sweep),
        "missions": " ".join(shlex.quote(m) for m in STUDY.sweep_mission_names(w.sweep)),
        "mission_sha": [MISSION_SHA[mission_id(m)] for m in STUDY.sweep_mission_names(w.sweep)],
        "episodes": sweep.episodes,
        "eval_seed": sweep.evaluation_seed,
        "metric": sweep.objective.metric,
        "direction": sweep.objective.direction,
        "replacement": sweep_replacement_flags(w.sweep),
        "num_envs": STUDY.evaluation.num_envs,  # the study's evaluations batch episodes the same way
    }


def tpe_previous_round(w):
    """tpe: a trial of round r is asked once every trial of round r-1 is told."""
    rounds = dict((tid, r) for r, tid in TPE_SLOTS[w.sweep])
    previous = [tid for r, tid in TPE_SLOTS[w.sweep] if r == rounds[w.trial] - 1]
    return [paths.SWEEP_TOLD.format(sweep=w.sweep, trial=tid) for tid in previous]


def tpe_round_runs(w):
    """tpe: a trial is told once every trial of its round has finished. Until then no trial of
    the round is complete, so the median pruner compares a running trial with earlier rounds
    only, and the sweep does not depend on which job happened to finish first."""
    rounds = dict((tid, r) for r, tid in TPE_SLOTS[w.sweep])
    return sweep_runs(w.sweep, [tid for r, tid in TPE_SLOTS[w.sweep] if r == rounds[w.trial]])


def sweep_pruner_flag(w):
    pruner = SWEEPS[w.sweep].pruner
    return f"--pruner {shlex.quote(json.dumps(pruner.model_dump(mode='json'), sort_keys=True))}" if pruner else ""
