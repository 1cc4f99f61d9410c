"""Hyperparameter sweeps: trials that really train, honest outcomes, CI-aware selection.

A sweep tunes one `train:` policy of the study. A *trial* is one hyperparameter setting;
it trains once per seed of the sweep (a *run*) and evaluates every run on the sweep's
missions. The objective of a trial is the mean over its runs.

- grid: every combination of the space's `values` / `points`. Trial ids hash the setting,
  so a new grid value adds trials and renumbers nothing.
- random: trial i samples from a generator seeded with (sampler_seed, i); a larger budget
  appends trials and leaves the first ones alone.
- tpe: Optuna's TPE in rounds of `batch_size` trials. Round r's trials are asked (each
  with its own sampler seed, from the completed trials of rounds < r only) once every
  trial of round r-1 is told. The Optuna study lives in a journal file under results/, so
  a crashed sweep resumes without losing or repeating a finished trial.

A run that raises (diverged loss, impossible batch shape, ...) is recorded as *failed*
with its error and never gets a score; a pruned run is recorded as *pruned*. Only trials
whose runs all completed are ranked. The best trial is chosen after re-evaluating the
top-k on fresh episode seeds, with bootstrap CIs, so a lucky trial does not win on noise
alone.
"""

from __future__ import annotations

import hashlib
import json
import math
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from daf.config import PPOConfig, SweepConfig, TrainConfig
from daf.errors import UserError

if TYPE_CHECKING:  # daf.stats (scipy) loads where a sweep is scored, not where the workflow plans trials
    from daf.stats import Estimate


@dataclass(frozen=True)
class Trial:
    id: str
    params: dict


# --- the search space --------------------------------------------------------------------


def coerce(key: str, value: object) -> object:
    """A value as the trainer types it (YAML may give '1e-3' as a string, 64.0 for an int)."""
    if key == "arch":
        return str(value)
    return getattr(PPOConfig(**{key: value}), key)


def trial_id(params: dict) -> str:
    text = json.dumps({k: params[k] for k in sorted(params)}, sort_keys=True)
    return "t" + hashlib.sha256(text.encode()).hexdigest()[:8]


def grid_points(key: str, space) -> list:
    if space.values is not None:
        return [coerce(key, v) for v in space.values]
    if space.log:
        points = np.geomspace(space.low, space.high, space.points)
    else:
        points = np.linspace(space.low, space.high, space.points)
    values = [coerce(key, round(float(p)) if _is_int(key) else float(p)) for p in points]
    return list(dict.fromkeys(values))  # an integer range may round two points together


def _is_int(key: str) -> bool:
    return key != "arch" and PPOConfig.model_fields[key].annotation is int


def sample_value(key: str, space, rng: np.random.Generator) -> object:
    if space.values is not None:
        return coerce(key, space.values[int(rng.integers(len(space.values)))])
    low, high = space.low, space.high
    if _is_int(key):
        if space.log:
            value = math.exp(rng.uniform(math.log(low - 0.5 + 1e-9), math.log(high + 0.5)))
            return coerce(key, int(min(max(round(value), low), high)))
        return coerce(key, int(rng.integers(int(low), int(high) + 1)))
    value = math.exp(rng.uniform(math.log(low), math.log(high))) if space.log else rng.uniform(low, high)
    return coerce(key, float(value))


def planned_trials(sweep: SweepConfig) -> list[Trial]:
    """Trials of a grid or random sweep, known before anything runs (so they are DAG jobs)."""
    keys = sorted(sweep.space)
    if sweep.strategy == "grid":
        import itertools

        combos = itertools.product(*(grid_points(k, sweep.space[k]) for k in keys))
        settings = [dict(zip(keys, combo)) for combo in combos]
    elif sweep.strategy == "random":
        settings = []
        for i in range(sweep.trials):
            rng = np.random.default_rng([sweep.sampler_seed, i])
            settings.append({k: sample_value(k, sweep.space[k], rng) for k in keys})
    else:
        raise ValueError("tpe trials are asked from Optuna round by round (see tpe_slots)")
    trials = {}
    for params in settings:
        trials.setdefault(trial_id(params), Trial(trial_id(params), params))  # a repeat is one trial
    return list(trials.values())


