r"""Selecting the questions that get harder: the value function F and FTGP (Eq. 12-13, App. D).

When the schedule moves from stage t-1 to stage t, every question i that still has input steps
(c_i > 0) may give up Δs of them (Eq. 11). Doing so raises its difficulty h_i (Eq. 9) by a
known amount, its *cost* w_i >= 0. The stage may spend at most ΔD(t) in total, and KPOD picks
the set S of questions with

    F(S) = -(ΔD - ΔH(S)) + β Σ_k sqrt(|C_k ∩ S|),     ΔH(S) = Σ_{i∈S} w_i,         (Eq. 12)
    max_S F(S)   subject to   ΔH(S) <= ΔD,                                          (Eq. 13)

where C_k are the K-means clusters of the questions. The first term rewards filling the
budget, the second spreads the selection over the clusters: sqrt grows fast at first and slowly
later, so the second question taken from a cluster is worth less than the first of another.

Why the normalised value G
--------------------------
App. D proves F monotone (Lemma 1) and submodular (Lemma 2) and then invokes FTGP's
"F(Ŝ) >= (1/2 - ε) F(S*)". But F(∅) = -ΔD < 0, and a multiplicative guarantee about a
function that can be negative says nothing (a solution with F = -100 is "1/2 of" nothing).
We therefore optimise

    G(S) = F(S) + ΔD = ΔH(S) + β Σ_k sqrt(|C_k ∩ S|),

which differs from F by a constant: the same maximiser and the same marginal gains, but
G(∅) = 0 and G >= 0, so a ratio G(Ŝ) >= α G(S*) means what it says. Our guarantee is about G.
For F it reads F(Ŝ) >= α F(S*) - (1 - α) ΔD.

The marginal gain of question x, in cluster k(x), on top of a set S holding m questions of that
cluster is

    G(x | S) = w_x + β (sqrt(m + 1) - sqrt(m)) = w_x + β / (sqrt(m + 1) + sqrt(m)),

which is O(1) to evaluate with one counter per cluster; every solver below uses it. Its
*density* (gain per unit cost) is G(x | S) / w_x = 1 + β δ(m) / w_x >= 1.

What `ftgp` implements, and what it guarantees
----------------------------------------------
FTGP (Li, Feldman, Kazemi and Karbasi, NeurIPS 2022) gets (1/2 - ε) for a monotone submodular
function under one knapsack constraint with O(n ε^{-1} log ε^{-1}) value queries. `ftgp` below
is not a transcription of their pseudo-code: it is our own algorithm of the same family
(decreasing density thresholds, then greedy solutions augmented by one question), written for
this F and vectorised with numpy:

1. *Free questions.* Every zero-cost question is taken: it uses no budget and, G being
   monotone (Lemma 1), never lowers the value. Questions heavier than ΔD are dropped.
2. *Threshold greedy.* Since every density is 1 + β δ(m)/w, we put the thresholds on the
   *excess* density θ = β δ(m)/w: θ starts at the largest excess and shrinks by a factor
   (1 - ε) per pass (jumping straight down to the largest excess left when that is lower). In
   a pass, every question whose excess clears θ and which still fits is added. The questions
   that clear θ in a cluster are its cheapest ones, so each cluster is scanned in increasing
   cost and a pass adds a prefix of it: vectorised, with no per-question Python loop. Passes
   go on until nothing fits. (Thresholds on the density itself would be coarse here: on a
   large stage every density is within a few percent of 1, and one (1 - ε) step would jump
   over all of them.)
3. *Fill (β = 0 only).* Then every density is exactly 1, so every order is a threshold order;
   we use first-fit decreasing, which packs the budget tightly.
4. *Augment.* Let G_0 ⊂ G_1 ⊂ ... be the prefixes of the greedy order (after the free
   questions). For each question x, let I_x be the last prefix on which x still fits; the
   candidate G_{I_x} + x is scored in O(1) (all of them together are one vectorised pass).
   The best few candidates are topped up with whatever still fits (G is monotone, so this can
   only help) and compared with the full greedy set.
5. *Swap polish (ours, a heuristic).* Up to 8 improving swaps "one selected question out, the
   costliest unselected one that then fits in", each topped up. Only improvements are kept,
   so the guarantee below stands; it repairs the packing losses of density orders on small
   instances (a cheap question that blocks a big one).

Guarantee: G(ftgp) >= (1 - ε)/(2 - ε) · G(OPT) >= (1/2 - ε/2) · G(OPT), so the (1/2 - ε) of
Proposition 3.1 holds with room to spare. The argument (the "greedy + max" one of Yaroslavtsev,
Zhou and Avdiukhin, AISTATS 2020, carried over to thresholds):

  Let o be the costliest question of OPT and O' = OPT - {o}, so w(O') <= ΔD - w_o.
  Invariant of the thresholds: when a question is added at excess threshold θ, i.e. at
  density threshold τ = 1 + θ, every question that still fits has excess < θ / (1 - ε) (it
  was checked at the previous threshold, or θ was set to the largest excess; gains only shrink
  and fitting only gets harder), so density < 1 + θ/(1 - ε) <= τ / (1 - ε). With β = 0,
  τ = 1 and every density is 1 <= τ / (1 - ε).
  (a) If o still fits the final greedy set, so does every question of OPT (they cost <= w_o);
      but at the end nothing fits any more, so OPT ⊆ greedy set and
      G(greedy) >= G(OPT).
  (b) Otherwise let i = I_o: o fits G_i but not G_{i+1}, so w(G_{i+1}) > ΔD - w_o. Say g_{i+1}
      was added at threshold τ. Every member of O' fits G_i, so by the invariant
      G(O' | G_i) <= Σ_{x∈O'} G(x | G_i) < τ w(O') / (1 - ε) <= τ (ΔD - w_o) / (1 - ε);
      and every question of G_{i+1} was added at a threshold >= τ, so
      G(G_{i+1}) >= τ w(G_{i+1}) > τ (ΔD - w_o). With submodularity,
      G(OPT) <= G(G_i + o) + G(O' | G_i) <= G(G_i + o) + G(G_{i+1}) / (1 - ε),
      and both G_i + o and G_{i+1} are <= the returned value: G_{i+1} lies inside the greedy
      set; G_i + o is a step-4 candidate (the best-scored one, which is tried, is at least as
      good), or o ∈ G_{i+1} and it lies inside the greedy set too.
      Hence G(OPT) <= (1 + 1/(1 - ε)) G(ftgp).

Cost: O(n log n) sorting; threshold passes of O(K) vectorised steps each, at most
1 + ln(θ_max / θ_min) / (-ln(1 - ε)) of them with θ_max <= β / w_min and
θ_min >= β δ(n) / w_max ≈ β / (2 sqrt(n) w_max) (w_min, w_max: the extreme positive costs);
a fill of O(log(ΔD / w_min)) vectorised runs; O(n) per augmentation candidate and swap round.
This is not Li et al.'s O(n ε^{-1} log ε^{-1}) query bound (their number of passes does not
depend on the costs, ours grows with the logarithm of their spread and of n), but n = 10^6
questions take a second or two (benchmarks/bench_schedule.py).

References kept here for teaching: `greedy` (density greedy + best singleton; the classic
guarantee is (1 - 1/e)/2 ≈ 0.316, about 0.405 with the sharper analysis of Feldman, Nutov and
Shoham, and no better than about 0.43 in the worst case, Kulik, Schwartz and Shachnai) and
`brute_force` (exact, n <= 20).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = [
    "value",
    "normalised_value",
    "marginal_gain",
    "is_feasible",
    "ftgp",
    "threshold_greedy",
    "greedy",
    "brute_force",
    "guarantee",
]

# Budgets are compared with a tiny relative slack, so that float sums such as
# 0.1 + 0.2 <= 0.3 count as "fits" (the same rule in every solver and in `is_feasible`).
_RELATIVE_SLACK = 1e-9
# How many of the best augmentation candidates (step 4) are topped up and compared.
AUGMENT_TOP = 8


# --- the value function (Eq. 12) ------------------------------------------------------------


def _check_inputs(costs, clusters, budget, beta) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Validated float costs, labels renumbered 0..K-1, budget and beta; ValueError otherwise."""
    w = np.asarray(costs, dtype=float)
    if w.ndim != 1:
        raise ValueError(f"costs must be a 1-D sequence, got shape {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError("costs must be finite numbers (found NaN or inf)")
    if np.any(w < 0):
        raise ValueError(
            "costs must be >= 0: a cost is a difficulty increase (Eq. 9 with d_j >= 0, Eq. 8), "
            f"got min {w.min()}"
        )
    raw = np.asarray(clusters)
    if raw.shape != w.shape:
        raise ValueError(f"clusters must have one label per cost: {raw.shape} vs {w.shape}")
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        try:
            as_float = raw.astype(float)
        except (TypeError, ValueError):
            raise ValueError(f"clusters must be integer labels, got dtype {raw.dtype}") from None
        if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
            raise ValueError("clusters must be integer labels")
        raw = as_float.astype(np.int64)
    # Labels may be any integers (7, 42, -1): only "same cluster or not" matters in Eq. 12.
    labels = np.unique(raw, return_inverse=True)[1].astype(np.int64) if raw.size else raw.astype(np.int64)
    budget = float(budget)
    if not math.isfinite(budget):
        raise ValueError(f"budget ΔD must be a finite number, got {budget}")
    beta = float(beta)
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"beta must be a finite number >= 0 (Eq. 12), got {beta}")
    return w, labels, budget, beta


