"""What a teacher is: the request it gets, the raw output it returns, the record kept of it.

A back-end answers `TeacherRequest`s (a question and which of its samples this is) with
`TeacherOutput`s: the raw stage-1 reasoning and, for the two-stage back-ends of Kojima et al.
(2022), the raw stage-2 answer text. `teach` cleans and grades each output into a `Rationale`,
the record that the cache and the rationale file hold (§3.1).
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Iterator, Protocol, Sequence

from kpod_lite.config import ConfigError
from kpod_lite.data import Example

# The answer is a number or a letter: a few tokens suffice (Kojima et al. also use 32).
EXTRACTION_MAX_TOKENS = 32


def request_seed(seed: int, example_id: str, sample: int) -> int:
    """A stable 31-bit seed for one (question, sample) request, the same in every process."""
    digest = hashlib.sha256(f"{seed}\x1f{example_id}\x1f{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class Rationale:
    """One teacher answer: a rationale record (kpod_lite.data.records).

    `rationale` is r only (no prompt, no answer sentence); `teacher` names the back-end and
    model. A request that failed for good keeps its `error` and an empty rationale, so the
    cache shows it and the next run asks again. `spans` ([start, end, label] over the
    rationale) are there only when the teacher knows them: the template teacher's keypoint
    and filler labels, which let a notebook score token weighting (§3.3) against the truth.
    """

    id: str
    question: str
    answer: str
    rationale: str
    teacher_answer: str | None
    correct: bool
    teacher: str
    sample: int = 0
    error: str | None = None
    spans: list | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_record(self) -> dict:
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for optional in ("error", "spans"):
            if record[optional] is None:
                del record[optional]
        return record

    @classmethod
    def from_record(cls, record: dict) -> "Rationale":
        return cls(
            id=str(record["id"]),
            question=record["question"],
            answer=str(record["answer"]),
            rationale=record["rationale"],
            teacher_answer=record.get("teacher_answer"),
            correct=bool(record["correct"]),
            teacher=record["teacher"],
            sample=int(record.get("sample", 0)),
            error=record.get("error"),
            spans=record.get("spans"),
        )


@dataclass(frozen=True)
class TeacherRequest:
    """One rationale to ask for: a question and which of its samples this is."""

    example: Example
    sample: int = 0


@dataclass(frozen=True)
class TeacherOutput:
    """What a back-end returns for one request, before cleaning.

    reasoning: the raw stage-1 text; answer_text: the raw stage-2 text, when the back-end
    asked a second time (else the answer is read from the reasoning); error: why the request
    failed for good; teacher: who wrote it, when not the back-end itself (replay); spans:
    labels of the rationale's characters, when the back-end knows them (template).
    """

    reasoning: str = ""
    answer_text: str | None = None
    error: str | None = None
    teacher: str | None = None
    spans: list | None = None


class TeacherBackend(Protocol):
    """A teacher: yields one output per request, in any order, as soon as each is done."""

    name: str

    def generate(
        self, requests: Sequence[TeacherRequest], *, temperature: float, max_tokens: int, seed: int
    ) -> Iterator[tuple[TeacherRequest, TeacherOutput]]: ...


class TeacherError(ConfigError):
    """The teacher cannot run as asked (wrong back-end for the data, a missing replay entry,
    a rejected key...): a problem to fix before running again, not one to retry."""
