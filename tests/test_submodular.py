"""Tests for kpod_lite.submodular: F and G (Eq. 12), Lemma 1-2 (App. D), FTGP on Eq. 13."""

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpod_lite.submodular import (
    brute_force,
    ftgp,
    greedy,
    guarantee,
    is_feasible,
    marginal_gain,
    normalised_value,
    threshold_greedy,
    value,
)

BETAS = st.sampled_from([0.0, 0.5, 3.0, 12.0])


@st.composite
def instances(draw, max_n=10, zero_costs=True):
    """(costs, clusters, budget, beta): costs in [0, 10] (some exactly 0), arbitrary labels."""
    n = draw(st.integers(1, max_n))
    cost = st.floats(0, 10, allow_nan=False)
    if zero_costs:
        cost = st.one_of(cost, st.just(0.0))
    costs = draw(st.lists(cost, min_size=n, max_size=n))
    clusters = draw(st.lists(st.integers(-3, 4), min_size=n, max_size=n))
    budget = draw(st.floats(0, 1.2 * sum(costs) + 1, allow_nan=False))
    return costs, clusters, budget, draw(BETAS)


def g_value(S, inst):
    costs, clusters, budget, beta = inst
    return normalised_value(S, costs, clusters, budget, beta)


# --- Eq. 12 ---------------------------------------------------------------------------------


def test_value_by_hand_eq12():
    costs, clusters, budget = [2.0, 3.0, 4.0], [0, 0, 1], 10.0
    # S = {0, 1, 2}: ΔH = 9, clusters {0: 2, 1: 1}: F = -(10 - 9) + 12 (sqrt 2 + 1)
    assert value([0, 1, 2], costs, clusters, budget) == pytest.approx(-1 + 12 * (math.sqrt(2) + 1))
    assert value([], costs, clusters, budget) == -10.0  # F(∅) = -ΔD < 0: why G exists
    assert normalised_value([], costs, clusters, budget) == 0.0
    assert value([1], costs, clusters, budget, beta=0) == -7.0


@given(instances(), st.data())
def test_g_is_f_plus_budget_and_gain_is_o1_formula(inst, data):
    costs, clusters, budget, beta = inst
    S = data.draw(st.sets(st.integers(0, len(costs) - 1)))
    assert normalised_value(S, *inst) == pytest.approx(value(S, *inst) + budget)
    x = data.draw(st.integers(0, len(costs) - 1))
    expected = value(S | {x}, *inst) - value(S, *inst)
    assert marginal_gain(x, S, costs, clusters, beta) == pytest.approx(expected, abs=1e-9)


@given(instances(), st.data())
def test_lemma1_monotone(inst, data):
    """App. D, Lemma 1: A ⊆ B implies F(A) <= F(B)."""
    n = len(inst[0])
    B = data.draw(st.sets(st.integers(0, n - 1)))
    A = data.draw(st.sets(st.sampled_from(sorted(B)))) if B else set()
    assert value(A, *inst) <= value(B, *inst) + 1e-9


@given(instances(), st.data())
def test_lemma2_submodular(inst, data):
    """App. D, Lemma 2: F(A + x) - F(A) >= F(B + x) - F(B) for A ⊆ B, x ∉ B."""
    n = len(inst[0])
    B = data.draw(st.sets(st.integers(0, n - 1), max_size=n - 1))
    A = data.draw(st.sets(st.sampled_from(sorted(B)))) if B else set()
    x = data.draw(st.sampled_from([i for i in range(n) if i not in B]))
    gain_A = value(A | {x}, *inst) - value(A, *inst)
    gain_B = value(B | {x}, *inst) - value(B, *inst)
    assert gain_A >= gain_B - 1e-9


# --- the solvers on Eq. 13 ------------------------------------------------------------------


def exhaustive(inst):
    """max G over feasible subsets, by itertools (independent of brute_force's bit tricks)."""
    costs, clusters, budget, beta = inst
    n = len(costs)
    return max(
        g_value(S, inst)
        for r in range(n + 1)
        for S in itertools.combinations(range(n), r)
        if is_feasible(S, costs, budget)
    )


@settings(max_examples=60)
@given(instances(max_n=8))
def test_brute_force_is_optimal(inst):
    S = brute_force(*inst)
    assert is_feasible(S, inst[0], inst[2])
    assert g_value(S, inst) == pytest.approx(exhaustive(inst))