def tpe_slots(sweep: SweepConfig) -> list[tuple[int, str]]:
    """(round, trial id) of every TPE trial: round r holds trials r*batch .. r*batch+batch-1."""
    return [(i // sweep.batch_size, f"r{i // sweep.batch_size:03d}-{i % sweep.batch_size:03d}")
            for i in range(sweep.trials)]  # fmt: skip


def apply_params(base: TrainConfig, params: dict) -> TrainConfig:
    """The base policy's training settings with a trial's hyperparameters."""
    hp = {**base.hyperparameters.model_dump(), **{k: v for k, v in params.items() if k != "arch"}}
    update = {"hyperparameters": PPOConfig(**hp)}
    if "arch" in params:
        update["arch"] = params["arch"]
    return base.model_copy(update=update)


# --- Optuna (tpe) ----------------------------------------------------------------------


def distributions(spaces: dict) -> dict:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for key in sorted(spaces):
        space = spaces[key]
        if space.values is not None:
            out[key] = CategoricalDistribution([coerce(key, v) for v in space.values])
        elif _is_int(key):
            out[key] = IntDistribution(int(space.low), int(space.high), log=space.log)
        else:
            out[key] = FloatDistribution(space.low, space.high, log=space.log)
    return out


def make_pruner(pruner: dict | None):
    import optuna

    if not pruner:
        return optuna.pruners.NopPruner()
    if pruner["kind"] == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=pruner["startup_trials"], n_warmup_steps=pruner["warmup_reports"]
        )
    return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=pruner["reduction_factor"])


def open_study(journal: Path, name: str, direction: str, pruner: dict | None = None, sampler=None):
    """The sweep's Optuna study in its journal file (created on first use)."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    journal.parent.mkdir(parents=True, exist_ok=True)
    storage = JournalStorage(JournalFileBackend(str(journal)))
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction=direction,
        sampler=sampler,
        pruner=make_pruner(pruner),
        load_if_exists=True,
    )


def ask(spaces: dict, direction: str, sampler_seed: int, startup_trials: int, name: str, journal: Path,
        slot: str, index: int) -> dict:  # fmt: skip
    """The proposal for one TPE slot. Idempotent: a slot asked before (e.g. by a job that
    crashed before writing its proposal) gets the same Optuna trial back."""
    import optuna

    sampler = optuna.samplers.TPESampler(
        seed=int(np.random.SeedSequence([sampler_seed, index]).generate_state(1)[0]),
        n_startup_trials=startup_trials,
        constant_liar=False,  # ignore running trials: a proposal depends on finished rounds only
    )
    study = open_study(journal, name, direction, None, sampler)
    for frozen in study.get_trials(deepcopy=False):
        if frozen.user_attrs.get("slot") == slot:
            if frozen.distributions != distributions(spaces):
                raise UserError(
                    f"trial {slot} was asked before with another search space ({frozen.params}); "
                    f"delete {journal.parent} to restart the sweep with the new space"
                )
            return _proposal(slot, frozen.number, frozen._trial_id, frozen.params)
    trial = study.ask(distributions(spaces))
    trial.set_user_attr("slot", slot)
    return _proposal(slot, trial.number, trial._trial_id, trial.params)


def _proposal(slot: str, number: int, optuna_id: int, params: dict) -> dict:
    return {"trial": slot, "optuna_number": number, "optuna_trial_id": optuna_id, "params": params}


def tell(name: str, journal: Path, direction: str, proposal: dict, runs: list[dict]) -> dict:
    """Tell Optuna a trial's outcome (once; telling again is a no-op)."""
    from optuna.trial import TrialState

    study = open_study(journal, name, direction)
    outcome = trial_outcome(runs)
    frozen = study._storage.get_trial(proposal["optuna_trial_id"])
    if frozen.state == TrialState.RUNNING:
        state = {"completed": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "failed": TrialState.FAIL}
        value = outcome["objective"] if outcome["status"] == "completed" else None
        if outcome["error"]:
            study._storage.set_trial_system_attr(frozen._trial_id, "fail_reason", outcome["error"][:1000])
        study.tell(frozen.number, value, state=state[outcome["status"]], skip_if_finished=True)
    return {**proposal, **outcome}