def _as_index_array(selected: Iterable[int], n: int) -> np.ndarray:
    idx = np.asarray(list(selected), dtype=np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"selected indices must lie in 0..{n - 1}")
    if np.unique(idx).size != idx.size:
        raise ValueError("selected indices must be distinct (S is a set)")
    return idx


def _diversity(idx: np.ndarray, labels: np.ndarray) -> float:
    """Σ_k sqrt(|C_k ∩ S|), the second term of Eq. 12."""
    counts = np.bincount(labels[idx]) if idx.size else np.zeros(0)
    return float(np.sqrt(counts).sum())


def _delta(m) -> np.ndarray:
    """sqrt(m + 1) - sqrt(m), written as 1 / (sqrt(m + 1) + sqrt(m)) to avoid cancellation."""
    m = np.asarray(m, dtype=float)
    return 1.0 / (np.sqrt(m + 1.0) + np.sqrt(m))


def _excess(w, m, beta: float) -> np.ndarray:
    """Density minus 1: G(x | S) / w_x - 1 = β δ(m) / w_x, for positive costs.

    inf when w_x is denormal-small. Thresholds are compared with this one formula everywhere,
    so a threshold set to the largest value left is always met by the question that has it.
    """
    with np.errstate(over="ignore"):
        return beta * _delta(m) / w


