"""Population rankings with known answers: Nash averaging (hand-solved games, redundancy
invariance on random matrices) and α-Rank (OpenSpiel's Han et al. 2013 case), and OpenSpiel as the oracle
on random games (its alpharank and alpha sweep; its cvxpy-based nash_averaging)."""

import warnings

import numpy as np
import pytest

from daf.errors import UserError
from daf.stats.population import alpharank, alpharank_sweep, max_entropy_nash, nash_average, zero_sum_equilibrium

RPS = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])


def test_rock_paper_scissors_is_uniform_with_value_zero():
    assert max_entropy_nash(RPS) == pytest.approx([1 / 3] * 3, abs=1e-9)
    skills, weights, value = nash_average(RPS)
    assert weights == pytest.approx([1 / 3] * 3, abs=1e-9) and skills == pytest.approx([0, 0, 0], abs=1e-9)
    assert value == pytest.approx(0, abs=1e-12)


def test_a_hand_solved_agent_vs_task_game():
    """Rows 1-2 mixed 3:4 guarantee 0.6 on both missions; missions mixed 1:1 hold every policy
    to at most 0.6; the third policy's 0.5 is below the value."""
    scores = np.array([[1.0, 0.2], [0.3, 0.9], [0.5, 0.5]])
    p, q, value = zero_sum_equilibrium(scores)
    assert value == pytest.approx(0.6) and p == pytest.approx([3 / 7, 4 / 7, 0]) and q == pytest.approx([0.5, 0.5])
    skills, weights, _ = nash_average(scores)
    assert skills == pytest.approx([0.6, 0.6, 0.5]) and weights == pytest.approx([0.5, 0.5])
    shifted = nash_average(scores + 3.0)  # a constant shift shifts every skill, nothing else
    assert shifted[0] == pytest.approx(skills + 3.0) and shifted[1] == pytest.approx(weights)


def test_an_easy_mission_gets_no_weight_and_copies_do_not_reweight():
    """The mean favours the policy good at a mission copied three times; Nash averaging does not."""
    scores = np.array([[1.0, 0.0], [0.0, 1.0]])
    easy = np.column_stack([scores, [5.0, 5.0]])
    assert nash_average(easy)[1] == pytest.approx([0.5, 0.5, 0.0], abs=1e-9)
    copies = np.column_stack([scores, scores[:, [0, 0]]])  # mission 0 three times
    assert copies.mean(axis=1) == pytest.approx([0.75, 0.25])  # the mean ranks policy 0 first
    skills, weights, _ = nash_average(copies)
    assert skills == pytest.approx([0.5, 0.5], abs=1e-9)  # Nash averaging: a tie, as without copies
    assert weights == pytest.approx([1 / 6, 1 / 2, 1 / 6, 1 / 6], abs=1e-9)  # the copies split mission 0's half


@pytest.mark.parametrize("seed", range(40))
def test_redundancy_invariance_on_random_matrices(seed):
    rng = np.random.default_rng(1000 + seed)
    scores = rng.normal(size=(rng.integers(2, 7), rng.integers(2, 8)))
    skills, weights, value = nash_average(scores)
    dup_missions = nash_average(np.column_stack([scores, scores[:, [0, 0]]]))
    assert dup_missions[0] == pytest.approx(skills, abs=1e-8)
    split = dup_missions[1]
    assert [split[0], split[-2], split[-1]] == pytest.approx([weights[0] / 3] * 3, abs=1e-7)
    assert split[1:-2] == pytest.approx(weights[1:], abs=1e-7)
    dup_policy = nash_average(np.vstack([scores, scores[[0]]]))
    assert dup_policy[0][:-1] == pytest.approx(skills, abs=1e-8) and dup_policy[1] == pytest.approx(weights, abs=1e-7)
    assert skills.max() == pytest.approx(value, abs=1e-8)  # the best policies reach the game's value


def test_alpharank_matches_openspiels_known_answer():
    """OpenSpiel's alpharank_test: Han et al. 2013 payoffs, m = 20, alpha = 0.1."""
    r, t, p, s, delta, eps = 1.0, 2.0, 0.0, -1.0, 4.0, 0.25
    payoffs = np.array([
        [r - eps / 2, r - eps, 0, s + delta - eps, r - eps], [r, r, s, s, s], [0, t, p, p, p],
        [t - delta, t, p, p, p], [r, t, p, p, p],
    ])  # fmt: skip
    expected = [0.40966787, 0.07959841, 0.20506998, 0.08505983, 0.2206039]
    assert alpharank(payoffs, alpha=0.1, m=20) == pytest.approx(expected, abs=1e-8)