class Pruning:
    """`on_update` hook for ppo.train: every `interval` agent-steps, report the mean reward
    per agent-step of the rollouts since the last report (defined long before the first
    episode ends) to the Optuna trial, and stop when the pruner says so. With several seeds
    the first seed's run reports; the others stop once it was pruned."""

    def __init__(self, study, optuna_trial_id: int, interval: int, reporter: bool):
        import optuna

        self.study, self.interval, self.reporter = study, interval, reporter
        self.trial = optuna.trial.Trial(study, optuna_trial_id)
        self.optuna_trial_id = optuna_trial_id
        self.window: list[float] = []
        self.next_report = interval
        self.reports: list[dict] = []
        self.pruned_at: int | None = None

    def __call__(self, row: dict) -> bool:
        if math.isfinite(row["reward_per_step"]):
            self.window.append(row["reward_per_step"])
        if row["agent_steps"] < self.next_report:
            return False
        step = row["agent_steps"] // self.interval
        self.next_report = (step + 1) * self.interval
        if not self.reporter:
            attrs = self.study._storage.get_trial(self.optuna_trial_id).user_attrs
            if "pruned_at_step" in attrs:
                self.pruned_at = row["agent_steps"]
                return True
            return False
        if not self.window:
            return False
        value = float(np.mean(self.window))
        self.window = []
        self.trial.report(value, step)
        self.reports.append({"step": step, "agent_steps": row["agent_steps"], "value": value})
        if self.trial.should_prune():
            self.pruned_at = row["agent_steps"]
            self.trial.set_user_attr("pruned_at_step", row["agent_steps"])
            return True
        return False


# --- one run: train, evaluate, score -----------------------------------------------------


def run_trial(
    settings: TrainConfig,
    out: Path,
    missions: list[str],
    episodes: int,
    eval_seed: int,
    metric: str,
    replacement: list[tuple[str, str]],
    label: str,
    pruning: Pruning | None = None,
    device: str = "cpu",
    weights: list[float] | None = None,
    num_envs: int = 16,
) -> dict:
    """Train one run of a trial and evaluate it. Errors of the trial itself (divergence,
    impossible settings, a crash in training code) are caught and recorded; errors of the
    machine (disk, memory) propagate so that the scheduler retries the job."""
    from daf import ppo
    from daf.io import write_parquet
    from daf.missions import get_mission

    record = {"status": "completed", "error": None, "objective": None}
    try:
        sidecar = ppo.train(
            [get_mission(m) for m in settings.mission_names()],
            settings.steps,
            settings.run_seeds()[0],
            out,
            arch=settings.arch,
            hp=settings.hyperparameters,
            device_name=device,
            progress=False,
            on_update=pruning,
            mission_weights=settings.mission_weights,
            shaping=settings.shaping,
            preset=settings.preset,
        )
        record.update(steps=sidecar["steps"], wall_seconds=sidecar["wall_seconds"])
        if sidecar["stopped_early"]:
            record.update(status="pruned", pruned_at_step=pruning.pruned_at)
        else:
            frame = evaluate_checkpoint(out / "model.pt", missions, episodes, eval_seed, metric, replacement, label,
                                        weights=weights, num_envs=num_envs)  # fmt: skip
            write_parquet(out / "evals.parquet", frame)
            estimate = objective(frame, metric, label)
            record.update(objective=estimate.point, objective_low=estimate.low, objective_high=estimate.high)
            record["checkpoint"] = str(out / "model.pt")
            record["evals"] = str(out / "evals.parquet")
    except (OSError, MemoryError):
        raise
    except Exception as exc:  # the trial's own failure: record it, never score it
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        record.update(status="failed", error=f"{type(exc).__name__}: {message}", traceback=traceback.format_exc())
    if pruning is not None and pruning.reports:
        record["reports"] = pruning.reports
    return record


