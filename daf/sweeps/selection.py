"""Choosing the best trial: the trial table (only trials whose runs all completed are
ranked), re-evaluating the top-k on fresh episode seeds with bootstrap CIs so that a lucky
trial does not win on noise alone, and the importance of each hyperparameter.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from daf.config.sweeps import SweepConfig
from daf.errors import UserError
from daf.sweeps.space import trial_outcome
from daf.sweeps.trials import evaluate_checkpoint, objective


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
    from daf.stats.estimates import clear_winner, poi_estimate

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
    from daf.evaluation.table import episode_scores

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