@settings(max_examples=150)
@given(instances(max_n=12), st.sampled_from([0.05, 0.1, 0.3]))
def test_ftgp_guarantee_against_brute_force(inst, eps):
    """Prop. 3.1 / App. D, Theorem D.1, for G = F + ΔD: G(FTGP) >= (1/2 - eps) G(OPT)."""
    S = ftgp(*inst, eps=eps)
    opt = g_value(brute_force(*inst), inst)
    assert is_feasible(S, inst[0], inst[2])
    assert g_value(S, inst) >= guarantee(eps) * opt - 1e-9
    assert g_value(S, inst) >= (0.5 - eps) * opt - 1e-9
    assert g_value(S, inst) <= opt + 1e-9


@settings(max_examples=100)
@given(instances(max_n=12))
def test_greedy_reference_classic_bound(inst):
    """Density greedy + best singleton: (1 - 1/e)/2 of OPT (the classic knapsack bound)."""
    S = greedy(*inst)
    assert is_feasible(S, inst[0], inst[2])
    assert g_value(S, inst) >= (1 - 1 / math.e) / 2 * g_value(brute_force(*inst), inst) - 1e-9


@settings(max_examples=60)
@given(instances(max_n=200))
def test_ftgp_feasible_maximal_and_beats_its_greedy_phase(inst):
    """Eq. 13's constraint always holds; nothing left out still fits; augmenting never hurts."""
    costs, clusters, budget, beta = inst
    S = ftgp(*inst)
    assert S == sorted(set(S))
    assert is_feasible(S, costs, budget)
    room = budget - math.fsum(costs[i] for i in S)
    assert all(costs[i] > room for i in set(range(len(costs))) - set(S))
    assert g_value(S, inst) >= g_value(threshold_greedy(*inst), inst) - 1e-9


def test_ftgp_on_a_big_instance_fills_the_budget():
    rng = np.random.default_rng(0)
    costs = rng.gamma(2.0, 1.0, 50_000)
    clusters = rng.integers(0, 5, costs.size)
    budget = 0.3 * costs.sum()
    S = ftgp(costs, clusters, budget)
    assert is_feasible(S, costs, budget)
    assert costs[S].sum() > budget - costs.min() - 1e-6  # maximal, so the leftover is tiny
    assert len(np.unique(clusters[S])) == 5


def test_augmentation_rescues_the_density_trap():
    """Why step 4 exists (App. D needs it): density greedy alone can be arbitrarily bad."""
    costs, clusters, budget = [1.0, 100.0], [0, 1], 100.0
    trapped = threshold_greedy(costs, clusters, budget, beta=1.0)
    assert trapped == [0]  # density 2 beats 1.01, then the big one no longer fits
    assert normalised_value(trapped, costs, clusters, budget, beta=1.0) == 2.0
    assert ftgp(costs, clusters, budget, beta=1.0) == [1]  # G = 101, the optimum
    assert greedy(costs, clusters, budget, beta=1.0) == [1]  # its best singleton saves it


def test_packing_repair_finds_the_optimum_density_order_misses():
    # The cheapest question has the best density but blocks the optimal packing 2.67+9.81+7.23.
    costs, clusters, budget = [1.36, 2.67, 9.81, 0.0, 7.23], [1, 1, -1, 2, 3], 20.97
    opt = brute_force(costs, clusters, budget, beta=1.0)
    assert ftgp(costs, clusters, budget, beta=1.0) == opt == [1, 2, 3, 4]


# --- edge cases -----------------------------------------------------------------------------


@pytest.mark.parametrize("solver", [ftgp, greedy, brute_force, threshold_greedy])
def test_negative_budget_selects_nothing(solver):
    assert solver([1.0, 0.0, 2.0], [0, 1, 2], -0.5) == []


@pytest.mark.parametrize("solver", [ftgp, greedy, brute_force])
def test_zero_budget_takes_only_the_free_questions(solver):
    # ΔD = 0: ΔH(S) <= 0 still admits zero-cost questions, and they raise the diversity term.
    assert solver([1.0, 0.0, 2.0, 0.0], [0, 1, 2, 1], 0.0) == [1, 3]