def evaluate_checkpoint(
    model: Path,
    missions: list[str],
    episodes: int,
    seed: int,
    metric: str,
    replacement: list[tuple[str, str]],
    label: str,
    weights: list[float] | None = None,
    num_envs: int = 16,
) -> pd.DataFrame:
    """Episodes of a checkpoint on each mission, `num_envs` in lockstep; for the vor metric,
    every scenario k = 0..N against the replacement pool [(label, spec), ...], which splits
    the other agents by `weights` (default equal) as in `daf evaluate --replacement-weights`
    (a `scenario` column tells the scenarios apart)."""
    from daf.missions import get_mission
    from daf.policies import parse_spec
    from daf.policies.actors import build_actor
    from daf.rollout import Seat, mission_env_info, run_episodes

    weights = [1.0] * len(replacement) if weights is None else list(weights)
    if len(weights) != len(replacement):
        raise ValueError(f"{len(replacement)} replacement policies but {len(weights)} weights")

    frames = []
    for name in missions:
        mission = get_mission(name)
        info = mission_env_info(mission)
        spec = parse_spec(f"class=trained,data={model}")
        candidate = Seat(label, build_actor(spec, info, seed=seed))
        if metric != "vor":
            frames.append(run_episodes(mission, candidate, episodes, seed, num_envs=num_envs))
            continue
        pool = [
            (Seat(r_label, build_actor(parse_spec(r_spec), info, seed=seed)), weight)
            for (r_label, r_spec), weight in zip(replacement, weights)
        ]
        for k in range(mission.config().game.num_agents + 1):
            frame = run_episodes(
                mission, candidate, episodes, seed, replacement=pool, candidate_agents=k, num_envs=num_envs
            )
            frames.append(frame.assign(scenario=f"k{k}"))
    return pd.concat(frames, ignore_index=True)


def objective(
    frame: pd.DataFrame, metric: str, label: str, confidence: float = 0.95, reps: int = 2000, seed: int = 0
) -> Estimate:
    """The objective with a bootstrap CI. Missions weigh equally for the mean and success
    rate; iqm and median pool the episodes of all missions (as rliable does). A trial trained
    with several seeds has one run per seed (`run` column): the CI is then run-level, a
    two-level bootstrap (runs, then episodes within each run), not one network's episodes."""
    from daf.stats import Estimate, bootstrap_estimate, episode_scores, run_matrix

    if metric == "vor":
        from daf.vor import vor

        result = vor(frame, label, confidence, reps, seed)
        return Estimate(result["vor"], result["ci_low"], result["ci_high"])
    scores = episode_scores(frame[frame["policy"] == label])
    column = "success" if metric == "success_rate" else "score"
    strata = [run_matrix(part, column) for _, part in scores.groupby("mission", sort=True)]
    statistic = "mean" if metric in ("mean", "success_rate") else metric
    return bootstrap_estimate(strata, statistic, confidence, reps, seed, equal_weight=True)


def trial_outcome(runs: list[dict]) -> dict:
    """A trial from its runs: failed if any run failed, pruned if any was pruned, else the
    mean objective over the runs."""
    errors = [r["error"] for r in runs if r["status"] == "failed"]
    if errors:
        return {"status": "failed", "objective": None, "error": errors[0]}
    if any(r["status"] == "pruned" for r in runs):
        return {"status": "pruned", "objective": None, "error": None}
    return {"status": "completed", "objective": float(np.mean([r["objective"] for r in runs])), "error": None}


# --- summary, top-k re-evaluation, best --------------------------------------------------


def trial_table(trials: list[dict]) -> pd.DataFrame:
    """One row per trial: id, status, objective, error, `param.NAME` columns, and the
    objective of each seed's run."""
    rows = []
    for t in trials:
        outcome = trial_outcome(t["runs"])
        row = {"trial": t["trial"], "order": t["order"], **outcome, "runs": len(t["runs"])}
        row["wall_seconds"] = float(sum(r.get("wall_seconds", 0.0) or 0.0 for r in t["runs"]))
        for key, value in sorted(t["params"].items()):
            row[f"param.{key}"] = value
        for r in t["runs"]:
            row[f"seed{r['seed']}"] = r["objective"]
        rows.append(row)
    frame = pd.DataFrame(rows)
    return frame.sort_values("order", kind="stable").reset_index(drop=True)


def top_trials(table: pd.DataFrame, k: int, direction: str) -> list[str]:
    done = table[table["status"] == "completed"]
    ranked = done.sort_values(["objective", "order"], ascending=[direction == "minimize", True], kind="stable")
    return list(ranked["trial"][:k])


