"""Pilots of a power analysis (daf.stats.planning): the settings, each policy x mission's
runs x episodes score matrix, its ANOVA variance components, and designs resampled from it.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from daf.errors import UserError
from daf.evaluation.table import episode_scores
from daf.stats.scores import ALL

COMPONENT_COLUMNS = [
    "policy", "mission", "units", "pilot_runs", "pilot_episodes", "mean", "var_run", "var_episode",
    "var_residual", "run_share", "half_width_pilot", "note",
]  # fmt: skip


BETWEEN_RUNS = "between-run variance"


MAX_EPISODES = "max episodes"


MAX_RUNS = "max runs"


NORMAL_REFERENCE = 1.06  # Silverman's normal-reference bandwidth: 1.06 sd n^(-1/5)


INDEX_DRAWS_UP_TO = 6  # episodes per pilot episode up to which index draws + bincount beat np multinomial


@dataclass(frozen=True)
class PlanSettings:
    half_width: float | None = None  # target CI half-width (score units; normalised with `normalize`)
    difference: float | None = None  # difference to detect (policy_a - policy_b); None: the pilot's
    power: float = 0.8
    alpha: float = 0.05  # test level; the precision CI is at 1 - alpha
    max_runs: int = 20
    max_episodes: int = 1024
    normalize: tuple[str, str] | None = None  # (low policy, high policy)
    pairs: tuple[tuple[str, str], ...] | None = None  # None: every pair sharing a mission
    seed: int = 0
    sims: int = 2000

    def check(self) -> None:
        """One-line UserErrors for settings no plan can use."""
        if self.half_width is not None and not (math.isfinite(self.half_width) and self.half_width > 0):
            raise UserError(f"--half-width must be a positive number (got {self.half_width})")
        if self.difference is not None and not math.isfinite(self.difference):
            raise UserError(f"--difference must be a finite number (got {self.difference})")
        if not 0 < self.power < 1:
            raise UserError(f"--power must be between 0 and 1 (got {self.power})")
        if not 0 < self.alpha < 1:
            raise UserError(f"--alpha must be between 0 and 1 (got {self.alpha})")
        if self.max_runs < 1:
            raise UserError(f"--max-runs must be at least 1 (got {self.max_runs})")
        if self.max_episodes < 2:
            raise UserError(f"--max-episodes must be at least 2 (got {self.max_episodes})")
        if self.seed < 0:
            raise UserError(f"--seed must be non-negative (got {self.seed})")
        tail = math.ceil(2 / self.alpha)  # a simulated experiment in each alpha/2 tail, at least
        if self.sims < tail:
            raise UserError(f"--sims must be at least {tail} at --alpha {self.alpha:g} (got {self.sims})")

    @property
    def z(self) -> float:
        return float(sps.norm.ppf(1 - self.alpha / 2))


@dataclass(frozen=True)
class Pilot:
    """One policy on one mission (or `ALL`): scores[run, episode], runs and episodes in
    ascending order, episodes keyed by seed (the common-random-numbers key)."""

    policy: str
    mission: str
    runs: tuple[int, ...]
    keys: np.ndarray
    scores: np.ndarray
    note: str = ""

    @property
    def shape(self) -> tuple[int, int]:
        return self.scores.shape

    def restricted(self, keys: np.ndarray) -> Pilot:
        return Pilot(self.policy, self.mission, self.runs, keys, self.scores[:, np.isin(self.keys, keys)], self.note)


@dataclass(frozen=True)
class Components:
    """ANOVA variance components of a pilot's runs x episodes matrix (crossed design)."""

    mean: float
    var_run: float  # 0 when unknown (one pilot run); see `run_known`
    var_episode: float
    var_residual: float
    run_known: bool

    def variance(self, runs, episodes):
        """Variance of the mean score of a design with `runs` runs sharing `episodes` episodes."""
        return self.var_run / runs + self.var_episode / episodes + self.var_residual / (runs * episodes)


