"""Sample sizes from a pilot (daf.stats.planning): (a) precision - the runs and episodes that
give a CI of the wanted half-width; (b) power - the runs and episodes with which a test
detects a difference with the wanted power (simulated, with its null rejection rate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps

from daf.stats.pilots import (
    BETWEEN_RUNS,
    MAX_EPISODES,
    MAX_RUNS,
    Components,
    Pilot,
    PlanSettings,
    Resampler,
    design_grid,
    episode_counts,
    join_notes,
    seeded_rng,
    smallest_design,
    variance_components,
)

PRECISION_COLUMNS = [
    "policy", "mission", "units", "pilot_runs", "pilot_episodes", "target_half_width", "runs",
    "episodes_needed", "half_width", "half_width_floor", "episodes_needed_sim", "half_width_sim", "reachable",
    "limited_by", "note",
]  # fmt: skip


POWER_COLUMNS = [
    "policy_a", "policy_b", "mission", "units", "test", "pilot_runs_a", "pilot_runs_b", "paired_episodes",
    "pilot_difference", "difference", "runs", "episodes_needed", "power", "null_rejection", "reachable",
    "limited_by", "note",
]  # fmt: skip


RUN_TESTS = ("welch_runs", "welch_runs_reference")


def _half_width_sim(pilot: Pilot, sampler: Resampler, runs: int, counts: np.ndarray, s: PlanSettings) -> float:
    """Half the central (1 - alpha) range of simulated design means (runs x drawn episodes)."""
    rng = seeded_rng(s.seed, "precision", pilot.policy, pilot.mission, runs, int(counts[0].sum()))
    means = sampler.design_means(rng, runs, counts)
    low, high = np.quantile(means, [s.alpha / 2, 1 - s.alpha / 2])
    return float(high - low) / 2


def precision_rows(pilot: Pilot, comps: Components, s: PlanSettings, units: str) -> list[dict]:
    """Per runs count of the grid: the fewest episodes per run whose CI half-width is at most
    `s.half_width` - in closed form (exact integer) and by simulation (on the grid)."""
    target, z = s.half_width, s.z
    budget = (target / z) ** 2
    sampler = Resampler.of(pilot, comps)
    episode_grid = design_grid(s.max_episodes)
    rows, previous, drawn = [], None, {}
    for runs in design_grid(s.max_runs) if comps.run_known else [1]:
        floor = z * math.sqrt(comps.var_run / runs)
        left = budget - comps.var_run / runs  # what the episode terms may still use
        needed, limited = None, ""
        if left <= 0:
            limited = BETWEEN_RUNS
        else:
            needed = max(1, math.ceil((comps.var_episode + comps.var_residual / runs) / left * (1 - 1e-12)))
            if needed > s.max_episodes:
                needed, limited = None, MAX_EPISODES
        at = needed or s.max_episodes
        cache: dict[int, float] = {}

        def reaches(e: int, runs=runs, cache=cache) -> bool:
            if e not in cache:
                if e not in drawn:
                    drawn[e] = episode_counts(s, e, pilot.shape[1], pilot.policy, pilot.mission)
                cache[e] = _half_width_sim(pilot, sampler, runs, drawn[e], s)
            return cache[e] <= target

        found = smallest_design(episode_grid, reaches, previous)  # more runs never need more episodes
        previous = found
        sim_episodes = episode_grid[found] if found is not None else None
        rows.append({
            "runs": runs, "episodes_needed": needed, "half_width": z * math.sqrt(comps.variance(runs, at)),
            "half_width_floor": floor, "episodes_needed_sim": sim_episodes,
            "half_width_sim": cache[sim_episodes if sim_episodes is not None else episode_grid[-1]],
            "reachable": needed is not None, "limited_by": limited,
        })  # fmt: skip
    base = {"policy": pilot.policy, "mission": pilot.mission, "units": units, "pilot_runs": pilot.shape[0],
            "pilot_episodes": pilot.shape[1], "target_half_width": target, "note": pilot.note}  # fmt: skip
    return [{**base, **row} for row in rows]


@dataclass(frozen=True)
class _Pair:
    a: Pilot
    b: Pilot
    sampler_a: Resampler
    sampler_b: Resampler
    comps_a: Components
    comps_b: Components
    paired: bool  # the pilots share episode seeds: simulated experiments play the same episodes
    test: str
    notes: list[str] = field(default_factory=list)


def _pair(a: Pilot, b: Pilot) -> _Pair:
    notes = []
    common = np.intersect1d(a.keys, b.keys)
    paired = len(common) >= 2
    if paired and (len(common) < a.shape[1] or len(common) < b.shape[1]):
        notes.append(f"{len(common)} episode seeds shared by both; planned on those")
        a, b = a.restricted(common), b.restricted(common)
    elif not paired:
        notes.append("no shared episode seeds: episodes drawn independently for each policy")
    comps_a, comps_b = variance_components(a.scores), variance_components(b.scores)
    multi_a, multi_b = a.shape[0] > 1, b.shape[0] > 1
    if multi_a and multi_b:
        test = "welch_runs"
    elif multi_a or multi_b:
        test = "welch_runs_reference"
        single = b if multi_a else a
        notes.append(f"'{single.policy}' has one pilot run: its side of the test is its episodes' standard error")
    else:
        test = "paired_episodes" if paired else "welch_episodes"
    sampler_a, sampler_b = Resampler.of(a, comps_a), Resampler.of(b, comps_b)
    return _Pair(a, b, sampler_a, sampler_b, comps_a, comps_b, paired, test, notes)


def _t_reject(diff: np.ndarray, var: np.ndarray, df: np.ndarray, alpha: float, scale: float) -> np.ndarray:
    """Two-sided t test decisions; zero standard error rejects any non-zero difference."""
    tiny = 1e-12 * max(scale, 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(var > 0, diff / np.sqrt(np.where(var > 0, var, 1.0)), np.where(np.abs(diff) > tiny, np.inf, 0.0))
    p = 2 * sps.t.sf(np.abs(t), np.where(df > 0, df, 1.0))
    return p < alpha


def _run_side(means: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, variance of the mean, df) of each row of (sims, runs) run means."""
    runs = means.shape[1]
    return means.mean(axis=1), means.var(axis=1, ddof=1) / runs, np.full(len(means), runs - 1.0)