def select_best(
    frames: dict[str, pd.DataFrame],
    metric: str,
    direction: str,
    confidence: float,
    reps: int,
    seed: int,
) -> tuple[pd.DataFrame, dict]:
    """Re-evaluated top trials -> a table with CIs and the choice. The best has the best
    re-evaluated point estimate; `separated` says whether it is clearly better
    (`stats.clear_winner`: the two CIs do not overlap), and the probability of improvement over the runner-up (paired by
    episode seed) says how sure the choice is."""
    from daf.stats import clear_winner, poi_estimate

    rows = []
    for trial, frame in frames.items():
        est = objective(frame, metric, trial, confidence, reps, seed)
        rows.append({"trial": trial, "objective": est.point, "ci_low": est.low, "ci_high": est.high})
    table = pd.DataFrame(rows)
    table = table.sort_values("objective", ascending=direction == "minimize", kind="stable").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    best = table.iloc[0]
    choice = {"trial": best["trial"], "objective": float(best["objective"]),
              "ci_low": float(best["ci_low"]), "ci_high": float(best["ci_high"])}  # fmt: skip
    if len(table) > 1:
        runner = table.iloc[1]
        choice["runner_up"] = runner["trial"]
        choice["separated"] = clear_winner((float(best["ci_low"]), float(best["ci_high"])),
                                           (float(runner["ci_low"]), float(runner["ci_high"])),
                                           maximize=direction == "maximize")  # fmt: skip
        if metric != "vor":
            pairs = _paired_scores(frames[best["trial"]], frames[runner["trial"]], best["trial"], runner["trial"])
            if direction == "minimize":
                pairs = [(y, x) for x, y in pairs]
            poi = poi_estimate(pairs, confidence, reps, seed, paired=True)
            choice.update(poi_vs_runner_up=poi.point, poi_low=poi.low, poi_high=poi.high)
    return table, choice


def _paired_scores(a: pd.DataFrame, b: pd.DataFrame, label_a: str, label_b: str) -> list[tuple]:
    from daf.stats import episode_scores

    sa, sb = episode_scores(a[a["policy"] == label_a]), episode_scores(b[b["policy"] == label_b])
    pairs = []
    for mission, part in sa.groupby("mission", sort=True):  # runs of both trials share seeds: pair (run, episode)
        other = sb[sb["mission"] == mission].set_index(["run", "episode"])["score"]
        part = part.set_index(["run", "episode"])["score"]
        common = part.index.intersection(other.index)
        pairs.append((part[common].to_numpy(), other[common].to_numpy()))
    return pairs


def importance(table: pd.DataFrame) -> pd.DataFrame:
    """How much each hyperparameter matters over the completed trials: |Spearman rho| with
    the objective for numbers, epsilon-squared of the Kruskal-Wallis test for choices
    (both rank-based, 0..1). NaN when the parameter never varied or too few trials."""
    from scipy import stats

    done = table[table["status"] == "completed"]
    rows = []
    for column in [c for c in table.columns if c.startswith("param.")]:
        values, y = done[column], done["objective"].to_numpy(dtype=np.float64)
        method, score = "", float("nan")
        if len(done) >= 3 and values.nunique() > 1 and np.ptp(y) > 0:
            if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
                method, score = "spearman", float(abs(stats.spearmanr(values.to_numpy(dtype=float), y).statistic))
            else:
                groups = [y[(values == v).to_numpy()] for v in values.unique()]
                h = stats.kruskal(*groups).statistic
                method, score = "kruskal_epsilon2", float(h / (len(y) - 1))
        rows.append({"parameter": column.removeprefix("param."), "importance": score, "method": method})
    return pd.DataFrame(rows, columns=["parameter", "importance", "method"])