@pytest.mark.parametrize("beta", [0.0, 12.0])
@pytest.mark.parametrize("solver", [ftgp, greedy, brute_force])
def test_everything_fits_selects_all(solver, beta):
    costs = [1.0, 2.0, 0.0, 3.5]
    assert solver(costs, [0, 0, 1, 1], sum(costs), beta=beta) == [0, 1, 2, 3]
    assert solver([0.1, 0.2], [0, 0], 0.3, beta=beta) == [0, 1]  # 0.1 + 0.2 > 0.3 in floats


def test_heavy_questions_are_never_selected():
    costs = [5.0, 50.0, 1.0, 70.0]
    for solver in (ftgp, greedy, brute_force):
        S = solver(costs, [0, 1, 2, 3], 10.0)
        assert 1 not in S and 3 not in S and S == [0, 2]


def test_labels_need_not_be_0_to_k():
    rng = np.random.default_rng(1)
    costs = rng.uniform(0, 5, 40)
    labels = rng.integers(0, 4, 40)
    weird = np.array([7, 42, -1, 1000])[labels]
    assert ftgp(costs, weird, 30.0) == ftgp(costs, labels, 30.0)
    assert value([0, 1], costs, weird, 30.0) == value([0, 1], costs, labels, 30.0)


def test_one_question_and_no_question():
    assert ftgp([3.0], [0], 5.0) == [0]
    assert ftgp([3.0], [0], 2.0) == []
    assert ftgp([], [], 5.0) == []
    assert brute_force([], [], 5.0) == []


def test_beta_zero_is_subset_sum():
    """KPOD-w.o.-div: with β = 0, F only rewards filling ΔD."""
    costs = [6.0, 5.0, 5.0]
    assert ftgp(costs, [0, 0, 0], 10.0, beta=0.0) == [1, 2]
    assert value([1, 2], costs, [0, 0, 0], 10.0, beta=0.0) == 0.0


def test_diversity_prefers_a_new_cluster():
    # Equal costs, room for two: β > 0 takes one per cluster instead of two from cluster 0.
    S = ftgp([1.0, 1.0, 1.0], [0, 0, 1], 2.0, beta=12.0)
    assert sorted(np.array([0, 0, 1])[S].tolist()) == [0, 1]


@pytest.mark.parametrize(
    "costs, clusters, budget, beta, eps",
    [
        ([1.0, -0.5], [0, 0], 1.0, 12.0, 0.1),  # negative cost
        ([1.0, float("nan")], [0, 0], 1.0, 12.0, 0.1),
        ([1.0, float("inf")], [0, 0], 1.0, 12.0, 0.1),
        ([1.0, 2.0], [0, 0], float("nan"), 12.0, 0.1),
        ([1.0, 2.0], [0, 0], 1.0, -1.0, 0.1),  # β < 0 breaks Lemma 1
        ([1.0, 2.0], [0], 1.0, 12.0, 0.1),  # one label short
        ([1.0, 2.0], [0, 0.5], 1.0, 12.0, 0.1),  # not an integer label
        ([1.0, 2.0], ["a", "b"], 1.0, 12.0, 0.1),
        ([1.0, 2.0], [0, 1], 1.0, 12.0, 0.0),  # ε must be > 0
        ([[1.0, 2.0]], [[0, 1]], 1.0, 12.0, 0.1),  # not 1-D
    ],
)
def test_bad_input_raises_value_error(costs, clusters, budget, beta, eps):
    with pytest.raises(ValueError):
        ftgp(costs, clusters, budget, beta=beta, eps=eps)


def test_bad_sets_and_sizes_raise():
    with pytest.raises(ValueError):
        value([0, 0], [1.0, 2.0], [0, 1], 3.0)  # not a set
    with pytest.raises(ValueError):
        value([5], [1.0, 2.0], [0, 1], 3.0)
    with pytest.raises(ValueError):
        brute_force([1.0] * 21, [0] * 21, 3.0)
    with pytest.raises(ValueError):
        value([0], [-1.0], [0], 3.0)


def test_guarantee_is_at_least_half_minus_eps():
    for eps in (0.01, 0.1, 0.3, 0.49):
        assert 0.5 - eps < guarantee(eps) < 0.5
