"""The two records the data layer hands out, and the error it raises.

`Example` is one question x with its gold answer y (§3.1) in the same shape whatever
benchmark file it came from; `DataFormatError` names the file, line or record, and field
of anything that does not parse.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from numbers import Integral


class DataFormatError(ValueError):
    """A file that does not hold what its format promises.

    ``str(e)`` reads ``<path>:<line>: [<record>: ]field '<field>': <message>``, for example
    ``data_samples/x.jsonl:3: field 'answer': cannot parse '12 apples and' as a number``.
    Formats without meaningful lines (a JSON list, XML) name the record instead:
    ``svamp.json: record [2] (ID 'chal-3'): field 'Answer': ...`` (0-based index).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        line: int | None,
        field: str | None,
        message: str,
        *,
        record: str | None = None,
    ):
        self.path = str(path)
        self.line = line
        self.field = field
        self.message = message
        self.record = record
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"{self.path}:{self.line}" if self.line is not None else self.path]
        if self.record:
            parts.append(self.record)
        if self.field:
            parts.append(f"field {self.field!r}")
        parts.append(self.message)
        return ": ".join(parts)

    def __reduce__(self):  # keep the error picklable (multiprocessing, pytest-xdist)
        return (_rebuild_error, (self.path, self.line, self.field, self.message, self.record))


def _rebuild_error(path, line, field, message, record):
    return DataFormatError(path, line, field, message, record=record)


class UnusableRecordError(DataFormatError):
    """A well-formed record whose content cannot be used: an answer that is a name, a ratio or
    several values, options after "Answer Choices:" in no known layout. The loaders skip and
    count these (`LoadReport`) instead of refusing the file; ``reason`` is the short category
    they are counted under ("answer is not a number"), the message says what was found."""

    def __init__(self, path, line, field, message, *, record=None, reason: str):
        self.reason = reason
        super().__init__(path, line, field, message, record=record)

    def __reduce__(self):
        return (_rebuild_unusable, (self.path, self.line, self.field, self.message, self.record, self.reason))


def _rebuild_unusable(path, line, field, message, record, reason):
    return UnusableRecordError(path, line, field, message, record=record, reason=reason)


# How many skipped records a report keeps whole; the rest are only counted.
_KEPT_ERRORS = 10


@dataclass
class LoadReport:
    """What `load_examples_with_report` made of one file: every record read or skipped.

    ``read + skipped`` is the number of records the file holds. ``reasons`` counts the skips
    by category ("field 'Answer': answer is a ratio, not one number"); ``errors`` keeps the
    first few skipped records whole, as `DataFormatError`s naming file, line or record, and field.
    """

    path: str
    fmt: str
    read: int = 0
    skipped: int = 0
    reasons: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)

    def skip(self, error: DataFormatError) -> None:
        self.skipped += 1
        reason = getattr(error, "reason", None) or error.message
        self.reasons[f"field {error.field!r}: {reason}" if error.field else reason] += 1
        if len(self.errors) < _KEPT_ERRORS:
            self.errors.append(error)

    def summary(self) -> str:
        """One line: "<path>: read 2300 of 2305 record(s), skipped 5 (3 x ..., 2 x ...)"."""
        line = f"{self.path}: read {self.read} of {self.read + self.skipped} record(s)"
        if self.skipped:
            counted = "; ".join(f"{n} x {reason}" for reason, n in self.reasons.most_common())
            line += f", skipped {self.skipped} ({counted}); first: {self.errors[0]}"
        return line

    def to_dict(self) -> dict:
        """JSON-ready: counts, reasons and the kept errors as strings."""
        return {"path": self.path, "format": self.fmt, "read": self.read, "skipped": self.skipped,
                "reasons": dict(self.reasons.most_common()), "first_errors": [str(e) for e in self.errors]}


@dataclass(frozen=True)
class Example:
    """One question x with its gold answer y (§3.1), whatever file it came from.

    ``answer`` is normalised (`normalize_answer`): "18", "0.5", "-3" for numbers, "A" for a
    choice. ``choices`` maps option letters to option texts in source order. ``meta`` keeps
    every other source field; it must stay JSON-compatible so the record can be saved.
    """

    id: str
    question: str
    answer: str
    choices: dict[str, str] | None = None
    dataset: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def answer_kind(self) -> str:
        """"choice" for multiple choice, else "number": the `kind` of the answer functions."""
        return "choice" if self.choices else "number"

    def to_record(self) -> dict:
        """The kpod-format JSON object (what `save_examples` writes a line of)."""
        record = {"id": self.id, "dataset": self.dataset, "question": self.question, "answer": self.answer}
        if self.choices:
            record["choices"] = dict(self.choices)
        if self.meta:
            record["meta"] = dict(self.meta)
        return record


def rationale_key(record, *, path: str | os.PathLike = "<record>", line: int | None = None,
                  label: str | None = None) -> tuple[str, int]:
    """(id, sample): what identifies a rationale, a token weight or a difficulty record, since a
    question may have several teacher rationales (samples). Ids compare as strings, so a
    numeric id in one file matches the same id written as a string in another.

    Refuses, as a `DataFormatError` naming `path`, `line` and the record (`label`), a record
    without an `id`, an id that is not a string or a number, and a `sample` (default 0) that
    is not a whole number >= 0: `int()` would make "1", 1.5 or true a sample, and two records
    of different samples one rationale.
    """
    def bad(field: str | None, message: str) -> DataFormatError:
        return DataFormatError(path, line, field, message, record=label)

    if not isinstance(record, Mapping):
        raise bad(None, f"expected a record (a JSON object), got {type(record).__name__}")
    if "id" not in record:
        raise bad("id", "missing")
    if isinstance(record["id"], (dict, list, bool)) or record["id"] is None:
        raise bad("id", f"must be a string or a number, got {record['id']!r}")
    sample = record.get("sample", 0)
    if isinstance(sample, bool) or not isinstance(sample, Integral) or sample < 0:
        raise bad("sample", f"must be a whole number >= 0 (which of a question's rationales), got {sample!r}")
    return str(record["id"]), int(sample)


def rationale_name(record) -> str:
    """`rationale_key` as one string, for files keyed by rationale (the schedule's c_i): the id
    for a question's first (or only) rationale, "id#sample" for the others."""
    question, sample = rationale_key(record)
    return question if sample == 0 else f"{question}#{sample}"