def load_runs(paths: list[str | Path]) -> list[dict]:
    runs = []
    for path in paths:
        try:
            runs.append(json.loads(Path(path).read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise UserError(f"cannot read sweep run '{path}': {exc}") from None
    return runs


def group_runs(runs: list[dict], proposals: dict[str, dict]) -> list[dict]:
    """Runs -> trials (in the order of `proposals`)."""
    by_trial: dict[str, list[dict]] = {}
    for run in runs:
        by_trial.setdefault(run["trial"], []).append(run)
    trials = []
    for order, (tid, proposal) in enumerate(proposals.items()):
        if tid not in by_trial:
            raise UserError(f"trial '{tid}' has no finished run")
        runs_sorted = sorted(by_trial[tid], key=lambda r: r["seed"])
        trials.append({"trial": tid, "order": order, "params": proposal["params"], "runs": runs_sorted})
    return trials


def summarize_sweep(sweep: SweepConfig, runs: list[dict]) -> tuple[pd.DataFrame, dict]:
    """The trial table (one row per trial) and the summary `sweep best` reads: counts by
    status and the `top_k` completed trials."""
    proposals = {}
    for run in runs:
        proposals.setdefault(run["trial"], {"params": run["params"]})
    table = trial_table(group_runs(runs, proposals))
    counts = table["status"].value_counts().to_dict()
    summary = {
        "strategy": sweep.strategy,
        "metric": sweep.objective.metric,
        "direction": sweep.objective.direction,
        "trials": len(table),
        "completed": int(counts.get("completed", 0)),
        "pruned": int(counts.get("pruned", 0)),
        "failed": int(counts.get("failed", 0)),
        "top": top_trials(table, sweep.top_k, sweep.objective.direction),
    }
    return table, summary


def choose_best(
    sweep: SweepConfig,
    top: list[str],
    runs: list[dict],
    replacement: list[tuple[str, str]],
    weights: list[float],
    num_envs: int,
    confidence: float,
    reps: int,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], dict, dict]:
    """Re-evaluate the `top` trials on fresh episode seeds (every training seed's checkpoint a
    run, all on the same episodes, so CIs are run-level) and pick the best. Returns the top
    table, the re-evaluation frames per trial, the choice (best.json without its checkpoint
    path) and the best trial's first run (whose checkpoint becomes best/model.pt)."""
    by_trial: dict[str, list[dict]] = {}
    for run in runs:
        by_trial.setdefault(run["trial"], []).append(run)
    frames = {}
    for trial in top:
        parts = []
        for run in sorted(by_trial[trial], key=lambda r: r["seed"]):
            frame = evaluate_checkpoint(
                Path(run["checkpoint"]), run["missions"], sweep.reevaluation_episodes, sweep.reevaluation_seed,
                sweep.objective.metric, replacement, trial, weights=weights, num_envs=num_envs,
            )  # fmt: skip
            frame["run"] = run["seed"]
            if "scenario" in frame:
                frame["scenario"] = f"s{run['seed']}-" + frame["scenario"]
            parts.append(frame)
        frames[trial] = pd.concat(parts, ignore_index=True)
    table, choice = select_best(frames, sweep.objective.metric, sweep.objective.direction, confidence, reps, 0)
    best_run = sorted(by_trial[choice["trial"]], key=lambda r: r["seed"])[0]
    choice.update(
        params=best_run["params"],
        settings=best_run["settings"],
        checkpoint=None,
        source_checkpoint=best_run["checkpoint"],
        metric=sweep.objective.metric,
        direction=sweep.objective.direction,
        reevaluation_episodes=sweep.reevaluation_episodes,
        reevaluation_seed=sweep.reevaluation_seed,
        confidence=confidence,
    )
    table["search_objective"] = table["trial"].map(
        {t: float(sum(r["objective"] for r in rs) / len(rs)) for t, rs in by_trial.items() if t in frames}
    )
    return table, frames, choice, best_run


def trial_settings(base: object, seed: int, params: dict, trial: str) -> TrainConfig:
    """The training settings of one run of a trial: the policy's `train:` settings (`base`,
    JSON) with the run's seed and the trial's hyperparameters; one-line errors naming the field."""
    from pydantic import ValidationError

    from daf.config import format_validation_error

    try:
        settings = TrainConfig.model_validate({**base, "seed": seed})
    except ValidationError as exc:
        raise UserError(format_validation_error(exc, "--base", TrainConfig)) from None
    except TypeError:
        raise UserError(f"--base must be a JSON mapping of train settings (got {base!r})") from None
    try:
        return apply_params(settings, params)
    except Exception as exc:  # pydantic names the field
        raise UserError(f"trial {trial}: invalid hyperparameters {params}: {exc}") from None


def run_record(
    outcome: dict, trial: str, seed: int, params: dict, settings: TrainConfig, metric: str, missions: list[str],
    replacement: list[tuple[str, str]], weights: list[float], num_envs: int,
) -> dict:  # fmt: skip
    """run.json: what the run was (trial, seed, hyperparameters, settings, objective, pool),
    its `run_trial` outcome, and the versions and commit that produced it."""
    from daf.io import git_commit, package_versions

    return {
        "trial": trial,
        "seed": seed,
        "params": params,
        "settings": settings.model_dump(mode="json"),
        "metric": metric,
        "missions": missions,
        "replacement": [{"label": label, "spec": spec, "weight": w} for (label, spec), w in zip(replacement, weights)],
        "num_envs": num_envs,
        **outcome,
        "versions": package_versions(),
        "git_commit": git_commit(Path(__file__).parent),
    }
