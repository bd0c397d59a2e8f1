"""Sizes of the token weighting's training (§3.3): rationales per step and tokens per window.

Both fall back on the distillation's sizes when unset: `weighting_batch_size` on
`batch_size`, `weighting_max_tokens` (the window a rationale is read in, for training and for
the weights of Eq. 3) on `max_target_length`.
"""

from __future__ import annotations

from kpod_lite.config import KPODConfig


def weighting_batch_size(config: KPODConfig) -> int:
    """Rationales per training step: `weighting_batch_size`, else the distillation batch size."""
    return config.weighting_batch_size or config.batch_size


def weighting_max_tokens(config: KPODConfig) -> int:
    """Rationale tokens read per window: `weighting_max_tokens`, else `max_target_length`."""
    return config.weighting_max_tokens or config.max_target_length