def normalised_value(selected, costs, clusters, budget, beta: float = 12.0) -> float:
    """G(S) = ΔH(S) + β Σ_k sqrt(|C_k ∩ S|) = F(S) + ΔD: Eq. 12 shifted so that G(∅) = 0.

    `budget` does not change G; it is accepted (and validated) so that G and F share a
    signature.
    """
    w, labels, _, beta = _check_inputs(costs, clusters, budget, beta)
    idx = _as_index_array(selected, w.size)
    return math.fsum(w[idx].tolist()) + beta * _diversity(idx, labels)


def value(selected, costs, clusters, budget, beta: float = 12.0) -> float:
    """F(S) = -(ΔD - ΔH(S)) + β Σ_k sqrt(|C_k ∩ S|), the value function of Eq. 12.

    `selected`: indices of the questions in S; `costs[i]`: the difficulty increase of
    question i (its term of ΔH); `clusters[i]`: its cluster label; `budget`: ΔD(t).
    F is defined for any S; whether S respects ΔH(S) <= ΔD (Eq. 13) is `is_feasible`.
    """
    w, labels, budget, beta = _check_inputs(costs, clusters, budget, beta)
    idx = _as_index_array(selected, w.size)
    return -(budget - math.fsum(w[idx].tolist())) + beta * _diversity(idx, labels)


def marginal_gain(x: int, selected, costs, clusters, beta: float = 12.0) -> float:
    """G(x | S) = F(S + x) - F(S) = w_x + β (sqrt(m + 1) - sqrt(m)), m = |C_k(x) ∩ S| (Eq. 12).

    The O(1) form every solver uses; it is 0 when x is already in S.
    """
    w, labels, _, beta = _check_inputs(costs, clusters, 0.0, beta)
    idx = _as_index_array(selected, w.size)
    if x in set(idx.tolist()):
        return 0.0
    m = int(np.count_nonzero(labels[idx] == labels[x]))
    return float(w[x] + beta * _delta(m))


