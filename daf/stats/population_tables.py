"""Population rankings of DAF's tables: Nash averaging of the policies x missions scores and
α-Rank of each mission's cross-play game, each with a bootstrap over training runs and episodes.

The matrix functions live in daf.stats.population; this module turns evaluation and cross-play
tables into their score matrices, resamples those, and writes one row per policy (and mission).

Resampling. Every policy played the same seeded episodes of a mission (common random numbers),
and a trained policy has several training runs. A replicate draws each policy's runs with
replacement (one draw, shared by every mission or cross-play cell of that policy) and each
mission's episodes with replacement (one draw, shared by every policy and run: the pairing of
the episodes is what the game compares). A scripted policy with one run varies by episodes only.
Every replicate solves the game again (linear programs for Nash, an eigenproblem for α-Rank),
so `reps` is smaller than the comparison's 10,000 by default.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from daf.errors import UserError
from daf.stats.bootstrap import multinomial_counts, percentile_interval

NASH_COLUMNS = [
    "kind", "name", "nash", "ci_low", "ci_high", "uniform", "rank_nash", "rank_uniform", "runs", "episodes",
    "game_value", "scale",
]  # fmt: skip
ALPHARANK_COLUMNS = [
    "mission", "split", "agents_a", "policy", "mass", "ci_low", "ci_high", "rank", "self_play", "runs", "episodes",
    "alpha", "alpha_source", "population_size", "selection", "payoff",
]  # fmt: skip
PAYOFFS = {"team": "team", "own": "a"}  # α-Rank payoff -> cross-play score column (cell_scores)


# --- the shared resampling ---------------------------------------------------------------------


def _resampled_means(blocks: dict, runs_of: dict, episodes_of: dict, reps: int, rng: np.random.Generator) -> dict:
    """key -> (reps,) means of each (runs x episodes) block under the shared draws: `runs_of[key]`
    names the policy whose runs index the block's rows, `episodes_of[key]` the episode set (a
    mission, or a cross-play split) whose draw indexes its columns."""
    run_counts = {}
    for key, block in blocks.items():
        owner = runs_of[key]
        if owner not in run_counts:
            run_counts[owner] = _counts(block.shape[0], reps, rng)
    episode_counts = {}
    for key, block in blocks.items():
        group = episodes_of[key]
        if group not in episode_counts:
            episode_counts[group] = _counts(block.shape[1], reps, rng)
    out = {}
    for key, block in blocks.items():
        rows, cols = run_counts[runs_of[key]], episode_counts[episodes_of[key]]
        if rows.shape[1] != block.shape[0] or cols.shape[1] != block.shape[1]:
            raise UserError(f"the runs or episodes of {key} differ from the other tables of its policy or mission")
        out[key] = np.einsum("kr,re,ke->k", rows, block, cols) / (block.shape[0] * block.shape[1])
    return out


def _counts(n: int, reps: int, rng: np.random.Generator) -> np.ndarray:
    """(reps, n) counts of n draws with replacement (float, for the einsum)."""
    return multinomial_counts(n, reps, rng).astype(np.float64)


def _solver_precision(values) -> np.ndarray:
    """Values rounded to 1e-12: below that the LP and eigen solvers' rounding (and -0.0) shows
    (an α-Rank mass of 1e-16 is 0, and ranking it above another 1e-17 would rank noise)."""
    return np.round(np.asarray(values, dtype=np.float64), 12) + 0.0


def _ranks(values: np.ndarray) -> np.ndarray:
    """1 = highest; ties (equal to 9 significant digits) share the better rank."""
    rounded = [float(f"{v:.9g}") for v in values]
    return pd.Series(rounded).rank(ascending=False, method="min").to_numpy(dtype=np.int64)


# --- Nash averaging of a policies x missions table -------------------------------------------


def score_blocks(scores: pd.DataFrame, policies: list[str], missions: list[str]) -> dict:
    """(policy, mission) -> its (runs x episodes) score matrix (daf.stats.scores.run_matrix),
    every policy on every mission."""
    from daf.stats.scores import check_runs, run_matrix

    check_runs(scores)
    blocks = {}
    for (policy, mission), part in scores.groupby(["policy", "mission"], sort=False):
        if policy in policies and mission in missions:
            blocks[(policy, mission)] = run_matrix(part)
    blocks = {(p, m): blocks[(p, m)] for p in policies for m in missions}  # every pair is there (checked before)
    for mission in missions:
        widths = {blocks[(p, mission)].shape[1] for p in policies}
        if len(widths) > 1:
            raise UserError(f"policies played different numbers of episodes on mission '{mission}' ({sorted(widths)}); "
                            "Nash averaging pairs them episode by episode")  # fmt: skip
    return blocks


def min_max_scale(scores: pd.DataFrame) -> pd.DataFrame:
    """Per mission, the lowest policy mean -> 0 and the highest -> 1 (Balduzzi et al. 2018,
    appendix D; OpenSpiel's nash_averaging_avt_matrix), for studies without a normalisation."""
    means = scores.groupby(["mission", "policy"])["score"].mean()
    out = []
    for mission, part in scores.groupby("mission", sort=True):
        lo, hi = means[mission].min(), means[mission].max()
        if hi == lo:
            raise UserError(f"cannot scale mission '{mission}' for Nash averaging: every policy has the same mean "
                            f"({lo:g}); drop it (population.missions) or set compare.normalization")  # fmt: skip
        out.append(part.assign(score=(part["score"] - lo) / (hi - lo)))
    return pd.concat(out, ignore_index=True)


def nash_table(
    evals: pd.DataFrame, policies: list[str] | None = None, missions: list[str] | None = None,
    normalize: tuple[str, str] | None = None, confidence: float = 0.95, reps: int = 1000, seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """Nash averaging of evaluation tables (NASH_COLUMNS): a `policy` row per policy (its
    Nash-averaged skill with a bootstrap CI, its mean over missions, both ranks) and a `mission`
    row per mission (its Nash weight with CI; `uniform` = 1 / missions). Scores are normalised
    between `normalize` = (low, high) per mission when given, else min-max scaled per mission.
    Default policies: every policy in the tables; default missions: those every one of them
    played."""
    from daf.evaluation.table import episode_scores
    from daf.stats.population import nash_average
    from daf.stats.scores import normalize_scores

    scores = episode_scores(evals)
    known = list(dict.fromkeys(scores["policy"]))
    policies = list(policies or known)
    unknown = [p for p in policies if p not in known]
    if unknown:
        raise UserError(f"no evaluation of policy '{unknown[0]}' for Nash averaging; policies: {', '.join(known)}")
    if missions is None:
        played = [set(scores.loc[scores["policy"] == p, "mission"]) for p in policies]
        missions = sorted(set.intersection(*played))
        if not missions:
            raise UserError(f"no mission is played by every one of {', '.join(policies)}: nothing to Nash-average "
                            "(population.policies chooses the policies)")  # fmt: skip
    missions = list(missions)
    if len(policies) < 2:
        raise UserError("Nash averaging ranks at least two policies")
    played = set(zip(scores["policy"], scores["mission"]))
    for policy in policies:
        for mission in missions:
            if (policy, mission) not in played:
                raise UserError(f"Nash averaging needs every policy on every mission: no evaluation of '{policy}' "
                                f"on '{mission}' (population.policies / population.missions choose a complete "
                                "table)")  # fmt: skip
    if normalize is not None:
        scale = f"normalised ({normalize[0]} = 0, {normalize[1]} = 1)"
        scores = normalize_scores(scores[scores["mission"].isin(missions)], *normalize)
    else:
        scale = "min-max per mission (lowest policy mean = 0, highest = 1)"
        scores = min_max_scale(scores[scores["policy"].isin(policies) & scores["mission"].isin(missions)])
    blocks = score_blocks(scores, policies, missions)
    matrix = np.array([[blocks[(p, m)].mean() for m in missions] for p in policies])
    skills, weights, value = map(_solver_precision, nash_average(matrix))
    resampled = _resampled_means(blocks, {k: k[0] for k in blocks}, {k: k[1] for k in blocks}, reps,
                                 np.random.default_rng(seed))  # fmt: skip
    boot_skills, boot_weights = np.empty((reps, len(policies))), np.empty((reps, len(missions)))
    for i in range(reps):
        replicate = np.array([[resampled[(p, m)][i] for m in missions] for p in policies])
        boot_skills[i], boot_weights[i], _ = nash_average(replicate)
    skill_low, skill_high = map(_solver_precision, percentile_interval(boot_skills, confidence, axis=0))
    weight_low, weight_high = map(_solver_precision, percentile_interval(boot_weights, confidence, axis=0))
    uniform = _solver_precision(matrix.mean(axis=1))
    rows = [
        {"kind": "policy", "name": p, "nash": skills[i], "ci_low": skill_low[i], "ci_high": skill_high[i],
         "uniform": uniform[i], "rank_nash": r_nash, "rank_uniform": r_uniform,
         "runs": blocks[(p, missions[0])].shape[0], "episodes": sum(blocks[(p, m)].shape[1] for m in missions)}
        for i, (p, r_nash, r_uniform) in enumerate(zip(policies, _ranks(skills), _ranks(uniform)))
    ] + [
        {"kind": "mission", "name": m, "nash": weights[j], "ci_low": weight_low[j], "ci_high": weight_high[j],
         "uniform": 1.0 / len(missions), "rank_nash": r, "rank_uniform": 1, "runs": 0,
         "episodes": blocks[(policies[0], m)].shape[1]}
        for j, (m, r) in enumerate(zip(missions, _ranks(weights)))
    ]  # fmt: skip
    return pd.DataFrame(rows).assign(game_value=float(value), scale=scale)[NASH_COLUMNS]


# --- α-Rank of a cross-play game ---------------------------------------------------------------


def crossplay_blocks(
    mission: str, policies: list[str], splits: list, self_play: dict[str, pd.DataFrame],
    cells: dict[tuple[str, str, int], pd.DataFrame], payoff: str = "team", episodes: int | None = None,
) -> dict:  # fmt: skip
    """(split, agents of A) -> {(A, B): (A's runs x episodes) matrix of the payoff}: A on k agents
    with B on the rest, the diagonal from A's ordinary evaluation (the cross-play episodes)."""
    from daf.missions.teams import split_agents
    from daf.stats.crossplay import cell_scores, run_episode_table, self_play_table

    if payoff not in PAYOFFS:
        raise UserError(f"unknown α-Rank payoff '{payoff}'; valid payoffs: {', '.join(PAYOFFS)}")
    column = PAYOFFS[payoff]
    missing = [p for p in policies if p not in self_play]
    if missing:
        raise UserError(f"no evaluation of '{missing[0]}' on mission '{mission}' for the α-Rank diagonal")
    own = {}
    for policy in policies:
        frame = self_play_table(self_play[policy], policy, episodes) if episodes else self_play[policy]
        own[policy] = cell_scores(frame, self_play=True)
        num_agents = int(frame.groupby("episode")["agent"].nunique().max())
    out = {}
    for split in splits:
        k = split_agents(split, num_agents, mission)
        games = {}
        for a in policies:
            for b in policies:
                if a == b:
                    scores = own[a]
                elif (a, b, k) in cells:
                    scores = cell_scores(cells[(a, b, k)])
                else:
                    raise UserError(f"no cross-play cell for '{a}' on {k} agents with '{b}' on mission '{mission}' "
                                    "(rule crossplay_cell makes it)")  # fmt: skip
                games[(a, b)] = run_episode_table(scores, column)
        out[(str(split), k)] = games
    return out


def alpharank_table(
    mission: str, policies: list[str], blocks: dict, alpha: float | None = None, m: int = 50,
    selection: str = "population", payoff: str = "team", confidence: float = 0.95, reps: int = 1000, seed: int = 0,
) -> pd.DataFrame:  # fmt: skip
    """One mission's α-Rank (ALPHARANK_COLUMNS), a row per split x policy: the stationary mass
    with a bootstrap CI and the rank. With `alpha` None the α comes from the sweep on the point
    estimate (alpha_source `sweep`) and every replicate uses that α."""
    from daf.stats.population import alpharank, alpharank_sweep

    rows = []
    for (split, k), games in blocks.items():
        episodes = {games[(p, p)].shape[1] for p in policies}
        if len(episodes) > 1:
            raise UserError(f"the cross-play cells of mission '{mission}' played different numbers of episodes")
        payoffs = np.array([[games[(a, b)].mean() for b in policies] for a in policies])
        if alpha is None:
            pi, used, source = *alpharank_sweep(payoffs, m, selection), "sweep"
        else:
            pi, used, source = alpharank(payoffs, alpha, m, selection), float(alpha), "config"
        resampled = _resampled_means(games, {key: key[0] for key in games}, {key: 0 for key in games}, reps,
                                     np.random.default_rng(seed))  # fmt: skip
        boot = np.empty((reps, len(policies)))
        for i in range(reps):
            replicate = np.array([[resampled[(a, b)][i] for b in policies] for a in policies])
            boot[i] = alpharank(replicate, used, m, selection)
        pi = _solver_precision(pi)
        low, high = map(_solver_precision, percentile_interval(boot, confidence, axis=0))
        for j, (policy, rank) in enumerate(zip(policies, _ranks(pi))):
            rows.append({"mission": mission, "split": split, "agents_a": k, "policy": policy, "mass": pi[j],
                         "ci_low": low[j], "ci_high": high[j], "rank": rank, "self_play": payoffs[j, j],
                         "runs": games[(policy, policy)].shape[0], "episodes": games[(policy, policy)].shape[1],
                         "alpha": used, "alpha_source": source, "population_size": m, "selection": selection,
                         "payoff": payoff})  # fmt: skip
    return pd.DataFrame(rows, columns=ALPHARANK_COLUMNS)
