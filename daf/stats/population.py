"""Ranking a population of policies: Nash averaging over policies x missions and α-Rank over a
cross-play game. Pure numpy/scipy functions of score matrices (the workflow and report use
them on DAF's tables).

Nash averaging (Balduzzi et al. 2018, "Re-evaluating evaluation"). A mean over missions
rewards a policy for every near-copy of a mission it is good at. Nash averaging instead plays
the agent-vs-task meta-game: an agent player picks a policy, a task player a mission, the
agent player wins S[policy, mission] and the task player loses it. Its optimal strategies
form polytopes (one linear program gives the game's value v); the maximum-entropy point of
each is unique. A mission's Nash weight is the task player's probability of it, a policy's
Nash-averaged skill its score against that mixture, (S q)_i. Redundancy invariance:
duplicating a mission splits its weight between the copies and leaves every skill unchanged;
duplicating a policy leaves the weights unchanged. Shifting every score by a constant shifts
every skill by it. (For an antisymmetric agent-vs-agent game the value is 0 and both players'
strategy is the same: rock-paper-scissors gives 1/3 each.)

The max-entropy point of a polytope in the simplex: the strategies some point of it plays (one
linear program each: the others are 0 everywhere in it), then entropy maximised over those
from an interior point (a convex program, SLSQP).

α-Rank (Omidshafiei et al. 2019), single population: a population of m agents is monomorphic
in one strategy; a mutant strategy r invades s and fixates with probability ρ(s→r) under a
Moran process with Fermi selection of intensity α; the Markov chain over monomorphic states
(C[s, r] = ρ(s→r) / (n - 1)) has a unique stationary distribution π: each policy's mass,
whose order is the ranking. Payoffs M[a, b] are what strategy a earns against (here: with) b.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize

from daf.errors import UserError

TOLERANCE = 1e-7  # a strategy no equilibrium plays above this (LP rounding) is not in the support


def max_entropy_point(a_ub: np.ndarray, b_ub: np.ndarray) -> np.ndarray:
    """The maximum-entropy point of the polytope {p in the simplex: a_ub p <= b_ub}."""
    n = a_ub.shape[1]
    bounds = [(0.0, 1.0)] * n
    solutions = []
    for i in range(n):  # how much of strategy i some point of the polytope plays
        objective = np.zeros(n)
        objective[i] = -1.0
        lp = optimize.linprog(objective, A_ub=a_ub, b_ub=b_ub, A_eq=np.ones((1, n)), b_eq=np.ones(1),
                              bounds=bounds, method="highs")  # fmt: skip
        if lp.status != 0:
            raise UserError(f"the equilibrium linear program failed: {lp.message}")
        solutions.append(lp.x)
    keep = np.flatnonzero([x[i] > TOLERANCE for i, x in enumerate(solutions)])
    out = np.zeros(n)
    if keep.size == 1:
        out[keep] = 1.0
        return out
    interior = np.mean(solutions, axis=0)  # positive on every kept strategy, inside the polytope
    sub = a_ub[:, keep]
    # constraints tight at that point hold with equality on the whole polytope (it is a face of
    # the region): treat them as equalities, reduced to independent rows with the sum-to-one row
    scale = max(1.0, float(np.abs(a_ub).max()))
    tight = (b_ub - a_ub @ interior) < 1e-7 * scale
    eq_rows = np.vstack([np.ones((1, keep.size)), sub[tight]])
    eq_rhs = np.concatenate([[1.0], b_ub[tight]])
    u, sigma, vt = np.linalg.svd(eq_rows, full_matrices=False)
    rank = int((sigma > 1e-10 * sigma[0]).sum())
    eq_a = vt[:rank]
    eq_b = (u[:, :rank].T @ eq_rhs) / sigma[:rank]
    loose_a, loose_b = sub[~tight], b_ub[~tight]

    def negative_entropy(q):
        q = np.clip(q, 1e-300, None)
        return float(np.sum(q * np.log(q)))

    if rank >= keep.size:  # one point: the equalities fix it
        out[keep] = np.linalg.lstsq(eq_a, eq_b, rcond=None)[0]
        out = np.clip(out, 0.0, None)
        return out / out.sum()
    constraints = [{"type": "eq", "fun": lambda q: eq_a @ q - eq_b, "jac": lambda q: eq_a}]
    if loose_a.size:
        constraints.append({"type": "ineq", "fun": lambda q: loose_b - loose_a @ q, "jac": lambda q: -loose_a})
    start = interior[keep] / interior[keep].sum()
    result = optimize.minimize(
        negative_entropy, start, jac=lambda q: np.log(np.clip(q, 1e-300, None)) + 1.0, method="SLSQP",
        bounds=[(1e-15, 1.0)] * keep.size, constraints=constraints, options={"ftol": 1e-15, "maxiter": 2000},
    )  # fmt: skip
    x = result.x
    feasible = np.abs(eq_a @ x - eq_b).max() < 1e-8 and (not loose_a.size or (loose_b - loose_a @ x).min() > -1e-8)
    if not (result.success or feasible):  # SLSQP may stop at the optimum without certifying it
        raise UserError(f"the maximum-entropy equilibrium did not converge: {result.message}")
    out[keep] = np.clip(x, 0.0, None)
    return out / out.sum()


def zero_sum_equilibrium(s: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """The maximum-entropy Nash equilibrium (p, q) and value v of the zero-sum game in which
    the row player earns s[i, j] and the column player pays it. The optimal strategies form
    polytopes ({p: s^T p >= v}, {q: s q <= v}); each player's maximum-entropy point is unique."""
    s = np.asarray(s, dtype=np.float64)
    n, m = s.shape
    # the value: maximise v subject to s^T p >= v (variables p, v)
    objective = np.zeros(n + 1)
    objective[-1] = -1.0
    lp = optimize.linprog(objective, A_ub=np.hstack([-s.T, np.ones((m, 1))]), b_ub=np.zeros(m),
                          A_eq=np.hstack([np.ones((1, n)), np.zeros((1, 1))]), b_eq=np.ones(1),
                          bounds=[(0.0, 1.0)] * n + [(None, None)], method="highs")  # fmt: skip
    if lp.status != 0:
        raise UserError(f"the game's value linear program failed: {lp.message}")
    value = float(lp.x[-1])
    slack = 1e-10 * max(1.0, float(np.abs(s).max()))  # the LP's rounding
    p = max_entropy_point(-s.T, np.full(m, -value + slack))
    q = max_entropy_point(s, np.full(n, value + slack))
    return p, q, value