def _limit(budget: float) -> float:
    return budget + _RELATIVE_SLACK * max(1.0, abs(budget))


def is_feasible(selected, costs, budget) -> bool:
    """ΔH(S) <= ΔD, the knapsack constraint of Eq. 11 / Eq. 13 (up to float rounding)."""
    w = np.asarray(costs, dtype=float)
    idx = _as_index_array(selected, w.size)
    return math.fsum(w[idx].tolist()) <= _limit(float(budget))


def _check_eps(eps: float) -> None:
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")


def guarantee(eps: float) -> float:
    """The ratio G(ftgp) / G(OPT) that `ftgp` guarantees: (1 - ε) / (2 - ε) >= 1/2 - ε/2."""
    return (1.0 - eps) / (2.0 - eps)


# --- FTGP: threshold greedy + augmentation (Eq. 13, Prop. 3.1, App. D) ----------------------


def _first_failure(ok: np.ndarray) -> int:
    """Length of the leading run of True values."""
    bad = np.flatnonzero(~ok)
    return int(bad[0]) if bad.size else ok.size


def _fill(order_asc: np.ndarray, w: np.ndarray, room: float) -> list[int]:
    """First-fit decreasing over `order_asc` (indices sorted by increasing cost) into `room`.

    Walks down from the costliest question that fits, taking the longest run that fits, then
    jumps to the costliest one that fits what is left. After a run, the room left is smaller than
    both the run's first cost and the room minus it, so it at least halves: O(log(room / w_min))
    runs, each vectorised.
    """
    sorted_costs = w[order_asc]
    taken: list[int] = []
    hi = sorted_costs.size  # questions at positions >= hi are taken or will never fit
    while hi > 0:
        top = int(np.searchsorted(sorted_costs[:hi], room, side="right")) - 1
        if top < 0:
            break
        run, width = 0, 64
        while True:  # grow the window until the run ends inside it
            lo = max(0, top + 1 - width)
            window = sorted_costs[lo : top + 1][::-1]
            run = _first_failure(np.cumsum(window) <= room)
            if run < window.size or lo == 0:
                break
            width *= 4
        chosen = order_asc[top + 1 - run : top + 1][::-1]
        taken.extend(chosen.tolist())
        room -= float(w[chosen].sum())
        hi = top + 1 - run
    return taken


def threshold_greedy(costs, clusters, budget, beta: float = 12.0, eps: float = 0.1) -> list[int]:
    """Steps 1-3 of `ftgp` (free questions, threshold passes, fill), in the order they are added.

    Public for teaching: notebook 05 rebuilds it with a plain loop and compares. Its output is
    a maximal feasible set (nothing else fits); alone it carries no 1/2 guarantee, the
    augmentation of `ftgp` (step 4) is what the proof needs.
    """
    w, labels, budget, beta = _check_inputs(costs, clusters, budget, beta)
    _check_eps(eps)
    if budget < 0 or w.size == 0:
        return []
    free, order, _ = _threshold_greedy(w, labels, _limit(budget), beta, eps)
    return np.concatenate([free, order]).tolist()


