"""Value over replacement (VOR) and weighted scores, as CoGames defines them.

Follows cogames 0.27 `metta_alo.scoring`. For a candidate policy on a mission with N
agents, scenario k (k = 0..N) plays episodes where the candidate controls k agents and
the replacement (a policy or a pool) the rest (`daf evaluate --candidate-agents k`).

- replacement mean = mean over the k = 0 episodes of the per-episode mean agent reward;
- candidate mean_k (k >= 1) = mean over episodes of the mean reward of the candidate's agents;
- VOR = sum_k(mean_k * k * episodes_k) / sum_k(k * episodes_k) - replacement mean;
- the VOR curve: VOR_k = mean_k - replacement mean.

Across missions, DAF reports the mean of the per-mission VORs (every mission weighs the
same). Confidence intervals come from a bootstrap that resamples episodes within every
(mission, k) scenario.

Training runs. A candidate DAF trained with several seeds plays every scenario once per run
(the `run` column; the k = 0 replacement scenario has no candidate and is shared). Its VOR is
the mean over runs (equal episodes per run: the pooled means), each run's VOR is reported, and
the interval is two-level: a replicate draws the runs with replacement (the same draw for every
mission and k: a run is one network) and then episodes within each drawn run's scenarios; the
replacement's k = 0 episodes are resampled once per replicate. A single-run candidate keeps the
episode bootstrap, with the note that its interval holds evaluation noise only.

Weighted scores average each policy's per-episode score over all episodes, each episode
weighted by the policy's share of its agents (`compute_weighted_scores`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daf.errors import UserError
from daf.evaluation.table import check_eval_table
from daf.stats.bootstrap import multinomial_counts, percentile_interval

ONE_RUN_NOTE = "one training run: the CI reflects evaluation noise only"


def _episode_table(scenarios: pd.DataFrame, candidate: str) -> pd.DataFrame:
    """Per mission x scenario table x run x episode: k, candidate score, all-agent mean."""
    check_eval_table(scenarios, {"policy", "mission", "episode", "seed", "agent", "reward"}, "scenario table")
    is_candidate = scenarios["policy"] == candidate
    run = scenarios["run"] if "run" in scenarios else pd.Series(0, scenarios.index)
    grouped = scenarios.assign(cand=is_candidate, cand_reward=scenarios["reward"].where(is_candidate),
                               run=run.fillna(0).astype(np.int64))  # fmt: skip
    per = grouped.groupby(["mission", "scenario", "run", "episode"], sort=True).agg(
        k=("cand", "sum"), candidate=("cand_reward", "mean"), everyone=("reward", "mean"), agents=("agent", "count")
    )
    per = per.reset_index()
    ks = per.groupby(["mission", "scenario", "run"])["k"].agg(["min", "max"])
    mixed = ks[ks["min"] != ks["max"]]
    if len(mixed):
        raise UserError(f"scenario tables must have a fixed number of candidate agents per file; {list(mixed.index)}")
    return per


def vor(
    scenarios: pd.DataFrame,
    candidate: str,
    confidence: float = 0.95,
    reps: int = 10_000,
    seed: int = 0,
) -> dict:
    """VOR of `candidate` from concatenated scenario tables (with a `scenario` column naming
    the file each row came from). Returns per-mission and overall results with CIs."""
    per = _episode_table(scenarios, candidate)
    if not (per["k"] > 0).any():
        raise UserError(f"candidate '{candidate}' controls no agent in any scenario table; "
                        f"policies present: {sorted(scenarios['policy'].unique())}")  # fmt: skip
    runs = sorted(int(r) for r in per.loc[per["k"] > 0, "run"].unique())
    if len(runs) >= 2:
        return _vor_over_runs(per, scenarios, candidate, runs, confidence, reps, seed)
    rng = np.random.default_rng(seed)
    missions, mission_boot = {}, []
    for mission, part in per.groupby("mission", sort=True):
        strata = {k: g for k, g in part.groupby("k", sort=True)}
        if 0 not in strata:
            raise UserError(f"mission '{mission}': no k = 0 scenario (all agents replacement); VOR needs one")
        num_agents = int(part["agents"].max())
        missing = sorted(set(range(1, num_agents + 1)) - set(strata))
        base = strata[0]["everyone"].to_numpy()
        boot_base = multinomial_counts(base.size, reps, rng) @ base / base.size
        replacement_mean = float(base.mean())
        weighted, weights, boot_weighted, per_k = 0.0, 0.0, np.zeros(reps), []
        for k, g in strata.items():
            if k == 0:
                continue
            values = g["candidate"].to_numpy()
            n = values.size
            boot_k = multinomial_counts(n, reps, rng) @ values / n
            weighted += values.mean() * k * n
            boot_weighted += boot_k * k * n
            weights += k * n
            low, high = percentile_interval(boot_k - boot_base, confidence)
            per_k.append({
                "k": int(k), "episodes": int(n), "candidate_mean": float(values.mean()),
                "vor": float(values.mean() - replacement_mean), "ci_low": float(low), "ci_high": float(high),
            })  # fmt: skip
        boot = boot_weighted / weights - boot_base
        low, high = percentile_interval(boot, confidence)
        missions[mission] = {
            "vor": float(weighted / weights - replacement_mean),
            "ci_low": float(low),
            "ci_high": float(high),
            "replacement_mean": replacement_mean,
            "replacement_episodes": int(base.size),
            "num_agents": num_agents,
            "missing_k": missing,
            "per_k": per_k,
        }
        mission_boot.append(boot)
    return _result(scenarios, candidate, missions, mission_boot, confidence, reps, runs, "episode", ONE_RUN_NOTE)


def _result(scenarios, candidate, missions, mission_boot, confidence, reps, runs, level, note, **extra) -> dict:
    """The VOR JSON: overall (mean over missions, its interval from the missions' replicates)
    and per mission, per k, weighted scores, runs and what the interval covers."""
    low, high = percentile_interval(np.mean(mission_boot, axis=0), confidence)
    return {
        "candidate": candidate,
        "replacement": sorted(set(scenarios["policy"]) - {candidate}),
        "vor": float(np.mean([m["vor"] for m in missions.values()])),
        "ci_low": float(low),
        "ci_high": float(high),
        "replacement_mean": float(np.mean([m["replacement_mean"] for m in missions.values()])),
        "confidence": confidence,
        "bootstrap_reps": reps,
        "missions": missions,
        "per_k": [{"mission": m, **row} for m, res in missions.items() for row in res["per_k"]],
        "weighted_scores": weighted_scores(scenarios),
        "runs": runs,
        "level": level,
        "note": note,
        **extra,
    }


def _vor_over_runs(per, scenarios, candidate, runs, confidence, reps, seed) -> dict:
    """VOR of a multi-run candidate: the mean over runs, a two-level interval (see the module)."""
    rng = np.random.default_rng(seed)
    picked = rng.integers(0, len(runs), size=(reps, len(runs)))  # one run draw for every mission and k
    missions, mission_boot, per_run = {}, [], {r: {} for r in runs}
    for mission, part in per.groupby("mission", sort=True):
        base_rows = part[part["k"] == 0]
        if base_rows.empty:
            raise UserError(f"mission '{mission}': no k = 0 scenario (all agents replacement); VOR needs one")
        base = base_rows.sort_values(["run", "episode"])["everyone"].to_numpy()
        boot_base = multinomial_counts(base.size, reps, rng) @ base / base.size
        replacement_mean = float(base.mean())
        num_agents = int(part["agents"].max())
        ks = sorted(int(k) for k in part["k"].unique() if k > 0)
        weighted, weights, boot_weighted, per_k = 0.0, 0.0, np.zeros(reps), []
        run_weighted = {r: 0.0 for r in runs}
        for k in ks:
            rows = part[part["k"] == k]
            sizes = rows.groupby("run")["episode"].count()
            if sorted(int(r) for r in sizes.index) != runs or sizes.nunique() != 1:
                raise UserError(f"mission '{mission}', k = {k}: every run of '{candidate}' must play the same "
                                f"scenario episodes (episodes per run: {sizes.to_dict()})")  # fmt: skip
            values = np.stack([rows[rows["run"] == r].sort_values("episode")["candidate"].to_numpy() for r in runs])
            n = values.shape[1]
            draws = rng.integers(0, n, size=(reps, len(runs), n))
            boot_k = values[picked[:, :, None], draws].mean(axis=(1, 2))
            weighted += values.mean() * k * n
            boot_weighted += boot_k * k * n
            weights += k * n
            for i, r in enumerate(runs):
                run_weighted[r] += values[i].mean() * k * n
            low, high = percentile_interval(boot_k - boot_base, confidence)
            per_k.append({
                "k": k, "episodes": int(n), "runs": len(runs), "candidate_mean": float(values.mean()),
                "vor": float(values.mean() - replacement_mean), "ci_low": float(low), "ci_high": float(high),
            })  # fmt: skip
        for r in runs:
            per_run[r][mission] = float(run_weighted[r] / weights - replacement_mean)
        boot = boot_weighted / weights - boot_base
        low, high = percentile_interval(boot, confidence)
        missions[mission] = {
            "vor": float(weighted / weights - replacement_mean), "ci_low": float(low), "ci_high": float(high),
            "replacement_mean": replacement_mean, "replacement_episodes": int(base.size), "num_agents": num_agents,
            "missing_k": sorted(set(range(1, num_agents + 1)) - set(ks)), "per_k": per_k,
            "per_run": [{"run": r, "vor": per_run[r][mission]} for r in runs],
        }  # fmt: skip
        mission_boot.append(boot)
    per_run_overall = [{"run": r, "vor": float(np.mean(list(per_run[r].values()))), "missions": per_run[r]}
                       for r in runs]  # fmt: skip
    note = f"{len(runs)} training runs: the CI resamples runs, then episodes"
    return _result(scenarios, candidate, missions, mission_boot, confidence, reps, runs, "run", note,
                   per_run=per_run_overall)  # fmt: skip


def weighted_scores(scenarios: pd.DataFrame) -> dict[str, float]:
    """Each policy's per-episode score (mean reward of its agents), averaged over episodes
    with weight = its share of the episode's agents (cogames compute_weighted_scores)."""
    keys = ["mission", "scenario", "episode"] if "scenario" in scenarios else ["mission", "episode"]
    per = scenarios.groupby([*keys, "policy"]).agg(score=("reward", "mean"), agents=("agent", "count")).reset_index()
    per["share"] = per["agents"] / per.groupby(keys)["agents"].transform("sum")
    totals = per.assign(weighted=per["score"] * per["share"]).groupby("policy")[["weighted", "share"]].sum()
    return {str(p): float(row["weighted"] / row["share"]) for p, row in totals.iterrows() if row["share"] > 0}