def max_entropy_nash(a: np.ndarray) -> np.ndarray:
    """The maximum-entropy symmetric Nash equilibrium of an antisymmetric game (agent vs agent)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != a.shape[1] or not np.allclose(a, -a.T, atol=1e-12):
        raise UserError("max_entropy_nash needs a square antisymmetric payoff matrix")
    return zero_sum_equilibrium(a)[0]


def nash_average(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """(skill per policy, weight per mission, the game's value) of a policies x missions score
    matrix: the agent player's and the task player's maximum-entropy equilibrium strategies;
    skill_i = (scores @ weights)_i, the policy's score against the missions' Nash mixture."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 2 or min(s.shape) < 1 or not np.isfinite(s).all():
        raise UserError("nash_average needs a finite policies x missions score matrix")
    _, weights, value = zero_sum_equilibrium(s)
    return s @ weights, weights, value


def fixation_probability(payoffs: np.ndarray, s: int, r: int, m: int, alpha: float) -> float:
    """ρ(s→r): one mutant playing r fixates in a population of m playing s (Fermi selection,
    fitness against the rest of the population; Omidshafiei et al. 2019, eq. 6)."""
    total, product = 1.0, 1.0
    for k in range(1, m):  # k mutants
        fitness_r = ((k - 1) * payoffs[r, r] + (m - k) * payoffs[r, s]) / (m - 1)
        fitness_s = (k * payoffs[s, r] + (m - k - 1) * payoffs[s, s]) / (m - 1)
        product *= np.exp(-alpha * (fitness_r - fitness_s))
        total += product
    return 1.0 / total


def alpharank(payoffs: np.ndarray, alpha: float, m: int = 50) -> np.ndarray:
    """The α-Rank stationary distribution of a single-population game (payoffs[a, b]: what a
    earns against b), population size m."""
    p = np.asarray(payoffs, dtype=np.float64)
    n = p.shape[0]
    if p.shape != (n, n) or not np.isfinite(p).all():
        raise UserError("alpharank needs a finite square payoff matrix")
    if n == 1:
        return np.ones(1)
    if m < 2 or alpha <= 0:
        raise UserError(f"alpharank needs m >= 2 and alpha > 0 (got m={m}, alpha={alpha})")
    chain = np.zeros((n, n))
    for s in range(n):
        for r in range(n):
            if r != s:
                chain[s, r] = fixation_probability(p, s, r, m, alpha) / (n - 1)
        chain[s, s] = 1.0 - chain[s].sum()
    values, vectors = linalg.eig(chain.T)
    stationary = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    stationary = np.abs(stationary) / np.abs(stationary).sum()
    return stationary
