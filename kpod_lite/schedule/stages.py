r"""Eq. 11 over all stages: which questions give up input steps at each stage t = 0..T.

From stage t-1 to t, the questions in S(t) give up Δs input steps each,

    c_i(t) = c_i(t-1) - q_i(t) Δs,   q_i(t) = [i ∈ S(t)],   s.t. ΔH(S(t)) <= ΔD(t),    (Eq. 11)

with ΔD(t) = D(t) - Σ_i h_i(t-1) the room left under the curve of Eq. 10 and ΔH(S(t)) the
difficulty the move adds; S(t) maximises Eq. 12-13 (`kpod_lite.submodular.ftgp`). A question
with fewer than Δs input steps left gives up the ones it has. The starting point, stage 0 and
C_0 are the choices of the package docstring (`kpod_lite.schedule`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from kpod_lite.schedule.curve import growth_rate, overall_difficulty
from kpod_lite.schedule.record import PROGRESSIVE_EPOCHS, Schedule, Stage
from kpod_lite.submodular import ftgp


def build_schedule(
    difficulties: Mapping[Hashable, Sequence[float]],
    clusters: Mapping[Hashable, int],
    epochs: int,
    T: int | None = None,
    p: float = 0.5,
    c0_fraction: float = 0.3,
    delta_s: int = 1,
    beta: float = 12.0,
    eps: float = 0.1,
    initial_input_steps: int | Mapping[Hashable, int] | None = None,
    progressive: bool = True,
    stage0_selection: bool = True,
    meta: dict | None = None,
) -> Schedule:
    """The stages 0..T of Eq. 11, each S(t) chosen by FTGP on Eq. 12-13.

    `difficulties`: question id -> [d_1, ..., d_{n_i}] (Eq. 8); `clusters`: id -> K-means
    label; `T`: stage of maximum difficulty (default: half the epochs, App. A); `p`, `c0_fraction`
    (C_0 = c0_fraction · B): Eq. 10; `delta_s`: Δs of Eq. 11; `beta` (0 when the diversity term
    is off, KPOD-w.o.-div), `eps`: Eq. 12 and Prop. 3.1; `initial_input_steps`, `stage0_selection`:
    see the `kpod_lite.schedule` docstring; `progressive=False` (KPOD-w.o.-prog) records D but no
    stages, and every epoch then trains on full rationales. `meta` is stored as is (e.g. the
    embedding source).
    """
    T, delta_s = _check_knobs(epochs, T, p, c0_fraction, delta_s)
    ids, steps = _check_difficulties(difficulties)
    missing = [i for i in ids if i not in clusters]
    if missing:
        raise ValueError(f"no cluster label for questions {missing[:5]}")

    B = math.fsum(float(x) for d in steps for x in d)
    C0 = c0_fraction * B
    D = [overall_difficulty(t, B, T, p, C0) for t in range(T + 1)]
    params = {"epochs": epochs, "p": p, "c0_fraction": c0_fraction, "B": B, "C0": C0,
              "u": growth_rate(B, C0, T, p), "delta_s": delta_s, "beta": beta, "eps": eps,
              "stage0_selection": stage0_selection, PROGRESSIVE_EPOCHS: T if progressive else 0}
    stages = []
    if progressive:
        sums = _PrefixSums(steps)
        c = _initial_steps(ids, sums.n_steps, initial_input_steps)
        labels = np.array([clusters[i] for i in ids])
        stages = _stages(ids, sums, labels, c, D, delta_s=delta_s, beta=beta, eps=eps,
                         stage0_selection=stage0_selection)
    return Schedule(T=T, D=D, stages=stages, ids=ids, progressive=bool(progressive), params=params,
                    meta=dict(meta or {}))


def _check_knobs(epochs: int, T: int | None, p: float, c0_fraction: float, delta_s: int) -> tuple[int, int]:
    """T (default: half the epochs, App. A) and Δs as an int, once every knob of Eq. 10-11 is valid."""
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    T = max(1, epochs // 2) if T is None else int(T)
    if not 1 <= T <= epochs:
        raise ValueError(f"T must lie in 1..epochs ({epochs}), got {T}")
    if not p > 0:
        raise ValueError(f"p must be > 0 (Eq. 10), got {p}")
    if not 0.0 <= c0_fraction <= 1.0:
        raise ValueError(f"c0_fraction must lie in [0, 1], got {c0_fraction}")
    if int(delta_s) != delta_s or delta_s < 1:
        raise ValueError(f"delta_s must be a positive integer (Eq. 11), got {delta_s}")
    return T, int(delta_s)


def _check_difficulties(difficulties: Mapping) -> tuple[list, list[np.ndarray]]:
    ids = list(difficulties)
    names = [str(i) for i in ids]
    if len(set(names)) != len(names):
        raise ValueError("question ids must stay distinct as strings (they are JSON keys)")
    steps = []
    for i in ids:
        d = np.asarray(difficulties[i], dtype=float)
        if d.ndim != 1 or d.size == 0:
            raise ValueError(f"question {i!r}: difficulties must be a non-empty list of step values")
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise ValueError(f"question {i!r}: step difficulties must be finite and >= 0 (Eq. 8)")
        steps.append(d)
    return ids, steps


def _initial_steps(ids, n_steps: np.ndarray, initial_input_steps) -> np.ndarray:
    """c_i before stage 0: n_i - 1 by default; an int caps it; a dict gives it per question."""
    if initial_input_steps is None:
        return n_steps - 1
    if isinstance(initial_input_steps, Mapping):
        c = np.array([initial_input_steps.get(i, n - 1) for i, n in zip(ids, n_steps)], dtype=np.int64)
        bad = [i for i, ci, n in zip(ids, c, n_steps) if not 0 <= ci <= n]
        if bad:
            raise ValueError(f"initial input steps must lie in 0..n_i; wrong for {bad[:5]}")
        return c
    cap = int(initial_input_steps)
    if cap < 0:
        raise ValueError(f"initial_input_steps must be >= 0, got {cap}")
    return np.minimum(cap, n_steps - 1)


class _PrefixSums:
    """Every rationale's step difficulties as one flat array of prefix sums.

    P_i[c] = Σ_{j<=c} d_j, so h_i(c) = P_i[n_i] - P_i[c] (Eq. 9) and moving c -> c - k costs
    P_i[c] - P_i[c - k]: each stage is a few vectorised lookups, however many questions.
    """

    def __init__(self, steps: list[np.ndarray]):
        self.n_steps = np.array([d.size for d in steps], dtype=np.int64)
        self.offset = np.concatenate([[0], np.cumsum(self.n_steps + 1)[:-1]])
        self.prefix = np.concatenate([np.concatenate([[0.0], np.cumsum(d)]) for d in steps])
        self.totals = self.prefix[self.offset + self.n_steps]

    def H(self, c: np.ndarray) -> float:
        """Σ_i h_i for input steps c (Eq. 9 summed)."""
        return math.fsum((self.totals - self.prefix[self.offset + c]).tolist())

    def cost(self, rows: np.ndarray, c: np.ndarray, k: np.ndarray) -> np.ndarray:
        """What moving c -> c - k adds to h_i, for the questions `rows` (their c and k)."""
        cost = self.prefix[self.offset[rows] + c] - self.prefix[self.offset[rows] + c - k]
        return np.maximum(cost, 0.0)  # prefix differences of non-negative d_j: only rounding < 0


def _stages(ids: list, sums: _PrefixSums, labels: np.ndarray, c: np.ndarray, D: list[float], *,
            delta_s: int, beta: float, eps: float, stage0_selection: bool) -> list[Stage]:
    """The stages 0..T of Eq. 11 from the starting input steps `c` (moved in place)."""
    stages = []
    for t, D_t in enumerate(D):
        delta_D = D_t - sums.H(c)  # room left under the curve (Eq. 11)
        chosen, delta_H = np.zeros(0, dtype=np.int64), 0.0
        if t > 0 or stage0_selection:
            chosen, delta_H = _advance(c, sums, labels, delta_D, delta_s=delta_s, beta=beta, eps=eps)
        stages.append(Stage(t=t, delta_D=delta_D, delta_H=delta_H,
                            selected=[ids[i] for i in chosen.tolist()],
                            c=dict(zip(ids, c.tolist()))))
    return stages


def _advance(c: np.ndarray, sums: _PrefixSums, labels: np.ndarray, delta_D: float, *,
             delta_s: int, beta: float, eps: float) -> tuple[np.ndarray, float]:
    """S(t) and ΔH(S(t)) of one stage: FTGP picks among the questions with input steps left,
    and each picked one gives up Δs of them (or all it has) in `c`."""
    candidates = np.flatnonzero(c > 0)
    if not candidates.size:
        return np.zeros(0, dtype=np.int64), 0.0
    k = np.minimum(delta_s, c[candidates])
    cost = sums.cost(candidates, c[candidates], k)
    local = np.asarray(ftgp(cost, labels[candidates], delta_D, beta=beta, eps=eps), dtype=np.int64)
    chosen = candidates[local]
    c[chosen] -= k[local]
    return chosen, math.fsum(cost[local].tolist())
