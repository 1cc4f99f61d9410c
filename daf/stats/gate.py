"""A promotion gate: does a candidate policy beat (or at least not lose to) an incumbent?

CI pipelines need a yes or no, not a table. `gate()` estimates the difference of mean
episode scores, candidate minus incumbent (A - B), on each mission with a t interval, and
the gate holds when the interval's lower bound clears the threshold on every mission:

- superiority:      lower bound > margin   (margin >= 0; 0: "better at all")
- non-inferiority:  lower bound > -margin  (margin > 0: the loss one accepts)

The interval is two-sided at `confidence`, so each one-sided decision is at level
(1 - confidence) / 2 (the convention of non-inferiority trials). Requiring every mission
to pass is an intersection-union test: it keeps that level without a multiplicity
correction. An interval that spans the threshold fails, however good the point estimate:
an inconclusive comparison never promotes.

The unit of replication follows `daf.stats.comparison`:
- `run` level when a side has >= 2 training runs: one number per run (its mean episode
  score). Both sides >= 2 runs: Welch's t interval of the difference of run means. One side
  with a single run (e.g. a scripted incumbent): the one-sample t interval of the
  multi-run side's run means minus the single run's mean, which is held fixed.
- `episode` level when both have one run: the paired t interval of per-seed differences
  (episodes matched by seed: common random numbers), or Welch's t over episodes where the
  seeds do not all match.
Welch/paired/one-sample t intervals are what scipy.stats returns (`confidence_interval()`
of ttest_ind/ttest_rel/ttest_1samp); the tests check them against it. With few runs they
are wide: three runs a side rarely promote on a small margin, which is the honest answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from daf.errors import UserError, unknown_choice
from daf.evaluation.table import episode_scores
from daf.stats.scores import check_runs

GATE_TESTS = ("superiority", "non-inferiority")
MISSION_COLUMNS = [
    "mission", "level", "method", "runs_a", "runs_b", "n", "mean_a", "mean_b", "estimate", "ci_low", "ci_high",
    "threshold", "passed",
]  # fmt: skip


@dataclass(frozen=True)
class GateSettings:
    test: str = "superiority"
    margin: float = 0.0
    confidence: float = 0.95
    missions: tuple[str, ...] | None = None  # None: every mission both policies played

    def check(self) -> None:
        if self.test not in GATE_TESTS:
            raise unknown_choice("gate test", self.test, GATE_TESTS)
        if not 0 < self.confidence < 1:
            raise UserError(f"--confidence must be between 0 and 1 (got {self.confidence})")
        if not np.isfinite(self.margin) or self.margin < 0:
            raise UserError(f"--margin must be a non-negative number of score units (got {self.margin})")
        if self.test == "non-inferiority" and self.margin == 0:
            raise UserError("--test non-inferiority needs --margin > 0 (the loss you accept); "
                            "with margin 0 it is a superiority test")  # fmt: skip

    @property
    def threshold(self) -> float:
        return self.margin if self.test == "superiority" else -self.margin


@dataclass(frozen=True)
class GateResult:
    """The decision (`passed`), its settings and one row per mission (MISSION_COLUMNS)."""

    candidate: str
    incumbent: str
    settings: GateSettings
    missions: pd.DataFrame

    @property
    def passed(self) -> bool:
        return bool(self.missions["passed"].all())

    def deciding(self) -> pd.Series:
        """The mission closest to failing (or failing by most): lowest lower bound minus threshold."""
        slack = self.missions["ci_low"] - self.missions["threshold"]
        return self.missions.loc[slack.idxmin()]

    def verdict(self) -> str:
        """One line: PASS/FAIL, the criterion, and the estimate and interval that decided it."""
        s, row = self.settings, self.deciding()
        held = int(self.missions["passed"].sum())
        where = f"on {row['mission']}" if len(self.missions) == 1 else (
            f"on {held} of {len(self.missions)} missions; closest: {row['mission']}")  # fmt: skip
        sign = ">" if row["passed"] else "<="
        return (
            f"gate {'PASS' if self.passed else 'FAIL'}: {self.candidate} vs {self.incumbent}, {s.test} "
            f"(margin {s.margin:g}) {where}: A - B = {row['estimate']:.4g} [{row['ci_low']:.4g}, {row['ci_high']:.4g}] "
            f"({s.confidence:.0%} CI, {row['level']} level, {row['method']}, {row['runs_a']} vs {row['runs_b']} "
            f"run(s), n={row['n']}); lower bound {sign} {row['threshold']:g}"
        )

    def to_dict(self) -> dict:
        return {
            "passed": self.passed, "verdict": self.verdict(), "candidate": self.candidate,
            "incumbent": self.incumbent, "settings": asdict(self.settings),
            "missions": self.missions.to_dict(orient="records"),
        }  # fmt: skip


def gate(evals: pd.DataFrame, candidate: str, incumbent: str, settings: GateSettings = GateSettings()) -> GateResult:
    """Decide the gate from concatenated `daf evaluate` tables holding both policies."""
    settings.check()
    if candidate == incumbent:
        raise UserError(f"--candidate and --incumbent are both '{candidate}': a gate compares two policies")
    rows = evals[evals["role"] == "candidate"] if "role" in evals else evals
    scores = episode_scores(rows)
    check_runs(scores)
    policies = set(scores["policy"])
    for flag, name in (("--candidate", candidate), ("--incumbent", incumbent)):
        if name not in policies:
            raise UserError(f"{flag} '{name}' is not in the evaluation tables; policies there: "
                            f"{', '.join(sorted(policies))}")  # fmt: skip
    played = {p: set(scores.loc[scores["policy"] == p, "mission"]) for p in (candidate, incumbent)}
    shared = sorted(played[candidate] & played[incumbent])
    if settings.missions is None:
        if not shared:
            raise UserError(f"'{candidate}' ({', '.join(sorted(played[candidate]))}) and '{incumbent}' "
                            f"({', '.join(sorted(played[incumbent]))}) share no mission")  # fmt: skip
        missions = shared
    else:
        missions = list(dict.fromkeys(settings.missions))
        for mission in missions:
            if mission not in shared:
                raise UserError(f"--missions '{mission}' was not played by both policies; shared missions: "
                                f"{', '.join(shared) or 'none'}")  # fmt: skip
    table = pd.DataFrame(
        [_mission_row(scores, candidate, incumbent, m, settings) for m in missions], columns=MISSION_COLUMNS
    )
    return GateResult(candidate, incumbent, settings, table)


def _mission_row(scores: pd.DataFrame, a: str, b: str, mission: str, s: GateSettings) -> dict:
    part = scores[scores["mission"] == mission]
    xa, xb = part[part["policy"] == a], part[part["policy"] == b]
    runs_a, runs_b = xa["run"].nunique(), xb["run"].nunique()
    if max(runs_a, runs_b) >= 2:
        level = "run"
        ma, mb = (x.groupby("run")["score"].mean().to_numpy() for x in (xa, xb))
        if min(runs_a, runs_b) >= 2:
            method, n, (low, high) = "Welch t over run means", runs_a + runs_b, _welch(ma, mb, s.confidence)
        else:
            many, sign = (ma, 1.0) if runs_a >= 2 else (mb, -1.0)
            single = (mb if runs_a >= 2 else ma).mean()
            low, high = (sign * v for v in _one_sample(many - single, s.confidence))
            low, high = min(low, high), max(low, high)
            method, n = "one-sample t of run means against the single run's mean", max(runs_a, runs_b)
        estimate = float(ma.mean() - mb.mean())
    else:
        level = "episode"
        matched = xa.merge(xb, on="seed", suffixes=("_a", "_b"))
        if len(matched) == len(xa) == len(xb):
            d = matched["score_a"].to_numpy() - matched["score_b"].to_numpy()
            method, n, (low, high) = "paired t over seed-matched episodes", len(d), _one_sample(d, s.confidence)
        else:
            ea, eb = xa["score"].to_numpy(), xb["score"].to_numpy()
            method, n, (low, high) = (
                "Welch t over episodes (seeds do not all match)",
                len(ea) + len(eb),
                _welch(ea, eb, s.confidence),
            )
        estimate = float(xa["score"].mean() - xb["score"].mean())
    return {
        "mission": mission, "level": level, "method": method, "runs_a": int(runs_a), "runs_b": int(runs_b),
        "n": int(n), "mean_a": float(xa["score"].mean()), "mean_b": float(xb["score"].mean()), "estimate": estimate,
        "ci_low": float(low), "ci_high": float(high), "threshold": s.threshold, "passed": bool(low > s.threshold),
    }  # fmt: skip


def _one_sample(d: np.ndarray, confidence: float) -> tuple[float, float]:
    """t interval of the mean of `d` (a point when every value is equal: there is no spread to widen it)."""
    if d.size < 2:
        raise UserError(f"the gate needs at least 2 paired episodes or runs per mission (got {d.size})")
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    ci = sps.ttest_1samp(d, 0.0).confidence_interval(confidence)
    return float(ci.low), float(ci.high)


def _welch(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float]:
    """Welch's t interval of mean(x) - mean(y)."""
    if min(x.size, y.size) < 2:
        raise UserError(f"the gate needs at least 2 values per side (got {x.size} and {y.size})")
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        diff = float(x.mean() - y.mean())
        return diff, diff
    ci = sps.ttest_ind(x, y, equal_var=False).confidence_interval(confidence)
    return float(ci.low), float(ci.high)
