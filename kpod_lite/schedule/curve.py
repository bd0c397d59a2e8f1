r"""The difficulty curve of the in-rationale progressive schedule: h_i, B, u and D(t) (Eq. 9-10).

Generating the last n_i - c_i steps of rationale i costs

    h_i(c_i) = Σ_{j=c_i+1}^{n_i} d_j^(i),                                              (Eq. 9)

and the whole dataset's learning difficulty follows a curve that grows like u t^p,

    D(t) = u t^{p+1} / (p + 1) + C_0,   u = (B - C_0)(p + 1) / T^{p+1},                 (Eq. 10)

so that D(0) = C_0 and D(T) = B = Σ_i Σ_j d_j^(i), the difficulty of every full rationale.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence


def step_difficulty_sum(d: Sequence[float], c: int) -> float:
    """h_i = Σ_{j=c+1}^{n_i} d_j: the difficulty of generating the last n_i - c steps (Eq. 9)."""
    if not 0 <= c <= len(d):
        raise ValueError(f"c must lie in 0..{len(d)}, got {c}")
    return math.fsum(d[c:])


def total_difficulty(difficulties: Mapping[Hashable, Sequence[float]]) -> float:
    """B = Σ_i Σ_{j=1}^{n_i} d_j^(i), the maximum difficulty of the dataset (Eq. 10)."""
    return math.fsum(x for d in difficulties.values() for x in d)


def growth_rate(B: float, C0: float, T: int, p: float) -> float:
    """u = (B - C_0)(p + 1) / T^{p+1}, chosen so that D(T) = B (Eq. 10)."""
    return (B - C0) * (p + 1.0) / T ** (p + 1.0)


def overall_difficulty(t: float, B: float, T: int, p: float = 0.5, C0: float = 0.0) -> float:
    """D(t) = u t^{p+1} / (p + 1) + C_0 (Eq. 10), with D(t) = B from t = T on (App. B).

    At t = T the formula equals B up to rounding; returning B itself there makes D(T) = B exact.
    """
    if t >= T:
        return float(B)
    return growth_rate(B, C0, T, p) * t ** (p + 1.0) / (p + 1.0) + C0
