r"""FTGP for Eq. 13: threshold greedy, then augmentation by one question (Prop. 3.1, App. D).

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
"""

from __future__ import annotations

import numpy as np

from kpod_lite.submodular.objective import _RELATIVE_SLACK, _check_inputs, _delta, _limit
from kpod_lite.submodular.thresholds import _check_eps, _fill, _threshold_greedy

# How many of the best augmentation candidates (step 4) are topped up and compared.
AUGMENT_TOP = 8


def guarantee(eps: float) -> float:
    """The ratio G(ftgp) / G(OPT) that `ftgp` guarantees: (1 - ε) / (2 - ε) >= 1/2 - ε/2."""
    return (1.0 - eps) / (2.0 - eps)


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