def variance_components(scores: np.ndarray) -> Components:
    """Two-way ANOVA without replication (Searle, Casella & McCulloch 1992): expected mean
    squares E[MS_run] = var_res + E var_run, E[MS_ep] = var_res + R var_ep, E[MS_res] =
    var_res, solved and truncated at zero. One run: episodes and residuals cannot be told
    apart; their sum is reported as episode variance (more runs would not average it away,
    the conservative reading) and the between-run variance is unknown (taken as 0)."""
    runs, episodes = scores.shape
    grand = float(scores.mean())
    if runs == 1:
        return Components(grand, 0.0, float(scores.var(ddof=1)), 0.0, run_known=False)
    row = scores.mean(axis=1)
    col = scores.mean(axis=0)
    ms_run = episodes * float(((row - grand) ** 2).sum()) / (runs - 1)
    ms_ep = runs * float(((col - grand) ** 2).sum()) / (episodes - 1)
    residual = scores - row[:, None] - col[None, :] + grand
    ms_res = float((residual**2).sum()) / ((runs - 1) * (episodes - 1))
    return Components(
        grand, max(0.0, (ms_run - ms_res) / episodes), max(0.0, (ms_ep - ms_res) / runs), ms_res, run_known=True
    )


@dataclass(frozen=True)
class Resampler:
    """Draws designed experiments from a pilot, y* = mean + a* + b* + eps*, each part with
    the ANOVA variance of its component:

    - a* (run effect): a pilot run's effect, rescaled to var_run, smoothed by normal
      kernel noise and shrunk back to var_run (Silverman's shrunk smoothed bootstrap,
      1986, section 6.4.1): a pilot has a handful of runs, and an unsmoothed draw would
      give a design's mean only a handful of values (intervals set by the extreme runs);
    - b* (episode effect): a pilot episode's effect (column mean minus the grand mean),
      rescaled to var_episode, drawn with replacement and shared by all runs of an
      experiment (and by both policies of a pair when they share seeds): the shape of the
      score distribution (skew, sparse rewards) lives here;
    - eps* (residual): drawn normal with var_residual. Resampling the pilot's residual
      matrix would tie a run slot's residuals to a pilot run: slots drawing the same pilot
      run would share them (the residuals of a crossed table are also correlated between
      rows), which fattens the tails of a design's mean with few pilot runs.

    Rescaling undoes the double counting of plain two-level resampling: the pilot's run
    means and episode means each carry some residual noise (Davison & Hinkley 1997, 3.8)."""

    mean: float
    run_effects: np.ndarray  # (R_p,)
    episode_effects: np.ndarray  # (E_p,)
    var_run: float
    var_residual: float

    @classmethod
    def of(cls, pilot: Pilot, comps: Components) -> Resampler:
        y = pilot.scores
        grand = float(y.mean())
        a, b = y.mean(axis=1) - grand, y.mean(axis=0) - grand
        return cls(grand, a * _scale(a, comps.var_run), b * _scale(b, comps.var_episode), comps.var_run,
                   comps.var_residual)  # fmt: skip

    def run_effects_drawn(self, rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        if self.var_run == 0:
            return np.zeros(shape)
        width = NORMAL_REFERENCE * len(self.run_effects) ** (-1 / 5)  # kernel sd, in units of the run sd
        picked = self.run_effects[rng.integers(0, len(self.run_effects), shape)]
        noise = rng.standard_normal(shape) * (width * math.sqrt(self.var_run))
        return (picked + noise) / math.sqrt(1 + width**2)

    def episode_means(self, episode_counts: np.ndarray) -> np.ndarray:
        """(sims,) mean episode effect of each experiment's drawn episodes ((sims, E_p) counts)."""
        return episode_counts @ self.episode_effects / episode_counts.sum(axis=1)

    def design_means(self, rng: np.random.Generator, runs: int, episode_counts: np.ndarray) -> np.ndarray:
        """(sims,) mean score of experiments with `runs` runs playing the drawn episodes."""
        sims, episodes = episode_counts.shape[0], int(episode_counts[0].sum())
        residual = rng.standard_normal(sims) * math.sqrt(self.var_residual / (runs * episodes))
        return self.mean + self.run_effects_drawn(rng, (sims, runs)).mean(axis=1) + self.episode_means(
            episode_counts) + residual  # fmt: skip

    def run_means(self, rng: np.random.Generator, runs: int, episode_counts: np.ndarray) -> np.ndarray:
        """(sims, runs) run means, the runs of an experiment playing its drawn episodes."""
        sims, episodes = episode_counts.shape[0], int(episode_counts[0].sum())
        residual = rng.standard_normal((sims, runs)) * math.sqrt(self.var_residual / episodes)
        return self.mean + self.run_effects_drawn(rng, (sims, runs)) + self.episode_means(episode_counts)[:, None] \
            + residual  # fmt: skip

    def episode_values(self) -> np.ndarray:
        """A single-run pilot's episode scores, spread rescaled to the unbiased variance."""
        return self.mean + self.episode_effects


def _scale(effects: np.ndarray, variance: float) -> float:
    spread = float(np.mean(effects**2))
    return math.sqrt(variance / spread) if spread > 0 else 0.0


def design_grid(maximum: int, minimum: int = 1) -> list[int]:
    """Half-octave grid 1, 2, 3, 4, 6, 8, 12, 16, ... within [minimum, maximum], plus maximum:
    fine where a design is cheap to change, coarse where one more unit barely matters."""
    values, power = {maximum}, 1
    while power <= maximum:
        values.update({power, power + power // 2})
        power *= 2
    return sorted(v for v in values if minimum <= v <= maximum)


def seeded_rng(seed: int, *parts) -> np.random.Generator:
    """A generator for one simulated design: stable across processes and independent of
    the other designs and policies in the plan."""
    key = zlib.crc32("\x1f".join(map(str, parts)).encode())
    return np.random.default_rng([seed, key])


def episode_counts(s: PlanSettings, episodes: int, size: int, *key) -> np.ndarray:
    """(sims, size) how often each of `size` pilot episodes is among an experiment's
    `episodes` draws with replacement. Drawn once per design's episode count and shared by
    its runs counts (common random numbers: power then rises smoothly with the runs)."""
    rng = seeded_rng(s.seed, "episodes", *key, episodes)
    if episodes > INDEX_DRAWS_UP_TO * size:  # one binomial per pilot episode beats `episodes` index draws
        return rng.multinomial(episodes, np.full(size, 1.0 / size), size=s.sims).astype(np.float64)
    draws = (rng.random((s.sims, episodes)) * size).astype(np.int64) + (np.arange(s.sims) * size)[:, None]
    return np.bincount(draws.ravel(), minlength=s.sims * size).reshape(s.sims, size).astype(np.float64)


def smallest_design(grid: list[int], reaches, below: int | None = None) -> int | None:
    """Index of the smallest grid value for which `reaches` holds, assuming monotonicity
    (bisection: the simulations are the cost); None when even the largest fails. `below`:
    an index known to reach (the answer for fewer runs), searched first; the whole grid
    when simulation noise says otherwise."""
    top = len(grid) - 1 if below is None else below
    if not reaches(grid[top]):
        return None if top == len(grid) - 1 else smallest_design(grid, reaches)
    low, high = 0, top
    while low < high:
        mid = (low + high) // 2
        if reaches(grid[mid]):
            high = mid
        else:
            low = mid + 1
    return high


def pilot_scores(evals: pd.DataFrame) -> pd.DataFrame:
    """Episode scores (policy, mission, run, episode, seed, score) of the policies under
    study: agents in the `replacement` role are not theirs (as in `daf compare`)."""
    if evals.empty:
        raise UserError("no evaluation rows to plan from (pass `daf evaluate` parquets with --evals)")
    rows = evals[evals["role"] != "replacement"] if "role" in evals else evals
    scores = episode_scores(rows)  # checks the table and its `run` column (none: every policy is run 0)
    return scores[["policy", "mission", "run", "episode", "seed", "score"]]


def build_pilots(scores: pd.DataFrame) -> dict[tuple[str, str], Pilot]:
    """Per policy x mission, the runs x episodes matrix of the episodes every run played."""
    pilots = {}
    for (policy, mission), part in scores.groupby(["policy", "mission"], sort=True):
        twice = part.duplicated(["run", "seed"])
        if twice.any():
            row = part[twice].iloc[0]
            raise UserError(f"policy '{policy}' on mission '{mission}': run {row['run']} played seed {row['seed']} "
                            "in two episodes; seeds identify the episodes runs and policies share")  # fmt: skip
        table = part.pivot(index="run", columns="seed", values="score").sort_index().sort_index(axis=1)
        shared = table.columns[table.notna().all(axis=0).to_numpy()]
        note = ""
        if len(shared) < table.shape[1]:
            note = f"runs share {len(shared)} of {table.shape[1]} episode seeds; planned on the shared ones"
        if len(shared) < 2:
            raise UserError(f"policy '{policy}' on mission '{mission}': the pilot needs at least 2 episodes played "
                            f"by every run (runs {', '.join(map(str, table.index))} share {len(shared)})")  # fmt: skip
        if table.shape[0] == 1:
            note = join_notes(note, "one pilot run: between-run variance unknown, taken as 0 (a lower bound)")
        pilots[(policy, mission)] = Pilot(policy, mission, tuple(int(r) for r in table.index),
                                          shared.to_numpy(), table[shared].to_numpy(np.float64), note)  # fmt: skip
    return pilots


def all_mission_pilots(pilots: dict[tuple[str, str], Pilot]) -> tuple[dict[str, Pilot], list[str]]:
    """Per policy, the `ALL` pilot: each (run, k-th episode) scored by the mean over missions
    of the normalised scores of the run's k-th episode there. The mean over missions of
    independent episodes has exactly the variance structure of the `ALL` mean, so the same
    components and resampling apply. Needs the policy on every mission; returns notes on
    the policies left out."""
    missions = sorted({m for _, m in pilots})
    out, notes = {}, []
    for policy in sorted({p for p, _ in pilots}):
        mine = [pilots.get((policy, m)) for m in missions]
        if any(p is None for p in mine):
            lacking = [m for m, p in zip(missions, mine) if p is None]
            notes.append(f"{policy}: no {ALL} plan (not evaluated on {', '.join(lacking)})")
            continue
        runs = sorted(set.intersection(*(set(p.runs) for p in mine)))
        if not runs:
            notes.append(f"{policy}: no {ALL} plan (no run was evaluated on every mission)")
            continue
        episodes = min(p.shape[1] for p in mine)
        rows = [[p.runs.index(r) for r in runs] for p in mine]
        scores = np.mean([p.scores[np.ix_(r, np.arange(episodes))] for p, r in zip(mine, rows)], axis=0)
        keys = np.array(["|".join(str(p.keys[k]) for p in mine) for k in range(episodes)])
        note = ""
        if any(p.shape[1] > episodes for p in mine) or any(len(p.runs) > len(runs) for p in mine):
            note = f"{len(runs)} run(s) x {episodes} episodes per mission played everywhere"
        if len(runs) == 1:
            note = join_notes(note, "one pilot run: between-run variance unknown, taken as 0 (a lower bound)")
        out[policy] = Pilot(policy, ALL, tuple(runs), keys, scores, note)
    return out, notes


def join_notes(*notes: str) -> str:
    return "; ".join(n for n in notes if n)