def _threshold_greedy(w, labels, limit, beta, eps):
    """(free questions, greedy order of the positive-cost ones, per-cluster counts of free)."""
    n_clusters = int(labels.max()) + 1

    # 1. Free questions: they use no budget, and Lemma 1 says they never lower F.
    free = np.flatnonzero(w == 0)
    m_free = np.bincount(labels[free], minlength=n_clusters)
    m = m_free.copy()  # questions selected per cluster

    # Each cluster's positive-cost questions that fit at all, sorted by cost: a threshold pass
    # takes a prefix of what is left of a cluster, so one head pointer per cluster suffices.
    candidates = np.flatnonzero((w > 0) & (w <= limit))
    order = candidates[np.lexsort((w[candidates], labels[candidates]))]
    starts = np.searchsorted(labels[order], np.arange(n_clusters + 1))
    head, end = starts[:-1].copy(), starts[1:]
    alive = head < end  # clusters that may still have a question that fits
    picks: list[np.ndarray] = []
    spent = 0.0

    def head_excess() -> np.ndarray:
        """Largest excess density left in each cluster (its cheapest question); -inf if none fits."""
        best = np.full(n_clusters, -np.inf)
        live = np.flatnonzero(alive)
        cheapest = w[order[head[live]]]
        fits = spent + cheapest <= limit
        alive[live[~fits]] = False  # its cheapest does not fit: none of it ever will
        live, cheapest = live[fits], cheapest[fits]
        best[live] = _excess(cheapest, m[live], beta)
        return best

    # 2. Threshold passes on the excess density θ (density = 1 + excess). With β = 0 every
    # density is exactly 1, any order is a threshold order, and step 3 does all the work.
    excess = head_excess()
    theta = float(excess.max()) if alive.any() else 0.0
    while beta > 0 and alive.any():
        for k in np.argsort(-excess, kind="stable"):  # richest first; any order keeps the guarantee
            if not alive[k] or excess[k] < theta:
                continue
            taken, width = 0, 16
            while True:  # grow the window until the accepted prefix ends inside it
                rest = order[head[k] : end[k]][:width]
                wr = w[rest]
                # the j-th question of the run joins a cluster that already holds m + j
                ok = _excess(wr, m[k] + np.arange(rest.size), beta) >= theta
                ok &= spent + np.cumsum(wr) <= limit
                taken = _first_failure(ok)
                if taken < rest.size or head[k] + rest.size >= end[k]:
                    break
                width *= 4
            if taken:
                picks.append(rest[:taken])
                spent += float(wr[:taken].sum())
                m[k] += taken
                head[k] += taken
            alive[k] = head[k] < end[k]
        excess = head_excess()
        if alive.any():
            theta = min((1.0 - eps) * theta, float(excess.max()))

    # 3. Fill (β = 0): first-fit decreasing, which packs the budget tightly.
    if alive.any():
        rest = np.concatenate([order[head[k] : end[k]] for k in np.flatnonzero(alive)])
        filled = _fill(rest[np.argsort(w[rest], kind="stable")], w, limit - spent)
        picks.append(np.asarray(filled, dtype=np.int64))
    greedy_order = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    return free, greedy_order, m_free


def ftgp(costs, clusters, budget, beta: float = 12.0, eps: float = 0.1) -> list[int]:
    """Approximately solve Eq. 13 (max F s.t. ΔH <= ΔD); return the sorted selected indices.

    `costs`: non-negative difficulty increases w_i; `clusters`: integer cluster labels (any
    values); `budget`: ΔD(t); `beta`: β of Eq. 12 (0 is KPOD-w.o.-div); `eps`: ε of
    Proposition 3.1. Guarantee: G(result) >= (1 - ε)/(2 - ε) G(OPT) >= (1/2 - ε) G(OPT),
    with G = F + ΔD (module docstring for the algorithm and the proof; App. D for Lemma 1-2).

    ΔD < 0 (beyond float rounding) makes even ∅ infeasible (ΔH(∅) = 0 > ΔD): we return []
    ("no question advances").
    ΔD = 0 still admits the zero-cost questions, which are taken.
    """
    w, labels, budget, beta = _check_inputs(costs, clusters, budget, beta)
    _check_eps(eps)
    limit = _limit(budget)
    # A budget below 0 by float rounding only (ΔD = D(T) - Σh at T is 0 up to it) still
    # admits the zero-cost questions.
    if limit < 0 or w.size == 0:
        return []
    free, greedy_order, m_free = _threshold_greedy(w, labels, limit, beta, eps)  # steps 1-3
    candidates = np.flatnonzero((w > 0) & (w <= limit))
    ascending = candidates[np.argsort(w[candidates], kind="stable")]

    def topped_up(chosen: np.ndarray) -> np.ndarray:
        """`chosen` plus whatever still fits, first-fit decreasing (G is monotone: never worse)."""
        inside = np.zeros(w.size, dtype=bool)
        inside[chosen] = True
        extra = _fill(ascending[~inside[ascending]], w, limit - float(w[chosen].sum()))
        return np.concatenate([chosen, np.asarray(extra, dtype=np.int64)])

    # 4. Augment: the best candidates G_{I_x} + x, topped up, against the greedy set.
    chosen = greedy_order
    best = _gain_of(chosen, w, labels, beta, m_free)
    for prefix_len, x in _augmentations(greedy_order, candidates, w, labels, beta, m_free, limit,
                                        AUGMENT_TOP):
        trial = topped_up(np.append(greedy_order[:prefix_len], x))
        trial_value = _gain_of(trial, w, labels, beta, m_free)
        if trial_value > best:
            chosen, best = trial, trial_value

    # 5. Improving swaps (only ever raise G, so the guarantee stands).
    chosen = _swap_polish(chosen, ascending, topped_up, w, labels, beta, m_free, limit)
    return sorted(np.concatenate([free, chosen]).tolist())


