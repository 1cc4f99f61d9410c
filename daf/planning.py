"""Power analysis from a pilot: how many training runs and evaluation episodes a study needs.

A pilot is a small study (a few runs per trained policy, a few dozen episodes each) whose
evaluation tables (`daf evaluate` parquets with the `run` column) say how noisy the scores
are. Two questions, per policy x mission (and `ALL` missions on normalised scores):

(a) precision - with how many runs R and episodes per run E is the (1 - alpha) CI of the
    policy's mean score at most `half_width` wide on each side?
(b) power - with how many runs (and episodes) does a test detect the difference between
    two policies (the pilot's observed difference, or a given one) with the wanted power?

Model. Every run of a policy plays the same episodes (common random numbers), so the
pilot's scores of a policy on a mission are a crossed runs x episodes matrix
    y[r, e] = mu + a[r] + b[e] + eps[r, e]
with between-run variance var_run (training seeds), episode variance var_episode (map
difficulty, shared by all runs) and residual variance var_residual (a run's own luck on a
map). Their ANOVA estimates (two-way without replication, truncated at zero) give the
variance of a design's mean score in closed form,
    var(R, E) = var_run / R + var_episode / E + var_residual / (R E),
so the half-width is z * sqrt(var(R, E)). As E grows it falls to z * sqrt(var_run / R), not
to zero: when the between-run variance dominates, more episodes cannot help and only more
runs can. This is the fast, analytic answer.

Simulation. Designs on a half-octave grid (1, 2, 3, 4, 6, 8, 12, ...) are also simulated
from the pilot: run effects and episode effects resampled with replacement (episodes shared
by the runs of an experiment, as in the real design), see `Resampler`. Plain two-level
resampling of the scores would count the pilot's residual noise again in the spread of run
means and of episode means (Davison & Hinkley 1997, section 3.8) and wrongly cap the
precision of designs much bigger than the pilot; so each part is rescaled to its ANOVA
variance first. The simulated variance then matches the closed form, and the simulation
adds what the closed form lacks: the shape of the episode scores (skew, sparse rewards) in
the precision columns `*_sim`, and for power the actual test - Welch's t over run means
has a handful of degrees of freedom with few runs, where a normal approximation would be
optimistic. Power is only simulated; precision reports both (`episodes_needed` is the
closed form, exact to the episode; `episodes_needed_sim` the smallest grid value).

Tests simulated for power, two-sided at `alpha`, difference = policy_a - policy_b:
- `welch_runs`: both policies with several pilot runs - Welch's t over run means (R runs
  each);
- `welch_runs_reference`: one of them has a single pilot run (a scripted policy is run 0
  only): Welch's t with that policy's side being its mean over episodes and that mean's
  standard error (evaluation noise is all the uncertainty a policy without training has);
- `paired_episodes`: both single-run - the paired t over seed-matched episodes
  (`welch_episodes`: Welch's t over episodes when the pilots share no episode seeds).
A test over run means treats the episodes played as fixed: episode effects shared by all
runs are not in its standard error. When they differ between the two policies (a map easy
for one and hard for the other), the test rejects a true null more often than `alpha`.
The `null_rejection` column (the same design simulated with the difference set to zero)
measures it; more episodes reduce it.

All draws come from numpy Generators seeded by (seed, what is simulated, design), so the
output is deterministic and a policy's rows do not depend on which other policies the
tables hold.
"""

from __future__ import annotations

import itertools
import math
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as sps

from daf.errors import UserError, unknown_choice
from daf.stats import ALL, episode_scores, normalize_scores

COMPONENT_COLUMNS = [
    "policy", "mission", "units", "pilot_runs", "pilot_episodes", "mean", "var_run", "var_episode",
    "var_residual", "run_share", "half_width_pilot", "note",
]  # fmt: skip
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
BETWEEN_RUNS = "between-run variance"
MAX_EPISODES = "max episodes"
MAX_RUNS = "max runs"
NORMAL_REFERENCE = 1.06  # Silverman's normal-reference bandwidth: 1.06 sd n^(-1/5)
RUN_TESTS = ("welch_runs", "welch_runs_reference")
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


