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
Two selection models: `population` (the paper's: fitness against the whole population, so
self-play counts; DAF's default, since in a game of teammates the diagonal is the point) and
`local` (fitness against the current opponent only; OpenSpiel's `compute` default).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg, optimize, special

from daf.errors import UserError

TOLERANCE = 1e-7  # a strategy no equilibrium plays above this (LP rounding) is not in the support


def max_entropy_point(a_ub: np.ndarray, b_ub: np.ndarray) -> np.ndarray:
    """The maximum-entropy point of the polytope {p in the simplex: a_ub p <= b_ub}."""
    n = a_ub.shape[1]
    bounds = [(0.0, 1.0)] * n
    solutions, played = [], np.zeros(n, dtype=bool)
    for i in range(n):  # does some point of the polytope play strategy i? (maximise it)
        if played[i]:  # an earlier point already does
            continue
        objective = np.zeros(n)
        objective[i] = -1.0
        lp = optimize.linprog(objective, A_ub=a_ub, b_ub=b_ub, A_eq=np.ones((1, n)), b_eq=np.ones(1),
                              bounds=bounds, method="highs")  # fmt: skip
        if lp.status != 0:
            raise UserError(f"the equilibrium linear program failed: {lp.message}")
        solutions.append(lp.x)
        played |= lp.x > TOLERANCE
    keep = np.flatnonzero(played)
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


SELECTIONS = ("population", "local")


def fixation_probability(payoffs: np.ndarray, s: int, r: int, m: int, alpha: float,
                         selection: str = "population") -> float:  # fmt: skip
    """ρ(s→r): one mutant playing r fixates in a population of m playing s, under Fermi
    selection of intensity α. `population` (Omidshafiei et al. 2019, eq. 6): an agent's fitness
    is its mean payoff against the other m - 1 agents, self-play included. `local` (OpenSpiel's
    default): fitness against the current opponent only, u = α (M[r, s] - M[s, r]), ρ =
    (1 - e^-u) / (1 - e^-mu); it ignores the diagonal. Computed so that a large α underflows to
    0 instead of overflowing."""
    if selection == "local":
        u = alpha * (payoffs[r, s] - payoffs[s, r])
        if abs(u) < 1e-14:
            return 1.0 / m
        if u > 0:
            return float(np.expm1(-u) / np.expm1(-m * u))
        # u < 0: the same ratio times e^{mu} / e^{mu}, so nothing overflows
        return float(np.exp((m - 1) * u) * np.expm1(u) / np.expm1(m * u))
    k = np.arange(1, m)  # k mutants
    fitness_r = ((k - 1) * payoffs[r, r] + (m - k) * payoffs[r, s]) / (m - 1)
    fitness_s = (k * payoffs[s, r] + (m - k - 1) * payoffs[s, s]) / (m - 1)
    exponents = np.concatenate([[0.0], np.cumsum(-alpha * (fitness_r - fitness_s))])
    return float(np.exp(-special.logsumexp(exponents)))


def transition_matrix(payoffs: np.ndarray, alpha: float, m: int, selection: str = "population") -> np.ndarray:
    """The Markov chain over monomorphic populations: C[s, r] = ρ(s→r) / (n - 1) off the diagonal."""
    n = payoffs.shape[0]
    chain = np.zeros((n, n))
    for s in range(n):
        for r in range(n):
            if r != s:
                chain[s, r] = fixation_probability(payoffs, s, r, m, alpha, selection) / (n - 1)
        chain[s, s] = 1.0 - chain[s].sum()
    return chain


def stationary_distribution(chain: np.ndarray) -> np.ndarray:
    """The chain's unique stationary distribution; a UserError when it has several (a reducible
    chain: some fixation probabilities underflowed to 0 because α is too large for the payoffs)."""
    values, vectors = linalg.eig(chain.T)
    ones = np.flatnonzero(np.abs(values - 1.0) < 1e-10)  # OpenSpiel's test for a stationary eigenvalue
    if ones.size != 1:
        raise UserError(f"the α-Rank chain has {ones.size} stationary distributions, not one: α is too large "
                        "for these payoffs (use a smaller alpha, or the α sweep)")  # fmt: skip
    stationary = np.real(vectors[:, ones[0]])
    return np.abs(stationary) / np.abs(stationary).sum()


def check_payoffs(payoffs) -> np.ndarray:
    p = np.asarray(payoffs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != p.shape[1] or p.shape[0] < 1 or not np.isfinite(p).all():
        raise UserError("alpharank needs a finite square payoff matrix")
    return p


def alpharank(payoffs: np.ndarray, alpha: float, m: int = 50, selection: str = "population") -> np.ndarray:
    """The α-Rank stationary distribution of a single-population game (payoffs[a, b]: what a
    earns against b), population size m, selection model `population` or `local`."""
    p = check_payoffs(payoffs)
    if m < 2 or not alpha > 0:
        raise UserError(f"alpharank needs m >= 2 and alpha > 0 (got m={m}, alpha={alpha})")
    if selection not in SELECTIONS:
        raise UserError(f"unknown α-Rank selection model '{selection}'; valid models: {', '.join(SELECTIONS)}")
    if p.shape[0] == 1:
        return np.ones(1)
    return stationary_distribution(transition_matrix(p, alpha, m, selection))


def alpharank_sweep(
    payoffs: np.ndarray, m: int = 50, selection: str = "population", start: float = 1e-4, rtol: float = 1e-5,
    atol: float = 1e-8, max_steps: int = 200,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """(π, α): OpenSpiel's sweep for a large α (`alpharank.sweep_pi_vs_alpha`). α starts at
    `start` and doubles until π stops changing (np.allclose with rtol, atol); if the chain
    stops being irreducible before that, the step backs off and shrinks (factor (f + 1) / 2).
    The ranking at that α is the one α-Rank reports: selection strong enough that it no
    longer moves."""
    p = check_payoffs(payoffs)
    if p.shape[0] == 1:
        return np.ones(1), start
    alpha, factor, history = start, 2.0, []
    for _ in range(max_steps):
        try:
            pi = alpharank(p, alpha, m, selection)
        except UserError:
            if len(history) < 2:
                raise UserError(f"the α-Rank sweep found no α from {start:g} at which the chain has one "
                                "stationary distribution") from None  # fmt: skip
            if np.allclose(history[-1][0], history[-2][0], rtol, atol):
                return history[-1]
            alpha = alpha / factor  # the step overshot: go back and take a smaller one
            factor = (factor + 1.0) / 2.0
            alpha *= factor
            continue
        history.append((pi, alpha))
        if len(history) > 1 and np.allclose(pi, history[-2][0], rtol, atol):
            return pi, alpha
        alpha *= factor
    raise UserError(f"the α-Rank sweep did not converge in {max_steps} steps (last α {alpha:g})")