def test_alpharank_symmetry_and_dominance():
    assert alpharank(RPS, alpha=1.0, m=20) == pytest.approx([1 / 3] * 3)  # a cycle: uniform
    dominant = np.array([[2.0, 2.0, 2.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    masses = [alpharank(dominant, alpha=a, m=20)[0] for a in (0.1, 1.0, 10.0)]
    assert masses[0] < masses[1] < masses[2] and masses[2] > 0.999  # stronger selection: the best wins
    assert alpharank(np.array([[3.0]]), alpha=1.0) == pytest.approx([1.0])


def test_bad_input_is_one_line():
    with pytest.raises(UserError, match="antisymmetric"):
        max_entropy_nash(np.array([[0.0, 1.0], [1.0, 0.0]]))
    with pytest.raises(UserError, match="finite policies x missions"):
        nash_average(np.array([[np.nan]]))
    with pytest.raises(UserError, match="m >= 2 and alpha > 0"):
        alpharank(RPS, alpha=0.0)


# --- OpenSpiel as the oracle (a test-only dependency) ----------------------------------------


def _random_game(rng):
    n = int(rng.integers(2, 6))
    return rng.normal(size=(n, n)) * rng.choice([0.5, 1.0, 5.0])


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("selection", ["population", "local"])
def test_alpharank_agrees_with_openspiel_on_random_games(seed, selection):
    """Both selection models: OpenSpiel's `compute` with use_local_selection_model False
    (fitness against the population, the paper's model and DAF's default) and True (its default)."""
    from open_spiel.python.egt import alpharank as openspiel

    rng = np.random.default_rng(2000 + seed)
    payoffs = _random_game(rng)
    alpha, m = float(rng.choice([0.01, 0.3, 1.0, 3.0])), int(rng.choice([2, 5, 20, 50]))
    _, _, expected, _, _ = openspiel.compute([payoffs], m=m, alpha=alpha,
                                             use_local_selection_model=selection == "local")  # fmt: skip
    assert alpharank(payoffs, alpha, m, selection) == pytest.approx(expected, rel=1e-6, abs=1e-8)  # log-space sums


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("selection", ["population", "local"])
def test_the_alpha_sweep_agrees_with_openspiel(seed, selection, monkeypatch):
    """OpenSpiel's sweep_pi_vs_alpha calls `compute` with its default (local) model; for the
    population model the same sweep runs with that model passed to `compute`."""
    import functools

    from open_spiel.python.egt import alpharank as openspiel

    rng = np.random.default_rng(3000 + seed)
    payoffs = _random_game(rng)
    monkeypatch.setattr(openspiel, "compute", functools.partial(
        openspiel.compute, use_local_selection_model=selection == "local"))  # fmt: skip
    pi, alpha = alpharank_sweep(payoffs, selection=selection)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        expected_pi, expected_alpha = openspiel.sweep_pi_vs_alpha([payoffs], return_alpha=True)
    # both sweeps stop once π moves less than rtol 1e-5 per step, so π is defined to that tolerance;
    # where a sweep stops at the α beyond which the chain turns reducible, π is ill-conditioned there:
    # seed 0 (population) ends at α 5.97840 in both, with 4.2e-6 left on one strategy in DAF and
    # 8.4e-7 in OpenSpiel on one CPU (AMD EPYC, 2026-12-07) and within 1e-6 on another
    assert pi == pytest.approx(expected_pi, abs=1e-5)
    if not any("overflow" in str(w.message) for w in caught):
        # (where OpenSpiel's products overflow - to NaN in its local model - at a smaller α than
        # DAF's log-space sums, its sweep backs off earlier and ends at another α of the same
        # converged ranking: only π is compared)
        # where an α's chain is reducible in one implementation and not yet in the other (log-space
        # sums), the back-off steps differ in the last digits
        assert alpha == pytest.approx(expected_alpha, rel=1e-5)


def test_the_local_model_ignores_self_play():
    """Only M[r, s] - M[s, r] moves the local model: a symmetric game (a team payoff) is neutral
    whatever the diagonal, while the population model follows the better self-play."""
    team = np.array([[9.0, 2.0], [2.0, 1.0]])
    assert alpharank(team, alpha=5.0, m=20, selection="local") == pytest.approx([0.5, 0.5])
    assert alpharank(team, alpha=5.0, m=20)[0] > 0.99
    with pytest.raises(UserError, match="unknown α-Rank selection model 'global'; valid models: population, local"):
        alpharank(team, alpha=1.0, selection="global")


def test_a_reducible_chain_is_refused_in_one_line():
    """Two strictly dominant self-play states and a huge α: fixation between them underflows to
    0, the chain has two stationary distributions (OpenSpiel raises as well)."""
    payoffs = np.array([[10.0, 0.0], [0.0, 10.0]])
    with pytest.raises(UserError) as caught:
        alpharank(payoffs, alpha=1e4, m=50)
    assert "2 stationary distributions" in str(caught.value) and "\n" not in str(caught.value)


def _openspiel_nash(scores):
    from open_spiel.python.algorithms import nash_averaging

    (agents, tasks), (skills, _) = nash_averaging.nash_averaging_avt_matrix(scores)
    return agents.ravel(), tasks.ravel(), skills.ravel()


@pytest.mark.parametrize("seed", range(12))
def test_nash_averaging_agrees_with_openspiel_on_random_matrices(seed):
    """OpenSpiel (cvxpy, max entropy over both players at once) on a min-max scaled matrix: the
    same agent mixture, task weights and skills. Every other case adds a copy of a mission and
    of a policy, where the maximum-entropy choice among equilibria matters."""
    rng = np.random.default_rng(4000 + seed)
    scores = rng.random(size=(int(rng.integers(2, 6)), int(rng.integers(2, 6))))
    if seed % 2:
        scores = np.vstack([np.column_stack([scores, scores[:, [0]]]), np.column_stack([scores, scores[:, [0]]])[[0]]])
    scaled = (scores - scores.min(axis=0)) / (scores.max(axis=0) - scores.min(axis=0))
    agents, tasks, skills = _openspiel_nash(scores)
    p, q, _ = zero_sum_equilibrium(scaled)
    # cvxpy's interior point stops ~1e-5 from the optimum (it splits a copied policy 0.18978 :
    # 0.18973 where symmetry demands equal shares; DAF's split is equal to 1e-9)
    assert p == pytest.approx(agents, abs=1e-4) and q == pytest.approx(tasks, abs=1e-4)
    assert nash_average(scaled)[0] == pytest.approx(skills, abs=1e-4)
    if seed % 2:
        assert p[-1] == pytest.approx(p[0], abs=1e-9) and q[-1] == pytest.approx(q[0], abs=1e-9)
