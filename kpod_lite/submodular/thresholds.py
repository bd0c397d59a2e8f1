r"""Steps 1-3 of FTGP: free questions, threshold passes on the excess density, fill (Eq. 13).

The greedy half of `ftgp`; `kpod_lite.submodular.solver` describes all five steps and proves
the guarantee. What shapes the code here: the questions of a cluster that clear a threshold
are its cheapest ones, so a pass takes a prefix of each cluster (`_ClusterHeads`), and every
run of questions is accepted or refused in one vectorised step.
"""

from __future__ import annotations

import numpy as np

from kpod_lite.submodular.objective import _check_inputs, _excess, _limit


def _check_eps(eps: float) -> None:
    if not 0.0 < eps < 1.0:
        raise ValueError(f"eps must lie in (0, 1), got {eps}")


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
    heads = _ClusterHeads(w, labels, limit, m_free)

    # 2. Threshold passes on the excess density θ (density = 1 + excess). With β = 0 every
    # density is exactly 1, any order is a threshold order, and step 3 does all the work.
    excess = heads.excess(beta)
    theta = float(excess.max()) if heads.alive.any() else 0.0
    while beta > 0 and heads.alive.any():
        for k in np.argsort(-excess, kind="stable"):  # richest first; any order keeps the guarantee
            if not heads.alive[k] or excess[k] < theta:
                continue
            heads.take(k, theta, beta)
        excess = heads.excess(beta)
        if heads.alive.any():
            theta = min((1.0 - eps) * theta, float(excess.max()))

    # 3. Fill (β = 0): first-fit decreasing, which packs the budget tightly.
    heads.fill()
    greedy_order = np.concatenate(heads.picks) if heads.picks else np.zeros(0, dtype=np.int64)
    return free, greedy_order, m_free


class _ClusterHeads:
    """Each cluster's positive-cost questions that fit at all, sorted by cost, and how far the
    threshold passes have taken them: a pass takes a prefix of what is left of a cluster, so
    one head pointer per cluster suffices."""

    def __init__(self, w, labels, limit, m_free):
        self.w, self.limit = w, limit
        candidates = np.flatnonzero((w > 0) & (w <= limit))
        self.order = candidates[np.lexsort((w[candidates], labels[candidates]))]
        starts = np.searchsorted(labels[self.order], np.arange(m_free.size + 1))
        self.head, self.end = starts[:-1].copy(), starts[1:]
        self.alive = self.head < self.end  # clusters that may still have a question that fits
        self.m = m_free.copy()  # questions selected per cluster
        self.picks: list[np.ndarray] = []
        self.spent = 0.0

    def excess(self, beta) -> np.ndarray:
        """Largest excess density left in each cluster (its cheapest question); -inf if none fits."""
        best = np.full(self.m.size, -np.inf)
        live = np.flatnonzero(self.alive)
        cheapest = self.w[self.order[self.head[live]]]
        fits = self.spent + cheapest <= self.limit
        self.alive[live[~fits]] = False  # its cheapest does not fit: none of it ever will
        live, cheapest = live[fits], cheapest[fits]
        best[live] = _excess(cheapest, self.m[live], beta)
        return best

    def take(self, k, theta, beta) -> None:
        """Add the longest prefix of cluster k whose excess clears θ and which fits."""
        taken, width = 0, 16
        while True:  # grow the window until the accepted prefix ends inside it
            rest = self.order[self.head[k] : self.end[k]][:width]
            wr = self.w[rest]
            # the j-th question of the run joins a cluster that already holds m + j
            ok = _excess(wr, self.m[k] + np.arange(rest.size), beta) >= theta
            ok &= self.spent + np.cumsum(wr) <= self.limit
            taken = _first_failure(ok)
            if taken < rest.size or self.head[k] + rest.size >= self.end[k]:
                break
            width *= 4
        if taken:
            self.picks.append(rest[:taken])
            self.spent += float(wr[:taken].sum())
            self.m[k] += taken
            self.head[k] += taken
        self.alive[k] = self.head[k] < self.end[k]

    def fill(self) -> None:
        """Step 3: what is left of every cluster, first-fit decreasing into the room left."""
        if self.alive.any():
            rest = np.concatenate([self.order[self.head[k] : self.end[k]] for k in np.flatnonzero(self.alive)])
            filled = _fill(rest[np.argsort(self.w[rest], kind="stable")], self.w, self.limit - self.spent)
            self.picks.append(np.asarray(filled, dtype=np.int64))
