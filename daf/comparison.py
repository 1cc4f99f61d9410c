"""Comparison tables: who is better, by how much, and how sure we are.

`compare()` turns `daf evaluate` tables into
- a leaderboard: per policy x mission (and `ALL` missions) the mean, median and IQM of
  episode scores with stratified-bootstrap CIs, the optimality gap and the success rate
  with a Wilson interval;
- a pairwise table: for every pair of policies and mission, seed-matched tests (Wilcoxon
  signed-rank, paired t) or unpaired ones when episodes cannot be matched (Mann-Whitney,
  Welch), effect sizes, the probability of improvement with a bootstrap CI, and p-values
  corrected across the whole table (Holm and Benjamini-Hochberg);
- performance profiles (fraction of episodes above each threshold) with CI bands.

`ALL` rows aggregate over missions. Raw rewards are not comparable across missions, so
when a normalisation pair is configured (e.g. random -> 0, baseline -> 1 on every
mission) `ALL` uses normalised scores. The `ALL` pairwise test is Wilcoxon's signed-rank
test over per-mission mean differences (Demšar 2006), one pair per shared mission.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from daf.errors import UserError
from daf.stats import (
    ALL,
    CORRECTIONS,
    benjamini_hochberg,
    bootstrap_estimate,
    counts_optimality_gap,
    episode_scores,
    holm,
    normalize_scores,
    paired_tests,
    performance_profile,
    poi_estimate,
    unpaired_tests,
    wilson_interval,
)

LEADERBOARD = [
    "policy", "mission", "n", "mean", "median", "iqm", "ci_low", "ci_high", "success_rate",
    "success_low", "success_high", "iqm_low", "iqm_high", "optimality_gap", "n_missions", "normalized",
]  # fmt: skip
PAIRWISE = [
    "policy_a", "policy_b", "mission", "n_pairs", "test", "statistic", "p_value", "p_adjusted",
    "effect_size", "poi", "poi_low", "poi_high", "mean_diff", "p_holm", "p_bh", "significant", "note",
]  # fmt: skip


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


def compare(evals: pd.DataFrame, settings: CompareSettings) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(leaderboard, pairwise, profiles) from concatenated `daf evaluate` tables."""
    if evals.empty:
        raise UserError("no evaluation rows to compare")
    if settings.correction not in CORRECTIONS:
        raise UserError(f"unknown correction '{settings.correction}'; valid: {', '.join(CORRECTIONS)}")
    candidate_rows = evals[evals["role"] == "candidate"] if "role" in evals else evals
    scores = episode_scores(candidate_rows)
    aggregate = normalize_scores(scores, *settings.normalize) if settings.normalize else scores
    return (
        _leaderboard(scores, aggregate, settings),
        _pairwise(scores, aggregate, settings),
        _profiles(scores, aggregate, settings),
    )


def _estimates(strata: list[np.ndarray], settings: CompareSettings, equal_weight: bool) -> dict:
    kw = {"confidence": settings.confidence, "reps": settings.reps, "seed": settings.seed}
    mean = bootstrap_estimate(strata, "mean", interval=settings.interval, equal_weight=equal_weight, **kw)
    iqm = bootstrap_estimate(strata, "iqm", interval=settings.interval, **kw)
    values = np.sort(np.concatenate(strata))
    return {
        "mean": mean.point,
        "ci_low": mean.low,
        "ci_high": mean.high,
        "median": float(np.median(values)),
        "iqm": iqm.point,
        "iqm_low": iqm.low,
        "iqm_high": iqm.high,
        "optimality_gap": float(counts_optimality_gap(np.ones(values.size), values)[0]),
    }


def _success(part: pd.DataFrame, confidence: float) -> dict:
    wins, n = int(part["success"].sum()), len(part)
    low, high = wilson_interval(wins, n, confidence)
    return {"success_rate": wins / n, "success_low": low, "success_high": high}


def _leaderboard(scores: pd.DataFrame, aggregate: pd.DataFrame, s: CompareSettings) -> pd.DataFrame:
    rows = []
    for (policy, mission), part in scores.groupby(["policy", "mission"], sort=True):
        rows.append({
            "policy": policy, "mission": mission, "n": len(part), "n_missions": 1, "normalized": False,
            **_estimates([part["score"].to_numpy()], s, equal_weight=False), **_success(part, s.confidence),
        })  # fmt: skip
    for policy, part in aggregate.groupby("policy", sort=True):
        strata = [g["score"].to_numpy() for _, g in part.groupby("mission", sort=True)]
        rows.append({
            "policy": policy, "mission": ALL, "n": len(part), "n_missions": len(strata),
            "normalized": s.normalize is not None,
            **_estimates(strata, s, equal_weight=True), **_success(part, s.confidence),
        })  # fmt: skip
    return pd.DataFrame(rows, columns=LEADERBOARD)


