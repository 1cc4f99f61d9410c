"""Comparison tables: who is better, by how much, and how sure we are.

`compare()` turns `daf evaluate` tables into
- a leaderboard: per policy x mission (and `ALL` missions) the mean, median and IQM of
  episode scores with stratified-bootstrap CIs, the optimality gap (on normalised rows
  only: NaN on raw rewards, where a threshold of 1 means nothing) and the success rate
  with a Wilson interval over pooled episodes, plus (>= 2 training runs) a two-level
  bootstrap interval over runs then episodes (`success_run_low/high`, NaN otherwise);
  `runs` (training runs) and a `note` on what the CI covers;
- a pairwise table: for every pair of policies and mission, tests, effect sizes, the
  probability of improvement (POI) with a bootstrap CI, and p-values corrected within each
  family (one family per level x test; Holm and Benjamini-Hochberg);
- performance profiles (fraction of episodes above each threshold) with CI bands.

Training runs are the unit of replication (Agarwal et al. 2021). The `run` column of an
evaluation table is the training seed of the network that played (0 for policies DAF did
not train, and for tables from before the column); all runs of a policy play the same
episodes. Per mission, a policy with >= 2 runs gets a two-level bootstrap (runs with
replacement, then episodes within each drawn run); with one run, the episode bootstrap.

`ALL` rows aggregate over missions. Raw rewards are not comparable across missions, so
when a normalisation pair is configured (e.g. random -> 0, baseline -> 1 on every
mission) `ALL` uses normalised scores. For a policy with several runs, `ALL` follows
rliable's score matrix: runs x missions, a cell being a run's mean episode score on the
mission; mean and median are over per-mission means, IQM and optimality gap over cells,
and the CI resamples runs within each mission (rliable's StratifiedBootstrap), then
episodes within the drawn runs. A policy with one run keeps the episode-level aggregate
(episodes pooled, stratified by mission).

Pairwise levels (column `level`):
- `episode`, when both policies have one run on the mission: episodes matched by seed
  (common random numbers) get Wilcoxon signed-rank and paired t on the differences;
  unmatched ones Mann-Whitney U and Welch's t; POI over episodes, resampled jointly when
  matched.
- `run`, when at least one side has >= 2 runs: the tests see one number per run (its mean
  episode score). Both sides >= 2 runs: Welch's t and Mann-Whitney U over run means. One
  side with one run (e.g. trained ppo with 3 seeds vs scripted random): one-sample t and
  Wilcoxon signed-rank of the differences between the multi-run side's run means and the
  single run's mean. That treats the single run's mean as fixed: its evaluation noise is
  left out, which is small next to seed-to-seed spread when it averages many episodes, and
  the alternative (pretending the single run samples a distribution of runs) has no
  variance to estimate. With few runs these tests have little power (Wilcoxon with 3 runs
  cannot reach p < 0.25): that is the honest answer, not a defect. POI is rliable's over
  runs, P(X_run > Y_run) per mission, averaged over missions, with a CI from resampling
  each policy's runs independently within each mission (as rliable's
  StratifiedIndependentBootstrap does).
The `ALL` test is Wilcoxon's signed-rank test over per-mission mean differences (Demšar
2006), one pair per shared mission, at either level; its POI follows the level.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from daf.errors import UserError
from daf.evaluation.table import episode_scores
from daf.stats.bootstrap import Estimate
from daf.stats.estimates import (
    bootstrap_estimate,
    performance_profile,
    poi_estimate,
    score_matrix_estimate,
    wilson_interval,
)
from daf.stats.metrics import counts_iqm, counts_optimality_gap
from daf.stats.scores import ALL, check_runs, normalize_scores, run_matrix
from daf.stats.significance import CORRECTIONS, benjamini_hochberg, holm, paired_tests, run_tests, unpaired_tests

LEADERBOARD = [
    "policy", "mission", "runs", "n", "mean", "median", "iqm", "ci_low", "ci_high", "success_rate",
    "success_low", "success_high", "success_run_low", "success_run_high", "iqm_low", "iqm_high", "optimality_gap",
    "n_missions", "normalized", "note",
]  # fmt: skip
PAIRWISE = [
    "policy_a", "policy_b", "mission", "level", "runs_a", "runs_b", "n_pairs", "test", "statistic", "p_value",
    "p_adjusted", "effect_size", "poi", "poi_low", "poi_high", "mean_diff", "p_holm", "p_bh", "significant", "note",
]  # fmt: skip
ONE_RUN_NOTE = "one training run: the CI reflects evaluation noise only"


@dataclass(frozen=True)
class CompareSettings:
    confidence: float = 0.95
    reps: int = 10_000
    seed: int = 0
    interval: str = "percentile"  # or "bca"
    alpha: float = 0.05
    correction: str = "holm"  # or "bh"
    normalize: tuple[str, str] | None = None  # (low policy, high policy)
    profile_points: int = 41
    trained: tuple[str, ...] = ()  # policies DAF trained: a single run of one gets a warning note


def compare(evals: pd.DataFrame, settings: CompareSettings) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(leaderboard, pairwise, profiles) from concatenated `daf evaluate` tables."""
    if evals.empty:
        raise UserError("no evaluation rows to compare")
    if settings.correction not in CORRECTIONS:
        raise UserError(f"unknown correction '{settings.correction}'; valid: {', '.join(CORRECTIONS)}")
    candidate_rows = evals[evals["role"] == "candidate"] if "role" in evals else evals
    scores = episode_scores(candidate_rows)
    check_runs(scores)
    aggregate = normalize_scores(scores, *settings.normalize) if settings.normalize else scores
    return (
        leaderboard(scores, settings, aggregate),
        _pairwise(scores, aggregate, settings),
        _profiles(scores, aggregate, settings),
    )