def _rng(seed: int, *parts) -> np.random.Generator:
    """A generator for one simulated design: stable across processes and independent of
    the other designs and policies in the plan."""
    key = zlib.crc32("\x1f".join(map(str, parts)).encode())
    return np.random.default_rng([seed, key])


def episode_counts(s: PlanSettings, episodes: int, size: int, *key) -> np.ndarray:
    """(sims, size) how often each of `size` pilot episodes is among an experiment's
    `episodes` draws with replacement. Drawn once per design's episode count and shared by
    its runs counts (common random numbers: power then rises smoothly with the runs)."""
    rng = _rng(s.seed, "episodes", *key, episodes)
    if episodes > INDEX_DRAWS_UP_TO * size:  # one binomial per pilot episode beats `episodes` index draws
        return rng.multinomial(episodes, np.full(size, 1.0 / size), size=s.sims).astype(np.float64)
    draws = (rng.random((s.sims, episodes)) * size).astype(np.int64) + (np.arange(s.sims) * size)[:, None]
    return np.bincount(draws.ravel(), minlength=s.sims * size).reshape(s.sims, size).astype(np.float64)


def _smallest(grid: list[int], reaches, below: int | None = None) -> int | None:
    """Index of the smallest grid value for which `reaches` holds, assuming monotonicity
    (bisection: the simulations are the cost); None when even the largest fails. `below`:
    an index known to reach (the answer for fewer runs), searched first; the whole grid
    when simulation noise says otherwise."""
    top = len(grid) - 1 if below is None else below
    if not reaches(grid[top]):
        return None if top == len(grid) - 1 else _smallest(grid, reaches)
    low, high = 0, top
    while low < high:
        mid = (low + high) // 2
        if reaches(grid[mid]):
            high = mid
        else:
            low = mid + 1
    return high


# --- pilots ---------------------------------------------------------------------------------


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
            note = _join(note, "one pilot run: between-run variance unknown, taken as 0 (a lower bound)")
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
            note = _join(note, "one pilot run: between-run variance unknown, taken as 0 (a lower bound)")
        out[policy] = Pilot(policy, ALL, tuple(runs), keys, scores, note)
    return out, notes


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


# --- (a) precision ------------------------------------------------------------------------------


def _half_width_sim(pilot: Pilot, sampler: Resampler, runs: int, counts: np.ndarray, s: PlanSettings) -> float:
    """Half the central (1 - alpha) range of simulated design means (runs x drawn episodes)."""
    rng = _rng(s.seed, "precision", pilot.policy, pilot.mission, runs, int(counts[0].sum()))
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

        found = _smallest(episode_grid, reaches, previous)  # more runs never need more episodes
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


# --- (b) power -----------------------------------------------------------------------------------


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
    rng = _rng(s.seed, "power", pair.a.policy, pair.b.policy, pair.a.mission, runs, episodes)
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
                 "reachable": False, "limited_by": MAX_RUNS, "note": _join(a.note, b.note, *notes)}]  # fmt: skip
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

        found = _smallest(episode_grid, reaches, previous)  # more runs never need more episodes
        previous = found
        at = episode_grid[found] if found is not None else episode_grid[-1]
        limited = ""
        if found is None:
            hopeless = runs_test and run_var > 0 and abs(target) < z_sum * math.sqrt(run_var / runs)
            limited = BETWEEN_RUNS if hopeless else MAX_EPISODES
        rows.append({
            **base, "runs": runs, "episodes_needed": episode_grid[found] if found is not None else None,
            "power": cache[at], "null_rejection": rejection_rate(pair, runs, counts(at), -pilot_diff, s),
            "reachable": found is not None, "limited_by": limited, "note": _join(a.note, b.note, *notes),
        })  # fmt: skip
    return rows