def _episode_side(values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, variance of the mean, df) of each experiment's drawn episodes of a single run."""
    n = counts.sum(axis=1)
    mean = counts @ values / n
    var = np.maximum(counts @ values**2 - n * mean**2, 0.0) / (n - 1) / n
    return mean, var, n - 1.0


def _welch(x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch's difference, its variance and Satterthwaite's df from two (mean, var, df) sides."""
    var = x[1] + y[1]
    denom = x[1] ** 2 / x[2] + y[1] ** 2 / y[2]
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(denom > 0, var**2 / np.where(denom > 0, denom, 1.0), np.minimum(x[2], y[2]))
    return x[0] - y[0], var, df


def pair_counts(pair: _Pair, episodes: int, s: PlanSettings) -> tuple[np.ndarray, np.ndarray]:
    """Episode counts of both policies' experiments: the same draws when they share seeds."""
    ga = episode_counts(s, episodes, pair.a.shape[1], pair.a.policy, pair.b.policy, pair.a.mission, "a")
    gb = ga if pair.paired else episode_counts(s, episodes, pair.b.shape[1], pair.a.policy, pair.b.policy,
                                               pair.a.mission, "b")  # fmt: skip
    return ga, gb


def rejection_rate(pair: _Pair, runs: int, counts: tuple[np.ndarray, np.ndarray], shift: float, s: PlanSettings):
    """Fraction of `s.sims` simulated experiments (runs per trained policy, the episodes
    drawn in `counts`) whose test rejects at `s.alpha`, policy_a's scores shifted by `shift`."""
    ga, gb = counts
    episodes = int(ga[0].sum())
    rng = seeded_rng(s.seed, "power", pair.a.policy, pair.b.policy, pair.a.mission, runs, episodes)
    scale = max(abs(pair.sampler_a.mean), abs(pair.sampler_b.mean), abs(shift))
    sides = []
    for pilot, sampler, counts, offset in ((pair.a, pair.sampler_a, ga, shift), (pair.b, pair.sampler_b, gb, 0.0)):
        if pilot.shape[0] > 1:  # a trained policy: R runs, compared on run means
            sides.append(_run_side(sampler.run_means(rng, runs, counts) + offset))
        else:  # a single run: its evaluation noise is all there is
            sides.append(_episode_side(sampler.episode_values() + offset, counts))
    if pair.test == "paired_episodes":
        d = pair.sampler_a.episode_values() + shift - pair.sampler_b.episode_values()
        diff, var, df = _episode_side(d, ga)
    else:
        diff, var, df = _welch(*sides)
    return float(np.mean(_t_reject(diff, var, df, s.alpha, scale)))


def power_rows(a: Pilot, b: Pilot, s: PlanSettings, units: str) -> list[dict]:
    """Per runs count of the grid, the fewest episodes per run (on the grid) at which the
    simulated test reaches `s.power`, with its null rejection rate as a calibration check."""
    pair = _pair(a, b)
    pilot_diff = pair.sampler_a.mean - pair.sampler_b.mean
    target = pilot_diff if s.difference is None else s.difference
    shift = target - pilot_diff
    runs_test = pair.test in RUN_TESTS
    episode_grid = design_grid(s.max_episodes, 1 if pair.test == "welch_runs" else 2)
    runs_grid = design_grid(s.max_runs, 2) if runs_test else [1]
    base = {
        "policy_a": a.policy, "policy_b": b.policy, "mission": a.mission, "units": units, "test": pair.test,
        "pilot_runs_a": a.shape[0], "pilot_runs_b": b.shape[0], "paired_episodes": pair.paired,
        "pilot_difference": pilot_diff, "difference": target,
    }  # fmt: skip
    notes = list(pair.notes)
    if runs_test and not runs_grid:
        notes.append(f"--max-runs {s.max_runs}: a test over run means needs at least 2 runs per policy")
        return [{**base, "runs": s.max_runs, "episodes_needed": None, "power": np.nan, "null_rejection": np.nan,
                 "reachable": False, "limited_by": MAX_RUNS, "note": join_notes(a.note, b.note, *notes)}]  # fmt: skip
    # with infinitely many episodes the run means still differ by the between-run variance
    run_var = pair.comps_a.var_run + pair.comps_b.var_run  # 0 for a single-run pilot
    z_sum = s.z + float(sps.norm.ppf(s.power))
    rows, previous, drawn = [], None, {}

    def counts(e: int) -> tuple[np.ndarray, np.ndarray]:
        if e not in drawn:
            drawn[e] = pair_counts(pair, e, s)
        return drawn[e]

    for runs in runs_grid:
        cache: dict[int, float] = {}

        def reaches(e: int, runs=runs, cache=cache) -> bool:
            if e not in cache:
                cache[e] = rejection_rate(pair, runs, counts(e), shift, s)
            return cache[e] >= s.power

        found = smallest_design(episode_grid, reaches, previous)  # more runs never need more episodes
        previous = found
        at = episode_grid[found] if found is not None else episode_grid[-1]
        limited = ""
        if found is None:
            hopeless = runs_test and run_var > 0 and abs(target) < z_sum * math.sqrt(run_var / runs)
            limited = BETWEEN_RUNS if hopeless else MAX_EPISODES
        rows.append({
            **base, "runs": runs, "episodes_needed": episode_grid[found] if found is not None else None,
            "power": cache[at], "null_rejection": rejection_rate(pair, runs, counts(at), -pilot_diff, s),
            "reachable": found is not None, "limited_by": limited, "note": join_notes(a.note, b.note, *notes),
        })  # fmt: skip
    return rows