def _matrices(part: pd.DataFrame) -> list[np.ndarray]:
    """One (runs, episodes) score matrix per mission of `part`, missions in order."""
    return [run_matrix(group) for _, group in part.groupby("mission", sort=True)]


def _estimates(strata: list[np.ndarray], settings: CompareSettings, equal_weight: bool, iqm_ci: bool = True) -> dict:
    """Episode-level statistics of pooled strata; 2-D strata (runs x episodes) get two-level CIs.
    `iqm_ci=False` skips the IQM's bootstrap (its CI is then NaN) for tables that drop it."""
    kw = {"confidence": settings.confidence, "reps": settings.reps, "seed": settings.seed}
    mean = bootstrap_estimate(strata, "mean", interval=settings.interval, equal_weight=equal_weight, **kw)
    if iqm_ci:
        iqm = bootstrap_estimate(strata, "iqm", interval=settings.interval, **kw)
    values = np.sort(np.concatenate([np.ravel(s) for s in strata]))
    if not iqm_ci:
        iqm = Estimate(float(counts_iqm(np.ones(values.size), values)[0]), float("nan"), float("nan"))
    return _row(mean, iqm, float(np.median(values)), float(counts_optimality_gap(np.ones(values.size), values)[0]))


def _matrix_estimates(strata: list[np.ndarray], settings: CompareSettings) -> dict:
    """rliable's aggregates of the runs x missions score matrix (`score_matrix_estimate`)."""
    kw = {"confidence": settings.confidence, "reps": settings.reps, "seed": settings.seed}
    mean = score_matrix_estimate(strata, "mean", interval=settings.interval, **kw)
    iqm = score_matrix_estimate(strata, "iqm", interval=settings.interval, **kw)
    cells = [s.mean(axis=1) for s in strata]
    gap = float(np.mean(np.maximum(1.0 - np.concatenate(cells), 0.0)))
    return _row(mean, iqm, float(np.median([c.mean() for c in cells])), gap)


def _row(mean: Estimate, iqm: Estimate, median: float, gap: float) -> dict:
    return {"mean": mean.point, "ci_low": mean.low, "ci_high": mean.high, "median": median, "iqm": iqm.point,
            "iqm_low": iqm.low, "iqm_high": iqm.high, "optimality_gap": gap}  # fmt: skip