def _pairwise(scores: pd.DataFrame, aggregate: pd.DataFrame, s: CompareSettings) -> pd.DataFrame:
    rows = []
    policies = sorted(scores["policy"].unique())
    by_key = {key: part for key, part in scores.groupby(["policy", "mission"])}
    agg_key = {key: part for key, part in aggregate.groupby(["policy", "mission"])}
    for a, b in itertools.combinations(policies, 2):
        shared = sorted({m for (p, m) in by_key if p == a} & {m for (p, m) in by_key if p == b})
        for mission in shared:
            x, y = by_key[(a, mission)], by_key[(b, mission)]
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
            poi = poi_estimate(pair, s.confidence, s.reps, s.seed, paired=fully_paired)
            diff = float(x["score"].mean() - y["score"].mean())
            rows += [_pair_row(a, b, mission, t, poi, diff) for t in tests]
        if shared:  # across missions: one pair of mission means per shared mission
            merged = [agg_key[(a, m)].merge(agg_key[(b, m)], on="seed", suffixes=("_a", "_b")) for m in shared]
            paired = all(len(mm) == len(agg_key[(a, m)]) == len(agg_key[(b, m)]) for mm, m in zip(merged, shared))
            if paired:  # seed-aligned, resampled jointly like the per-mission rows
                xa = [mm.sort_values("seed")["score_a"].to_numpy() for mm in merged]
                yb = [mm.sort_values("seed")["score_b"].to_numpy() for mm in merged]
            else:
                xa = [agg_key[(a, m)]["score"].to_numpy() for m in shared]
                yb = [agg_key[(b, m)]["score"].to_numpy() for m in shared]
            mean_a, mean_b = np.array([v.mean() for v in xa]), np.array([v.mean() for v in yb])
            tests = [t for t in paired_tests(mean_a, mean_b) if t.test == "wilcoxon"]
            tests = [replace(t, test="wilcoxon_missions") for t in tests]
            poi = poi_estimate(list(zip(xa, yb)), s.confidence, s.reps, s.seed, paired=paired)
            rows += [_pair_row(a, b, ALL, t, poi, float(np.mean(mean_a - mean_b))) for t in tests]
    table = pd.DataFrame(rows, columns=PAIRWISE)
    if table.empty:
        return table
    for _test, part in table.groupby("test"):  # each test is its own family
        table.loc[part.index, "p_holm"] = holm(part["p_value"].to_numpy())
        table.loc[part.index, "p_bh"] = benjamini_hochberg(part["p_value"].to_numpy())
    table["p_adjusted"] = table["p_holm"] if s.correction == "holm" else table["p_bh"]
    table["significant"] = table["p_adjusted"] < s.alpha
    return table


def _pair_row(a: str, b: str, mission: str, test, poi, diff: float) -> dict:
    return {
        "policy_a": a, "policy_b": b, "mission": mission, "n_pairs": test.n, "test": test.test,
        "statistic": test.statistic, "p_value": test.p_value, "effect_size": test.effect_size,
        "poi": poi.point, "poi_low": poi.low, "poi_high": poi.high, "mean_diff": diff, "note": test.note,
    }  # fmt: skip


def _profiles(scores: pd.DataFrame, aggregate: pd.DataFrame, s: CompareSettings) -> pd.DataFrame:
    frames = []
    reps = min(s.reps, 2_000)  # bands need fewer replicates than headline intervals
    for mission, table in [*scores.groupby("mission", sort=True), (ALL, aggregate)]:
        values = table["score"].to_numpy()
        taus = np.linspace(values.min(), values.max(), s.profile_points) if values.size else np.array([0.0])
        for policy, part in table.groupby("policy", sort=True):
            strata = [g["score"].to_numpy() for _, g in part.groupby("mission", sort=True)]
            prof = performance_profile(strata, taus, s.confidence, reps, s.seed)
            frames.append(prof.assign(policy=policy, mission=mission))
    return pd.concat(frames, ignore_index=True)[["policy", "mission", "tau", "fraction", "low", "high"]]


def jsonable(frame: pd.DataFrame) -> list[dict]:
    """Records with NaN as null and infinities as the strings "inf" / "-inf" (valid JSON)."""
    out = []
    for record in frame.to_dict("records"):
        clean = {}
        for key, value in record.items():
            if isinstance(value, (float, np.floating)):
                value = float(value)
                if math.isnan(value):
                    value = None
                elif math.isinf(value):
                    value = "inf" if value > 0 else "-inf"
            elif isinstance(value, np.integer):
                value = int(value)
            elif isinstance(value, np.bool_):
                value = bool(value)
            clean[key] = value
        out.append(clean)
    return out
