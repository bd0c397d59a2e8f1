"""The two records the data layer hands out, and the error it raises.

`Example` is one question x with its gold answer y (§3.1) in the same shape whatever
benchmark file it came from; `DataFormatError` names the file, line or record, and field
of anything that does not parse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


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


def rationale_key(record) -> tuple[str, int]:
    """(id, sample): what identifies a rationale, a token weight or a difficulty record, since a
    question may have several teacher rationales (samples). Ids compare as strings, so a
    numeric id in one file matches the same id written as a string in another."""
    return str(record["id"]), int(record.get("sample", 0))


def rationale_name(record) -> str:
    """`rationale_key` as one string, for files keyed by rationale (the schedule's c_i): the id
    for a question's first (or only) rationale, "id#sample" for the others."""
    question, sample = rationale_key(record)
    return question if sample == 0 else f"{question}#{sample}"