def _success(part: pd.DataFrame, s: CompareSettings) -> dict:
    """The success rate with a Wilson interval over the pooled episodes and, for a policy with
    >= 2 training runs, a two-level bootstrap interval (runs, then episodes within each drawn
    run, per mission): the Wilson interval treats episodes of different networks as one
    sample and leaves out how much another training seed would differ."""
    wins, n = int(part["success"].sum()), len(part)
    low, high = wilson_interval(wins, n, s.confidence)
    run_low = run_high = float("nan")
    if part["run"].nunique() >= 2:
        strata = [run_matrix(group, "success") for _, group in part.groupby("mission", sort=True)]
        run_ci = bootstrap_estimate(strata, "mean", confidence=s.confidence, reps=s.reps, seed=s.seed)
        run_low, run_high = run_ci.low, run_ci.high
    return {"success_rate": wins / n, "success_low": low, "success_high": high, "success_run_low": run_low,
            "success_run_high": run_high}  # fmt: skip


def _runs_note(runs: int, episodes: int, trained: bool, aggregate: bool) -> str:
    """What a leaderboard row's CI covers: several runs, or (for a trained policy) one."""
    if runs >= 2:
        if aggregate:
            how = "then episodes" if episodes > 1 else "one episode each"
            return f"{runs} training runs: score matrix of run means x missions, bootstrap over runs ({how})"
        if episodes == 1:
            return f"{runs} training runs: bootstrap over runs (one episode each)"
        return f"{runs} training runs: two-level bootstrap (runs, then episodes)"
    return ONE_RUN_NOTE if trained else ""


def leaderboard(
    scores: pd.DataFrame, s: CompareSettings, aggregate: pd.DataFrame | None = None, iqm_ci: bool = True
) -> pd.DataFrame:
    """The one leaderboard definition: per policy x mission of `scores` (episode_scores) the
    mean with its CI (two-level with several runs), median, IQM with CI, success rate with a
    Wilson interval, runs and a note; with `aggregate` (the same scores, normalised where
    `s.normalize` says so), an `ALL` row per policy too."""
    rows = []
    for (policy, mission), part in scores.groupby(["policy", "mission"], sort=True):
        matrix = run_matrix(part)
        runs, episodes = matrix.shape
        rows.append({
            "policy": policy, "mission": mission, "runs": runs, "n": len(part), "n_missions": 1, "normalized": False,
            **_estimates([matrix], s, equal_weight=False, iqm_ci=iqm_ci), **_success(part, s),
            "note": _runs_note(runs, episodes, policy in s.trained, aggregate=False),
        })  # fmt: skip
    for policy, part in (aggregate if aggregate is not None else scores.iloc[:0]).groupby("policy", sort=True):
        strata = _matrices(part)
        multi = max(m.shape[0] for m in strata) >= 2
        runs = int(part["run"].nunique())
        estimates = _matrix_estimates(strata, s) if multi else _estimates(strata, s, equal_weight=True)
        rows.append({
            "policy": policy, "mission": ALL, "runs": runs, "n": len(part), "n_missions": len(strata),
            "normalized": s.normalize is not None, **estimates, **_success(part, s),
            "note": _runs_note(runs, max(m.shape[1] for m in strata), policy in s.trained, aggregate=True),
        })  # fmt: skip
    board = pd.DataFrame(rows, columns=LEADERBOARD)
    # the gap is the shortfall below a score of 1: a reference level only on normalised scores
    board.loc[~board["normalized"], "optimality_gap"] = np.nan
    return board


def _run_means(table: pd.DataFrame) -> dict[tuple[str, str], np.ndarray]:
    """Per (policy, mission): the mean episode score of each run, runs in ascending order."""
    means = table.groupby(["policy", "mission", "run"], sort=True)["score"].mean()
    return {key: group.to_numpy() for key, group in means.groupby(level=["policy", "mission"], sort=True)}


