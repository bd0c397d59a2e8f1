r"""The value function of Eq. 12, its normalised form G, and the knapsack constraint of Eq. 13.

    F(S) = -(ΔD - ΔH(S)) + β Σ_k sqrt(|C_k ∩ S|),     G(S) = F(S) + ΔD,

with ΔH(S) = Σ_{i∈S} w_i. The marginal gain of question x, in cluster k(x), on top of a set S
holding m questions of that cluster is

    G(x | S) = w_x + β (sqrt(m + 1) - sqrt(m)) = w_x + β / (sqrt(m + 1) + sqrt(m)),

which is O(1) to evaluate with one counter per cluster; every solver of this package uses it
(`_delta` is δ(m) = sqrt(m + 1) - sqrt(m)). Its *density* (gain per unit cost) is
G(x | S) / w_x = 1 + β δ(m) / w_x >= 1, and `_excess` is the part above 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

# Budgets are compared with a tiny relative slack, so that float sums such as
# 0.1 + 0.2 <= 0.3 count as "fits" (the same rule in every solver and in `is_feasible`).
_RELATIVE_SLACK = 1e-9


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