def _augmentations(picks, candidates, w, labels, beta, m_free, limit, how_many):
    """Step 4: the `how_many` best candidates G_{I_x} + x, as (I_x, x), best first.

    `picks`: the greedy order (positive-cost questions), `m_free`: per-cluster counts of the
    free questions (every prefix contains them). Scores are G minus G(free). The proof needs only
    the best one (its value bounds G(G_{I_o} + o)); the others are cheap extra tries.
    """
    n_picks = picks.size
    if candidates.size == 0:
        return []
    k_of = labels[picks]
    # G of every prefix: the gain of each pick is w + β δ(questions of its cluster before it).
    before = np.zeros(n_picks, dtype=np.int64)
    if n_picks:
        by_cluster = np.lexsort((np.arange(n_picks), k_of))
        group_start = np.searchsorted(k_of[by_cluster], k_of[by_cluster], side="left")
        before[by_cluster] = np.arange(n_picks) - group_start
    gains = w[picks] + beta * _delta(m_free[k_of] + before)
    prefix_value = np.concatenate([[0.0], np.cumsum(gains)])
    prefix_cost = np.concatenate([[0.0], np.cumsum(w[picks])])

    # I_x: the last prefix that x still fits on (prefix costs only grow).
    x = candidates
    last_fit = np.searchsorted(prefix_cost, limit - w[x], side="right") - 1
    position = np.full(w.size, n_picks + 1, dtype=np.int64)  # 1-based pick position, or beyond
    position[picks] = np.arange(1, n_picks + 1)
    # Skip x if it fits the whole greedy set (case (a) of the proof), if it is already in
    # G_{I_x}, or if G_{I_x} + x is the next prefix (its value is already counted).
    useful = (last_fit < n_picks) & (position[x] > last_fit + 1)
    x, last_fit = x[useful], last_fit[useful]
    if x.size == 0:
        return []
    # Questions of x's cluster inside G_{I_x}: count picks of that cluster at positions < I_x.
    span = n_picks + 1
    pick_keys = np.sort(k_of * span + np.arange(n_picks))
    in_prefix = (np.searchsorted(pick_keys, labels[x] * span + last_fit, side="left")
                 - np.searchsorted(pick_keys, labels[x] * span, side="left"))
    scores = prefix_value[last_fit] + w[x] + beta * _delta(m_free[labels[x]] + in_prefix)
    top = np.argsort(-scores, kind="stable")[:how_many]
    return [(int(last_fit[i]), int(x[i])) for i in top]


def _gain_of(chosen: np.ndarray, w, labels, beta, m_free) -> float:
    """G(free ∪ chosen) - G(free) for positive-cost `chosen`, in O(|chosen| + K)."""
    counts = np.bincount(labels[chosen], minlength=m_free.size) + m_free
    return float(w[chosen].sum()) + beta * float(np.sqrt(counts).sum() - np.sqrt(m_free).sum())


