"""The argparse types of the numbers a command takes: a bad value is a usage error, before any work.

The paths a command writes have their own types (`kpod_lite.outputs.output_file`,
`output_folder`); every `kpod-lite` sub-command and `python -m kpod_lite.stats` use these.
"""

from __future__ import annotations

import argparse
import math


def at_least(low: int):
    """An argparse type: an integer >= `low` (a bad value is a one-line usage error)."""
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    parse.__name__ = f"integer >= {low}"
    return parse


def non_negative(text: str) -> float:
    """A number >= 0 (a temperature)."""
    value = float(text)
    if not value >= 0 or math.isinf(value):  # `not >=` also refuses NaN
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def positive(text: str) -> float:
    """A number of seconds > 0 (a timeout: 0 or less would fail every request at once)."""
    value = float(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text}")
    return value


def share(text: str) -> float:
    """A share between 0 and 1."""
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be a share between 0 and 1, got {text}")
    return value


for _parse, _name in ((non_negative, "number >= 0"), (positive, "number > 0"), (share, "share")):
    _parse.__name__ = _name  # argparse says "invalid <name> value: 'x'" for text that is no number
