"""Teaching references for Eq. 13, to measure `ftgp` against: `greedy` and `brute_force`.

`greedy` is density greedy + best singleton: the classic guarantee is (1 - 1/e)/2 ≈ 0.316,
about 0.405 with the sharper analysis of Feldman, Nutov and Shoham, and no better than about
0.43 in the worst case (Kulik, Schwartz and Shachnai). `brute_force` is exact, for n <= 20.
"""

from __future__ import annotations

import numpy as np

from kpod_lite.submodular.objective import _check_inputs, _excess, _limit, normalised_value


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