def _swap_polish(chosen, ascending, topped_up, w, labels, beta, m_free, limit, rounds: int = 8):
    """Step 5: up to `rounds` improving one-for-one swaps, each followed by a top-up.

    For every selected question s, its partner is the costliest unselected x that fits once s
    is out (one vectorised searchsorted); the best swap is made if it raises G. This repairs the
    packing losses that density orders suffer on small instances (a cheap question blocking a
    big one); it is a heuristic, not part of the guarantee, which it cannot break.
    """
    for _ in range(rounds):
        if chosen.size == 0:
            break
        inside = np.zeros(w.size, dtype=bool)
        inside[chosen] = True
        out = ascending[~inside[ascending]]  # unselected, by increasing cost
        room = limit - float(w[chosen].sum())
        partner = np.searchsorted(w[out], room + w[chosen], side="right") - 1
        s, x = chosen[partner >= 0], out[partner[partner >= 0]]
        if s.size == 0:
            break
        counts = m_free + np.bincount(labels[chosen], minlength=m_free.size)
        ks, kx = labels[s], labels[x]
        # Removing s costs its cluster sqrt(m) - sqrt(m - 1) = δ(m - 1); x then gains δ(m'),
        # with m' counted without s when both share a cluster.
        change = (w[x] - w[s]) + beta * (_delta(counts[kx] - (kx == ks)) - _delta(counts[ks] - 1))
        best = int(np.argmax(change))
        if change[best] <= _RELATIVE_SLACK * max(1.0, limit):
            break
        chosen = topped_up(np.append(chosen[chosen != s[best]], x[best]))
    return chosen


# --- teaching references ------------------------------------------------------------------


def greedy(costs, clusters, budget, beta: float = 12.0) -> list[int]:
    """Density greedy + best singleton, the classic reference for Eq. 13.

    Repeatedly add the question with the largest density G(x | S) / w_x among those that still
    fit (zero-cost ones first), then return the better of that set and the best single
    question. Guarantee: (1 - 1/e)/2 ≈ 0.316 of G(OPT) (about 0.405 with the sharper analysis of
    Feldman, Nutov and Shoham), weaker than `ftgp`'s 1/2 - ε; O(n) vectorised work per added
    question, so O(n^2) in all. Same conventions as `ftgp` for ΔD < 0 and zero-cost questions.
    """
    w, labels, budget, beta = _check_inputs(costs, clusters, budget, beta)
    if budget < 0 or w.size == 0:
        return []
    limit = _limit(budget)
    m = np.zeros(int(labels.max()) + 1, dtype=np.int64)
    chosen = w == 0
    m += np.bincount(labels[chosen], minlength=m.size)
    spent = 0.0
    open_ = (w > 0) & (w <= limit)
    while open_.any():
        idx = np.flatnonzero(open_)
        density = _excess(w[idx], m[labels[idx]], beta)  # density - 1: same argmax
        x = idx[int(np.argmax(density))]
        chosen[x], open_[x] = True, False
        spent += w[x]
        m[labels[x]] += 1
        open_ &= w <= limit - spent  # what no longer fits never will
    greedy_set = np.flatnonzero(chosen)
    fits = np.flatnonzero(w <= limit)
    if fits.size:
        single = fits[int(np.argmax(w[fits]))]  # every singleton has the same diversity β
        if w[single] + beta > normalised_value(greedy_set, w, labels, budget, beta):
            return [int(single)]
    return greedy_set.tolist()


def brute_force(costs, clusters, budget, beta: float = 12.0, max_n: int = 20) -> list[int]:
    """The exact maximiser of Eq. 13 by enumerating all 2^n subsets (n <= max_n); for tests.

    Ties go to the first subset in enumeration order, plus every zero-cost question. ΔD < 0
    gives [] (nothing is feasible).
    """
    w, labels, budget, beta = _check_inputs(costs, clusters, budget, beta)
    n = w.size
    if n > max_n:
        raise ValueError(f"brute force enumerates 2^n subsets; n = {n} > max_n = {max_n}")
    if budget < 0 or n == 0:
        return []
    limit = _limit(budget)
    onehot = np.eye(int(labels.max()) + 1)[labels]  # n x K
    best_value, best_mask = -np.inf, 0
    chunk = 1 << min(n, 16)
    for lo in range(0, 1 << n, chunk):
        masks = np.arange(lo, min(lo + chunk, 1 << n), dtype=np.int64)
        bits = ((masks[:, None] >> np.arange(n)) & 1).astype(float)
        cost = bits @ w
        g = cost + beta * np.sqrt(bits @ onehot).sum(axis=1)
        g[cost > limit] = -np.inf
        top = int(np.argmax(g))
        if g[top] > best_value:
            best_value, best_mask = g[top], int(masks[top])
    # Zero-cost questions never lower G (Lemma 1): add them, as the other solvers do, so that
    # ties (β = 0) resolve the same way.
    return [i for i in range(n) if best_mask >> i & 1 or w[i] == 0]

