"""What the generator is asked for (`SyntheticConfig`) and what it gives (`SyntheticProblem`)."""

from __future__ import annotations

import copy
from dataclasses import dataclass

from kpod_lite.errors import ConfigError
from kpod_lite.synthetic.labels import _NUMBER_WORDS, OPS, Span


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_rate(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class SyntheticConfig:
    """Difficulty knobs of the generator.

    For a tiny student the arithmetic, not the language, is what is hard, so:

    - ``min_steps``/``max_steps``: steps per problem, drawn uniformly. More steps means a
      longer chain in which one slip spoils the answer, and more steps for §3.4 to order.
    - ``max_operand``: the largest number the question gives. Bigger numbers mean
      more digits to get exactly right, and bigger intermediate results.
    - ``max_factor``: multipliers and divisors are drawn from [2, max_factor] (at most 12,
      so that "three times as many" can be written in words). Products grow fastest with it.
    - ``ops``: which of "+", "-", "*", "/" may appear. Addition alone is easiest;
      multiplication and division make results jump in size.
    - ``filler_rate``: the chance that each filler slot of a sentence gets a filler phrase.
      It does not change the arithmetic, only how much of the rationale is noise that token
      weighting (§3.3) should learn to ignore.
    - ``distractor_rate``: the chance that the question gets one irrelevant sentence with a
      number in it ("Ana is 9 years old."), which a student must learn not to use.
    """

    min_steps: int = 2
    max_steps: int = 4
    max_operand: int = 20
    max_factor: int = 5
    ops: tuple[str, ...] = OPS
    filler_rate: float = 0.3
    distractor_rate: float = 0.2

    def __post_init__(self) -> None:
        problems = []
        for name in ("min_steps", "max_steps", "max_operand", "max_factor"):
            if not _is_int(getattr(self, name)):
                problems.append(f"{name} must be an int, got {getattr(self, name)!r}")
        if not problems:
            if self.min_steps < 1:
                problems.append(f"min_steps must be >= 1, got {self.min_steps}")
            if self.max_steps < self.min_steps:
                problems.append(f"max_steps must be >= min_steps ({self.min_steps}), got {self.max_steps}")
            if self.max_operand < 2:
                problems.append(f"max_operand must be >= 2, got {self.max_operand}")
            if not 2 <= self.max_factor <= max(_NUMBER_WORDS):
                problems.append(f"max_factor must lie in [2, {max(_NUMBER_WORDS)}], got {self.max_factor}")
        if isinstance(self.ops, str) or not all(isinstance(op, str) for op in self.ops):
            problems.append(f"ops must be a collection of operator strings, got {self.ops!r}")
        else:
            unknown = sorted(set(self.ops) - set(OPS))
            if unknown or not self.ops:
                problems.append(f"ops must be a non-empty subset of {OPS}, got {tuple(self.ops)!r}")
            else:
                # One canonical order, so equal configs compare (and hash) equal.
                object.__setattr__(self, "ops", tuple(op for op in OPS if op in self.ops))
        for name in ("filler_rate", "distractor_rate"):
            try:
                _check_rate(name, getattr(self, name))
            except ValueError as error:
                problems.append(str(error))
        if problems:
            raise ConfigError("invalid SyntheticConfig: " + "; ".join(problems))


@dataclass(frozen=True)
class SyntheticProblem:
    """One generated problem: the question, its answer, the program and the labelled rationale."""

    id: str
    question: str
    answer: str
    program: list
    rationale: str
    spans: tuple[Span, ...]

    def to_record(self) -> dict:
        """The JSON Lines record, loadable by ``kpod_lite.data.load_examples(path, "kpod")``."""
        return {
            "id": self.id,
            "dataset": "synthetic",
            "question": self.question,
            "answer": self.answer,
            "meta": {
                "program": copy.deepcopy(self.program),
                "rationale": self.rationale,
                "spans": [[span.start, span.end, span.label] for span in self.spans],
            },
        }