# --- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    components: pd.DataFrame
    precision: pd.DataFrame
    power: pd.DataFrame
    notes: list[str]


def _resolve_pairs(pilots: dict[str, dict[str, Pilot]], s: PlanSettings) -> list[tuple[str, str]]:
    policies = sorted(pilots)
    if s.pairs is None:
        return [(a, b) for a, b in itertools.combinations(policies, 2) if set(pilots[a]) & set(pilots[b])]
    for a, b in s.pairs:
        for name in (a, b):
            if name not in pilots:
                raise unknown_choice("policy", name, policies)
        if a == b:
            raise UserError(f"--pairs '{a}:{b}' compares a policy with itself")
        if not set(pilots[a]) & set(pilots[b]):
            raise UserError(f"--pairs '{a}:{b}': the policies share no mission ({a}: {', '.join(sorted(pilots[a]))}; "
                            f"{b}: {', '.join(sorted(pilots[b]))})")  # fmt: skip
    return list(dict.fromkeys(s.pairs))


def plan(evals: pd.DataFrame, settings: PlanSettings) -> Plan:
    """Variance components, precision designs and power designs from pilot evaluations."""
    settings.check()
    scores = pilot_scores(evals)
    units = "score"
    if settings.normalize:
        known = sorted(scores["policy"].unique())
        for ref in settings.normalize:
            if ref not in known:
                raise unknown_choice("policy", ref, known)
        scores = normalize_scores(scores, *settings.normalize)
        units = "normalized"
    pilots = build_pilots(scores)
    notes: list[str] = []
    if settings.normalize:
        aggregate, notes = all_mission_pilots(pilots)
        pilots.update({(policy, ALL): pilot for policy, pilot in aggregate.items()})
    by_policy: dict[str, dict[str, Pilot]] = {}
    for (policy, mission), pilot in sorted(pilots.items()):
        by_policy.setdefault(policy, {})[mission] = pilot
    pairs = _resolve_pairs(by_policy, settings)
    comp_rows, precision, power = [], [], []
    for (_policy, _mission), pilot in sorted(pilots.items()):
        comps = variance_components(pilot.scores)
        within = comps.var_episode + comps.var_residual
        comp_rows.append({
            "policy": pilot.policy, "mission": pilot.mission, "units": units, "pilot_runs": pilot.shape[0],
            "pilot_episodes": pilot.shape[1], "mean": comps.mean,
            "var_run": comps.var_run if comps.run_known else np.nan, "var_episode": comps.var_episode,
            "var_residual": comps.var_residual,
            "run_share": comps.var_run / (comps.var_run + within) if comps.run_known and comps.var_run + within > 0
            else np.nan,
            "half_width_pilot": settings.z * math.sqrt(comps.variance(*pilot.shape)), "note": pilot.note,
        })  # fmt: skip
        if settings.half_width is not None:
            precision += precision_rows(pilot, comps, settings, units)
    for a, b in pairs:
        for mission in sorted(set(by_policy[a]) & set(by_policy[b])):
            power += power_rows(by_policy[a][mission], by_policy[b][mission], settings, units)
    return Plan(
        pd.DataFrame(comp_rows, columns=COMPONENT_COLUMNS),
        _typed(pd.DataFrame(precision, columns=PRECISION_COLUMNS), ["episodes_needed", "episodes_needed_sim"]),
        _typed(pd.DataFrame(power, columns=POWER_COLUMNS), ["episodes_needed"]),
        notes,
    )


def _typed(frame: pd.DataFrame, optional_ints: list[str]) -> pd.DataFrame:
    """Integer columns that may be missing (unreachable designs) as nullable Int64."""
    for column in optional_ints:
        frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
    for column in ("reachable", "paired_episodes"):
        if column in frame:
            frame[column] = frame[column].astype(bool)
    return frame


# --- the human summary ------------------------------------------------------------------------------