def _pairwise(scores: pd.DataFrame, aggregate: pd.DataFrame, s: CompareSettings) -> pd.DataFrame:
    rows = []
    policies = sorted(scores["policy"].unique())
    by_key = {key: part for key, part in scores.groupby(["policy", "mission"])}
    agg_key = {key: part for key, part in aggregate.groupby(["policy", "mission"])}
    run_means, agg_run_means = _run_means(scores), _run_means(aggregate)
    runs = {key: means.size for key, means in run_means.items()}
    run_ids = {key: set(part["run"].unique()) for key, part in by_key.items()}
    for a, b in itertools.combinations(policies, 2):
        shared = sorted({m for (p, m) in by_key if p == a} & {m for (p, m) in by_key if p == b})
        for mission in shared:
            x, y = by_key[(a, mission)], by_key[(b, mission)]
            ra, rb = runs[(a, mission)], runs[(b, mission)]
            if max(ra, rb) >= 2:
                tests, poi = _run_level(run_means[(a, mission)], run_means[(b, mission)], a, b, s)
            else:
                tests, poi = _episode_level(x, y, s)
            diff = float(x["score"].mean() - y["score"].mean())  # equal episodes per run: mean of run means
            level = "run" if max(ra, rb) >= 2 else "episode"
            rows += [_pair_row(a, b, mission, level, ra, rb, t, poi, diff) for t in tests]
        if shared:  # across missions: one pair of mission means per shared mission
            ra, rb = (len(set().union(*(run_ids[(p, m)] for m in shared))) for p in (a, b))
            if any(max(runs[(a, m)], runs[(b, m)]) >= 2 for m in shared):
                level, paired = "run", False  # runs of two policies are independent trainings
                xa, yb = [agg_run_means[(a, m)] for m in shared], [agg_run_means[(b, m)] for m in shared]
            else:
                level = "episode"
                xa, yb, paired = _aligned_episodes(agg_key, a, b, shared)
            mean_a, mean_b = np.array([v.mean() for v in xa]), np.array([v.mean() for v in yb])
            tests = [t for t in paired_tests(mean_a, mean_b) if t.test == "wilcoxon"]
            note = "missions' means pool runs; POI over runs" if level == "run" else ""
            tests = [replace(t, test="wilcoxon_missions", note="; ".join(filter(None, [t.note, note]))) for t in tests]
            poi = poi_estimate(list(zip(xa, yb)), s.confidence, s.reps, s.seed, paired=paired)
            rows += [_pair_row(a, b, ALL, level, ra, rb, t, poi, float(np.mean(mean_a - mean_b))) for t in tests]
    table = pd.DataFrame(rows, columns=PAIRWISE)
    if table.empty:
        return table
    for _family, part in table.groupby(["level", "test"]):  # each test at each level is its own family
        table.loc[part.index, "p_holm"] = holm(part["p_value"].to_numpy())
        table.loc[part.index, "p_bh"] = benjamini_hochberg(part["p_value"].to_numpy())
    table["p_adjusted"] = table["p_holm"] if s.correction == "holm" else table["p_bh"]
    table["significant"] = table["p_adjusted"] < s.alpha
    return table


def _episode_level(x: pd.DataFrame, y: pd.DataFrame, s: CompareSettings) -> tuple[list, Estimate]:
    """Seed-matched tests (unpaired when episodes cannot be matched) and POI over episodes."""
    matched = x.merge(y, on="seed", suffixes=("_a", "_b")).sort_values("seed")
    fully_paired = len(matched) == len(x) == len(y)
    if len(matched) >= 2:
        tests = paired_tests(matched["score_a"].to_numpy(), matched["score_b"].to_numpy())
        if len(matched) < max(len(x), len(y)):
            note = f"{len(matched)} of {max(len(x), len(y))} episodes matched by seed"
            tests = [replace(t, note="; ".join(filter(None, [t.note, note]))) for t in tests]
    else:
        tests = unpaired_tests(x["score"].to_numpy(), y["score"].to_numpy())
    if fully_paired:  # resample seed-matched episodes jointly
        pair = [(matched["score_a"].to_numpy(), matched["score_b"].to_numpy())]
    else:
        pair = [(x["score"].to_numpy(), y["score"].to_numpy())]
    return tests, poi_estimate(pair, s.confidence, s.reps, s.seed, paired=fully_paired)


