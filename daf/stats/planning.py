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
from dataclasses import dataclass

import numpy as np
import pandas as pd

from daf.errors import UserError, unknown_choice
from daf.stats.pilots import (
    BETWEEN_RUNS,
    COMPONENT_COLUMNS,
    Pilot,
    PlanSettings,
    all_mission_pilots,
    build_pilots,
    pilot_scores,
    variance_components,
)
from daf.stats.sample_size import POWER_COLUMNS, PRECISION_COLUMNS, RUN_TESTS, power_rows, precision_rows
from daf.stats.scores import ALL, normalize_scores

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


def smallest_designs(table: pd.DataFrame, keys: list[str]) -> list[dict]:
    """Per group of a precision or power table (designs in ascending size), the smallest design
    that reaches the target, else the largest tried (the report's tables; `summary_text` words
    the same choice)."""
    rows = []
    for _, part in table.groupby(keys, sort=True):
        reached = part[part["reachable"].astype(bool)]
        rows.append((reached.iloc[0] if len(reached) else part.iloc[-1]).to_dict())
    return rows


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