def summary_text(result: Plan, settings: PlanSettings) -> str:
    """A few lines a person reads before launching the study: per policy x mission the
    smallest design reaching the precision target, per pair the smallest with the power."""
    level = f"{1 - settings.alpha:.0%}"
    lines = []
    if not result.precision.empty:
        units = result.precision["units"].iloc[0]
        lines.append(f"precision: {level} CI half-width <= {settings.half_width:g} ({units} units)")
        for (policy, mission), part in result.precision.groupby(["policy", "mission"], sort=True):
            lines.append(f"  {policy} on {mission}: {_precision_line(part, settings)}")
    if not result.power.empty:
        lines.append(f"power: {settings.power:.0%} at alpha {settings.alpha:g} (two-sided)")
        for (a, b, mission), part in result.power.groupby(["policy_a", "policy_b", "mission"], sort=True):
            lines.append(f"  {a} vs {b} on {mission}: {_power_line(part, settings)}")
    elif not result.components.empty:
        lines.append("power: no pair of policies shares a mission")
    lines += [f"note: {n}" for n in result.notes]
    return "\n".join(lines)


def _precision_line(part: pd.DataFrame, s: PlanSettings) -> str:
    ok = part[part["reachable"]]
    one = part.iloc[0]
    single = one["pilot_runs"] == 1
    if ok.empty:
        best = part.iloc[-1]
        if best["limited_by"] == BETWEEN_RUNS:
            # the floor z sqrt(var_run / R) falls below H from R > var_run / (H / z)^2 runs on
            at_least = math.floor(best["runs"] * (best["half_width_floor"] / s.half_width) ** 2) + 1
            return (f"not reachable with <= {best['runs']} runs: between-run variance dominates (half-width >= "
                    f"{best['half_width_floor']:.3g} whatever the episodes); more episodes cannot help, more runs are "
                    f"needed (at least {at_least})")  # fmt: skip
        return f"not reachable with <= {best['runs']} run(s) x {s.max_episodes} episodes " \
               f"(half-width {best['half_width']:.3g})" + (" - one pilot run" if single else "")  # fmt: skip
    first = ok.iloc[0]
    text = (f"{first['runs']} run(s) x {first['episodes_needed']} episodes (half-width {first['half_width']:.3g}; "
            f"simulated: {_maybe(first['episodes_needed_sim'])} episodes)")  # fmt: skip
    before = part[(part["runs"] < first["runs"]) & (part["limited_by"] == BETWEEN_RUNS)]
    if not before.empty:
        text += ("; fewer runs cannot reach it whatever the episodes (between-run variance dominates: more "
                 "episodes cannot help)")  # fmt: skip
    if single:
        text += " - one pilot run: between-run variance unknown"
    return text


def _power_line(part: pd.DataFrame, s: PlanSettings) -> str:
    one = part.iloc[0]
    given = "given" if s.difference is not None else "observed"
    head = f"{one['test']}, difference {one['difference']:+.3g} ({given})"
    ok = part[part["reachable"]]
    if ok.empty:
        last = part.iloc[-1]
        why = ("between-run variance dominates: more episodes cannot help, more runs are needed"
               if last["limited_by"] == BETWEEN_RUNS else "too small a difference for these limits")  # fmt: skip
        return f"{head}: not reachable with <= {last['runs']} runs x {s.max_episodes} episodes " \
               f"(power {last['power']:.2f}; {why})"  # fmt: skip
    first = ok.iloc[0]
    runs = f"{first['runs']} runs x " if one["test"] in RUN_TESTS else ""
    text = f"{head}: {runs}{first['episodes_needed']} episodes (power {first['power']:.2f})"
    tolerance = 3 * math.sqrt(s.alpha * (1 - s.alpha) / s.sims)  # Monte Carlo error of a rejection rate
    if first["null_rejection"] > s.alpha + tolerance:
        text += (f"; caution: the test rejects {first['null_rejection']:.2f} of null experiments (episode effects "
                 "differ between the policies; more episodes reduce it)")  # fmt: skip
    return text


def _maybe(value) -> str:
    return "n/a" if pd.isna(value) else str(int(value))