def _run_level(xa: np.ndarray, yb: np.ndarray, a: str, b: str, s: CompareSettings) -> tuple[list, Estimate]:
    """`run_tests` over run means, and rliable's POI over runs (runs resampled independently)."""
    if min(xa.size, yb.size) >= 2:
        note = f"{xa.size} vs {yb.size} run means"
    else:
        many, one = (a, b) if xa.size >= 2 else (b, a)
        note = f"{max(xa.size, yb.size)} run means of {many} against the mean of {one}'s single run"
    tests = [replace(t, note="; ".join(filter(None, [t.note, note]))) for t in run_tests(xa, yb)]
    return tests, poi_estimate([(xa, yb)], s.confidence, s.reps, s.seed, paired=False)


def _aligned_episodes(agg_key: dict, a: str, b: str, shared: list[str]) -> tuple[list, list, bool]:
    """Per shared mission, the two policies' episode scores, seed-aligned when every episode
    matches (then resampled jointly, like the per-mission rows)."""
    merged = [agg_key[(a, m)].merge(agg_key[(b, m)], on="seed", suffixes=("_a", "_b")) for m in shared]
    paired = all(len(mm) == len(agg_key[(a, m)]) == len(agg_key[(b, m)]) for mm, m in zip(merged, shared))
    if paired:
        xa = [mm.sort_values("seed")["score_a"].to_numpy() for mm in merged]
        yb = [mm.sort_values("seed")["score_b"].to_numpy() for mm in merged]
    else:
        xa = [agg_key[(a, m)]["score"].to_numpy() for m in shared]
        yb = [agg_key[(b, m)]["score"].to_numpy() for m in shared]
    return xa, yb, paired


def _pair_row(a: str, b: str, mission: str, level: str, runs_a: int, runs_b: int, test, poi, diff: float) -> dict:
    return {
        "policy_a": a, "policy_b": b, "mission": mission, "level": level, "runs_a": runs_a, "runs_b": runs_b,
        "n_pairs": test.n, "test": test.test, "statistic": test.statistic, "p_value": test.p_value,
        "effect_size": test.effect_size, "poi": poi.point, "poi_low": poi.low, "poi_high": poi.high,
        "mean_diff": diff, "note": test.note,
    }  # fmt: skip


def _profiles(scores: pd.DataFrame, aggregate: pd.DataFrame, s: CompareSettings) -> pd.DataFrame:
    frames = []
    reps = min(s.reps, 2_000)  # bands need fewer replicates than headline intervals
    for mission, table in [*scores.groupby("mission", sort=True), (ALL, aggregate)]:
        values = table["score"].to_numpy()
        taus = np.linspace(values.min(), values.max(), s.profile_points) if values.size else np.array([0.0])
        for policy, part in table.groupby("policy", sort=True):
            prof = performance_profile(_matrices(part), taus, s.confidence, reps, s.seed)
            frames.append(prof.assign(policy=policy, mission=mission))
    return pd.concat(frames, ignore_index=True)[["policy", "mission", "tau", "fraction", "low", "high"]]


SUMMARY_COLUMNS = [
    "policy", "mission", "episodes", "mean", "ci_low", "ci_high", "std",
    "success_rate", "success_low", "success_high",
]  # fmt: skip


def summary_table(scores: pd.DataFrame, confidence: float = 0.95, reps: int = 10_000, seed: int = 0) -> pd.DataFrame:
    """`daf leaderboard`: the leaderboard's per-mission rows in a short form (episodes, mean and
    its CI, the standard deviation of episode scores, success rate with its Wilson interval)."""
    board = leaderboard(scores, CompareSettings(confidence=confidence, reps=reps, seed=seed), iqm_ci=False)
    std = {key: float(np.std(part["score"].to_numpy(), ddof=1)) if len(part) > 1 else 0.0
           for key, part in scores.groupby(["policy", "mission"], sort=True)}  # fmt: skip
    table = board.rename(columns={"n": "episodes"})
    table["std"] = [std[(p, m)] for p, m in zip(table["policy"], table["mission"])]
    return table[SUMMARY_COLUMNS].reset_index(drop=True)
