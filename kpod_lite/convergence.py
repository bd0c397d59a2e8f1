"""Is a student converged? The measures a run's per-epoch curves are read with (App. A trains
"to convergence"; docs/RESULTS.md fixes the rule before each run).

- `last_quarter_gain`: the accuracy gained over the last quarter of N_e epochs, as the mean of
  the last three epochs minus the mean of the three ending at epoch 3 N_e / 4 (for N_e = 60:
  epochs 58-60 against 43-45). A gain under about one point is "converged" by the rule.
- `target_tokens_seen`: the target tokens a student has been trained to write by the end of
  each epoch. A progressive student (Eq. 14) writes fewer in its first T epochs, since the given
  steps are input; its curve against these, rather than against epochs, asks whether it learns
  less per token written or only writes fewer tokens.

>>> last_quarter_gain({e: e / 100 for e in range(1, 41)}, 40)  # 38-40 against 28-30, in points
10.0
>>> target_tokens_seen([{"target_tokens": 5}, {"target_tokens": 7}])
[5, 12]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def last_quarter_gain(accuracy: Mapping[int, float], epochs: int) -> float:
    """Points gained over the last quarter (module docstring); `accuracy`: epoch -> share in [0, 1]."""
    quarter_end = round(0.75 * epochs)
    missing = [e for e in (*range(quarter_end - 2, quarter_end + 1), *range(epochs - 2, epochs + 1))
               if e not in accuracy]
    if epochs < 8 or missing:
        raise ValueError(f"the last-quarter gain needs epochs {quarter_end - 2}-{quarter_end} and "
                         f"{epochs - 2}-{epochs} of {epochs} (at least 8), missing {missing}")
    late = sum(accuracy[e] for e in range(epochs - 2, epochs + 1)) / 3
    early = sum(accuracy[e] for e in range(quarter_end - 2, quarter_end + 1)) / 3
    return round(100 * (late - early), 2)


def target_tokens_seen(history: Sequence[Mapping]) -> list[int]:
    """Cumulative target tokens after each epoch, from a distillation history's rows."""
    seen, total = [], 0
    for row in history:
        total += int(row["target_tokens"])
        seen.append(total)
    return seen
