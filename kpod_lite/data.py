"""The data layer: questions in, normalised answers out, rationales cut into steps.

KPOD (Feng et al., ICML 2024) starts from a dataset D = {(x_i, y_i)} of reasoning questions
and their answers (§3.1), evaluated on GSM8K, ASDiv, SVAMP and CommonsenseQA (§4.1, App. A,
Table 4). This module reads those benchmarks in their own file formats and turns every
problem into one record type, `Example`; it also holds the three pieces of text handling the
rest of the pipeline leans on:

* **answers** -- the teacher and the student both end with the §3.1 template sentence
  "Therefore, the answer is <y>" (`kpod_lite.templates.ANSWER_TRIGGER`). `extract_answer` reads y back out of free
  text (Kojima et al.'s answer cleansing), `normalize_answer` gives every answer one canonical
  spelling ("1,250" -> "1250", "18.0" -> "18", "(b)" -> "B") and `answers_match` compares two.
* **steps** -- §3.4: "we utilize the symbol '.' to separate steps in a rationale".
  `split_steps` does exactly that, minus the dots that do not end a sentence (decimals,
  abbreviations, ellipses), and keeps character offsets so token weights can be summed per
  step (Eq. 8).
* **records on disk** -- JSON Lines helpers, one of which (`append_jsonl` with
  `read_jsonl(..., tolerate_truncated_tail=True)`) survives being killed in the middle of a
  write, which is what the teacher cache needs.

Formats read by `load_examples(path, fmt)`
------------------------------------------
``gsm8k``        JSON Lines ``{"question", "answer"}``; ``answer`` is a worked solution with
                 calculator notes (``<<48/2=24>>``) and a last line ``#### 72``. The solution
                 above that line is kept, notes and all, as ``meta["solution"]``.
``svamp``        a JSON list of ``{"ID", "Body", "Question", "Equation", "Answer", "Type"}``;
                 the question is Body + " " + Question, ``Answer`` is a float (8.0).
``asdiv``        XML, ``<Machine-Reading-Corpus-File><ProblemSet><Problem ID Grade Source>``
                 with ``<Body> <Question> <Solution-Type> <Answer> <Formula>`` children; the
                 answer carries a unit, ``9 (apples)``, kept as ``meta["unit"]``.
``csqa``         JSON Lines ``{"answerKey", "id", "question": {"question_concept", "choices":
                 [{"label", "text"}], "stem"}}``.
``instruction``  a JSON list of ``{"instruction", "output", "label"}`` as used by earlier CoT
                 distillation work; multiple-choice instructions embed
                 "Answer Choices: (A) ... (B) ...", and ``output`` (a teacher rationale) is
                 kept as ``meta["output"]``.
``kpod``         our own JSON Lines question records
                 ``{"id", "dataset", "question", "answer", "choices"?, "meta"?}``, written by
                 `save_examples`.

Nothing is dropped silently: source fields that are not the id, question, answer or choices
go into ``Example.meta`` under their source name (derived values get lower-case names:
``solution``, ``unit``). A source without ids gets ``<dataset>-<line>`` (JSON Lines, 1-based
line number) or ``<dataset>-<index>`` (JSON list, 0-based index). A bad record raises
`DataFormatError` naming the file, the line (or the record index and ID) and the field.

>>> normalize_answer("$1,250.00")
'1250'
>>> extract_answer("48 / 2 = 24 clips in May. Therefore, the answer is 72.", "number")
'72'
>>> [s.text for s in split_steps("Each pen costs $1.50, e.g. at Mr. Lee's shop. So 3 cost $4.50.")]
["Each pen costs $1.50, e.g. at Mr. Lee's shop.", 'So 3 cost $4.50.']
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, Callable

try:  # defusedxml refuses entity-expansion tricks; plain ElementTree is fine for local files
    from defusedxml.ElementTree import parse as _parse_xml
except ImportError:  # pragma: no cover - depends on the environment
    from xml.etree.ElementTree import parse as _parse_xml
from xml.etree.ElementTree import Element, ParseError
from xml.parsers.expat import errors as expat_errors

from kpod_lite.templates import ANSWER_TRIGGERS

__all__ = [
    "ABBREVIATIONS",
    "FORMATS",
    "NUMBER_PATTERN",
    "DataFormatError",
    "Example",
    "Step",
    "load_examples",
    "save_examples",
    "write_atomically",
    "write_jsonl",
    "read_jsonl",
    "append_jsonl",
    "normalize_answer",
    "extract_answer",
    "answers_match",
    "split_steps",
]


logger = logging.getLogger(__name__)

FORMATS = ("gsm8k", "svamp", "asdiv", "csqa", "instruction", "kpod")


# ----------------------------------------------------------------------------------------
# Records
# ----------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class Step:
    """One reasoning step of a rationale (§3.4): ``text == rationale[start:end]``."""

    text: str
    start: int
    end: int


# ----------------------------------------------------------------------------------------
# Answers: normalisation, extraction, comparison
# ----------------------------------------------------------------------------------------

# One number as people write it in word problems and rationales: an optional sign, an
# optional "$", digits with optional thousands commas, an optional decimal part; or ".5".
# The lookbehind keeps it from starting inside a word ("x2") or in the middle of a number.
# Scientific notation ("1e3") is deliberately not a number here: the benchmarks never write
# answers that way, and "2e" glued to a word is more likely a typo than 2 x 10^e.
NUMBER_PATTERN = re.compile(
    r"""
    (?<![\w.])
    [-+\u2212]?\$?
    (?:
        (?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?
      | \.[0-9]+
    )
    """,
    re.VERBOSE,
)

# "9 (apples)": ASDiv writes the unit in parentheses after the value.
_UNIT_SUFFIX = re.compile(r"^(?P<value>.*?)\s*\((?P<unit>[^()]*)\)\s*$", re.DOTALL)

_CHOICE_ANSWER = re.compile(r"\(?\s*([A-Za-z])\s*\)?\.?")


def _split_unit(text: str) -> tuple[str, str | None]:
    match = _UNIT_SUFFIX.match(text)
    if match and match.group("value"):
        return match.group("value"), match.group("unit").strip()
    return text, None


def _canonical_number(number: str) -> str:
    """The canonical spelling of a NUMBER_PATTERN match: no sign noise, commas, $ or zeros."""
    negative = number[0] in "-\u2212"
    digits = number.lstrip("+-\u2212$").replace(",", "")
    whole, _, fraction = digits.partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    canonical = f"{whole}.{fraction}" if fraction else whole
    if negative and canonical != "0":  # "-0.0" is zero, and zero has no sign
        canonical = "-" + canonical
    return canonical


def normalize_answer(text: str | int | float, kind: str = "number") -> str | None:
    """One spelling per answer, so that answers can be compared as strings; None if unparseable.

    kind="number": "1,234" -> "1234", "$1.50" -> "1.5", "18.0" -> "18", "+7" -> "7",
    ".5" -> "0.5", "9 (apples)" -> "9", "50%" -> "50", "72." -> "72"; ints and floats are
    accepted too (SVAMP stores 8.0). Anything else around the number -- "12 apples" --
    makes it unparseable, and so does scientific notation ("1e3").
    kind="choice": "(B)", "b", "B.", "B)" -> "B".
    """
    if kind == "choice":
        if not isinstance(text, str):
            return None
        match = _CHOICE_ANSWER.fullmatch(text.strip())
        return match.group(1).upper() if match else None
    if kind != "number":
        raise ValueError(f"unknown answer kind {kind!r}; choose 'number' or 'choice'")
    if isinstance(text, bool):  # True is an int to Python, never an answer to a word problem
        return None
    if isinstance(text, int):
        return str(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            return None
        return _canonical_number(format(Decimal(repr(text)), "f"))
    if not isinstance(text, str):
        return None
    value, _unit = _split_unit(text.strip())
    value = value.strip()
    value = value.removesuffix(".").removesuffix("%").strip()  # "72." ends a sentence, "%" is a unit
    if not NUMBER_PATTERN.fullmatch(value):
        return None
    return _canonical_number(value)


def _trigger_pattern(triggers: Iterable[str]) -> re.Pattern:
    longest_first = sorted(triggers, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in longest_first), re.IGNORECASE)


_TRIGGER = _trigger_pattern(ANSWER_TRIGGERS)


# After "A" or "I", these words show the letter is an option ("A is wrong", "I because");
# any other lower-case word makes it the article or the pronoun ("A bank", "I think").
_WORDS_AFTER_AN_OPTION = frozenset({"is", "was", "because", "since", "as", "and", "or", "which", "seems"})
_NEXT_WORD = re.compile(r"\s+([a-z]+)")


def _is_english_word(text: str, letter: re.Match) -> bool:
    if letter.group(1) not in "AI":
        return False
    following = _NEXT_WORD.match(text, letter.end(1))
    return following is not None and following.group(1) not in _WORDS_AFTER_AN_OPTION


@lru_cache(maxsize=16)  # evaluation calls extract_answer once per example with the same letters
def _choice_patterns(letters: str) -> tuple[list[tuple[re.Pattern, bool]], list[tuple[re.Pattern, bool]]]:
    """Regexes for an option letter, each with whether to apply the "A"/"I" word check:
    (forms read anywhere, forms read only right after a trigger).

    A capital glued to letters, digits, apostrophes, hyphens or dots is part of a word
    ("Carl", "Dad's", "U.S.A."), never an option; a letter without brackets or a dot of its
    own also has to pass `_is_english_word`.
    """
    upper = re.escape(letters.upper())
    lower = re.escape(letters.lower())
    alone_before = r"(?<![\w'\u2019.\-(])"
    alone_after = r"(?![\w'\u2019\-])"
    anywhere = [
        (re.compile(rf"\(\s*([{upper}{lower}])\s*\)"), False),  # (C)  (c)
        (re.compile(rf"{alone_before}([{upper}])\)"), False),  # C)
        (re.compile(rf"{alone_before}([{upper}])\.(?!\w)"), False),  # C.
        (re.compile(rf"\b(?i:option|choice)\s+([{upper}]){alone_after}"), True),  # option C
        (re.compile(rf"\b(?i:answer)\s*(?:(?i:is)\s*)?:?\s*([{upper}]){alone_after}"), True),  # answer is C
    ]
    after_trigger = [
        (re.compile(rf"{alone_before}([{upper}]){alone_after}"), True),  # C
        (re.compile(rf"{alone_before}([{lower}])(?=\s*(?:[,;:!?)]|\.(?!\w)|$))"), False),  # c.
    ]
    return anywhere, after_trigger


def _letters_in_text(text: str, patterns: list[tuple[re.Pattern, bool]]) -> list[tuple[int, str]]:
    found = []
    for pattern, check_word in patterns:
        for match in pattern.finditer(text):
            if not (check_word and _is_english_word(text, match)):
                found.append((match.start(1), match.group(1)))
    return sorted(found)


def extract_answer(text: str, kind: str, *, labels: Iterable[str] | None = None) -> str | None:
    """Read the final answer out of a rationale (Kojima et al., 2022, answer cleansing).

    If an answer trigger occurs (`ANSWER_TRIGGERS`, case-insensitive), the answer is the
    FIRST number / option letter after the LAST trigger -- and None if nothing follows it.
    Without a trigger it is the LAST number in the text, or for kind="choice" the last
    explicit option letter: "(C)", "C)", "C.", "answer is C", "option C". A bare capital
    without such marks only counts right after a trigger. A capital inside a word ("Carl",
    "Dad's") never counts, nor does an unmarked "A" or "I" followed by a lower-case word
    ("A bank", "I think"), except a few that show it is an option ("A is", "A because").
    `labels` limits the option letters
    (default "ABCDE", CommonsenseQA's five; pass ``example.choices`` to use its own).
    Returns the normalised answer.
    """
    if kind not in ("number", "choice"):
        raise ValueError(f"unknown answer kind {kind!r}; choose 'number' or 'choice'")
    triggers = list(_TRIGGER.finditer(text))
    tail = text[triggers[-1].end():] if triggers else text
    if kind == "number":
        numbers = [m.group() for m in NUMBER_PATTERN.finditer(tail)]
        if not numbers:
            return None
        return _canonical_number(numbers[0] if triggers else numbers[-1])
    if labels is None:
        labels = "ABCDE"
    letters = "".join(sorted({label.upper() for label in labels if len(label) == 1 and label.isalpha()}))
    if not letters:
        return None
    anywhere, after_trigger = _choice_patterns(letters)
    found = _letters_in_text(tail, anywhere + after_trigger if triggers else anywhere)
    if not found:
        return None
    _, letter = found[0] if triggers else found[-1]
    return letter.upper()


def answers_match(
    pred: str | int | float | None, gold: str | int | float, kind: str = "number", tol: float = 1e-4
) -> bool:
    """Whether a predicted answer equals the gold one: numbers within an absolute OR a
    relative tolerance `tol`, choices as the same letter. Unparseable answers never match."""
    if pred is None:
        return False
    p, g = normalize_answer(pred, kind), normalize_answer(gold, kind)
    if p is None or g is None:
        return False
    if kind == "choice":
        return p == g
    difference = abs(float(p) - float(g))
    return difference <= tol or difference <= tol * abs(float(g))


# ----------------------------------------------------------------------------------------
# Steps (§3.4)
# ----------------------------------------------------------------------------------------

# Abbreviations whose final "." never ends a sentence (a name or an example always follows) ...
_NEVER_FINAL = ("e.g.", "i.e.", "Mr.", "Mrs.", "Ms.", "Dr.", "vs.")
# ... and those that may: "apples, pears, etc. Then she ..." ends a sentence, while
# "apples, pears, etc. are fruit" does not. Ours: they end a step exactly when the next
# word starts with a capital (or nothing follows).
_MAYBE_FINAL = ("etc.", "a.m.", "p.m.")
ABBREVIATIONS = _NEVER_FINAL + _MAYBE_FINAL

_CLOSERS = "\"')]\u201d\u2019"  # a step keeps the quote or bracket its sentence closes
_LIST_MARKER = re.compile(r"[ \t]*[0-9]{1,3}")  # "1." opening a line numbers a list


def _abbreviation_ending_at(text: str, end: int) -> str | None:
    for abbreviation in ABBREVIATIONS:
        start = end - len(abbreviation)
        if start >= 0 and text[start:end].lower() == abbreviation.lower():
            if start == 0 or not text[start - 1].isalpha():
                return abbreviation
    return None


def _step_ends(text: str) -> Iterator[int]:
    """Offsets just after each sentence-ending "." (plus any closing quotes/brackets)."""
    for dot in re.finditer(r"\.+", text):
        if len(dot.group()) > 1:  # an ellipsis: the thought goes on
            continue
        end = dot.end()
        while end < len(text) and text[end] in _CLOSERS:
            end += 1
        if end < len(text) and not text[end].isspace():  # "3.5", "e.g", "example.com"
            continue
        abbreviation = _abbreviation_ending_at(text, dot.end())
        if abbreviation in _NEVER_FINAL:
            continue
        if abbreviation in _MAYBE_FINAL:
            rest = text[end:].lstrip()
            if rest and not rest[0].isupper():
                continue
        line_start = text.rfind("\n", 0, dot.start()) + 1
        if _LIST_MARKER.fullmatch(text, line_start, dot.start()):
            continue
        yield end


def split_steps(text: str) -> list[Step]:
    """Cut a rationale into reasoning steps at sentence-ending "." (§3.4, used by Eq. 8).

    A "." ends a step when whitespace or the end of the text follows it (after any closing
    quotes or brackets, which stay with the step), and it is not
    * part of a number -- "3.5", "$1.50", ".5" (a digit follows, so no space does);
    * part of an ellipsis "..." -- never a boundary, not even at its end;
    * the end of an abbreviation in `ABBREVIATIONS` -- "e.g.", "i.e.", "Mr.", "Mrs.", "Ms.",
      "Dr.", "vs." never end a step; "etc.", "a.m.", "p.m." end one only before a capital;
    * a list number opening a line ("1. ", "2. ").
    "?" and "!" do not split, as in the paper. Text after the last boundary is a final step;
    text without a boundary is one step; empty or whitespace-only text has none. Each step
    keeps its "." and excludes the whitespace around it, which belongs to no step.
    """
    steps: list[Step] = []
    start = 0
    for end in [*_step_ends(text), len(text)]:
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            step_start = start + (len(piece) - len(piece.lstrip()))
            steps.append(Step(stripped, step_start, step_start + len(stripped)))
        start = end
    return steps


# ----------------------------------------------------------------------------------------
# JSON Lines
# ----------------------------------------------------------------------------------------


def _jsonl_objects(path: str | os.PathLike) -> Iterator[tuple[int, Any, bool]]:
    """(line number, parsed object or DataFormatError, whether that line lacks its newline)."""
    with open(path, "rb") as handle:  # bytes: split on "\n" only, never on U+2028 in a string
        for line_no, raw in enumerate(handle, start=1):
            unterminated = not raw.endswith(b"\n")
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw.decode("utf-8-sig" if line_no == 1 else "utf-8"))
            except UnicodeDecodeError as error:
                message = f"not valid UTF-8 ({error.reason})"
                yield line_no, DataFormatError(path, line_no, None, message), unterminated
                continue
            except json.JSONDecodeError as error:
                message = f"invalid JSON: {error.msg} (column {error.colno})"
                yield line_no, DataFormatError(path, line_no, None, message), unterminated
                continue
            yield line_no, obj, False


def read_jsonl(
    path: str | os.PathLike, *, tolerate_truncated_tail: bool = False
) -> Iterator[tuple[int, dict]]:
    """Yield (1-based line number, object) for each non-blank line of a JSON Lines file.

    A line that is not a JSON object raises `DataFormatError` with its line number. With
    ``tolerate_truncated_tail=True`` the one exception is the last line when it lacks its
    newline and does not parse: that is what a process killed in the middle of
    `append_jsonl` leaves behind, and it is skipped. A bad line anywhere else still raises.
    """
    for line_no, obj, unterminated in _jsonl_objects(path):
        if isinstance(obj, DataFormatError):
            if tolerate_truncated_tail and unterminated:
                logger.warning("%s:%d: ignoring a truncated last line", path, line_no)
                return
            raise obj
        if not isinstance(obj, dict):
            raise DataFormatError(path, line_no, None, f"expected a JSON object, got {type(obj).__name__}")
        yield line_no, obj


def _dump_line(record: dict) -> bytes:
    return (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")


def _drop_torn_tail(path: Path) -> None:
    """Before appending: a last line without its newline is a torn write (drop it) or a
    hand-written file without a final newline (end it), so the new line stands alone.

    Only the end of the file is read, so an append costs the same however large the cache is.
    """
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # Walk back block by block to the start of the last line.
        cut, block = size, 1 << 16
        while cut > 0:
            start = max(0, cut - block)
            handle.seek(start)
            newline = handle.read(cut - start).rfind(b"\n")
            if newline >= 0:
                cut = start + newline + 1
                break
            cut = start
        handle.seek(cut)
        tail = handle.read()
    try:
        json.loads(tail.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        logger.warning("%s: dropping a truncated last line before appending", path)
        with open(path, "r+b") as handle:
            handle.truncate(cut)
        return
    with open(path, "ab") as handle:
        handle.write(b"\n")


def append_jsonl(path: str | os.PathLike, record: dict) -> None:
    """Append one JSON object as one line, flushed and fsync'ed before returning.

    The line is written with a single write() on a file opened for appending, so a crash
    leaves at worst a last line without its newline, which `read_jsonl` can be told to
    ignore and the next append removes. Meant for one writer at a time.
    """
    if not isinstance(record, dict):
        raise TypeError(f"append_jsonl writes dicts, got {type(record).__name__}")
    line = _dump_line(record)  # serialise first: a TypeError must not leave half a line
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        _drop_torn_tail(path)
    with open(path, "ab") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomically(path: str | os.PathLike, content: str | bytes) -> None:
    """Write a whole file next to its destination and rename it into place.

    A reader sees the old file or the new one, never half of one; a pipeline stage whose
    output exists therefore finished.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = content.encode("utf-8") if isinstance(content, str) else content
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> None:
    """Write records as JSON Lines, atomically (see `write_atomically`)."""
    write_atomically(path, b"".join(_dump_line(record) for record in records))


def save_examples(path: str | os.PathLike, examples: Iterable[Example]) -> None:
    """Write examples as kpod-format JSON Lines; `load_examples(path, "kpod")` reads them back."""
    write_jsonl(path, (example.to_record() for example in examples))


# ----------------------------------------------------------------------------------------
# Loaders: each source yields (location, position, raw record); each converter makes an Example
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Location:
    path: str
    line: int | None = None
    record: str | None = None

    def error(self, field: str | None, message: str) -> DataFormatError:
        return DataFormatError(self.path, self.line, field, message, record=self.record)

    def __str__(self) -> str:
        return f"line {self.line}" if self.line is not None else str(self.record)


def _jsonl_source(path) -> Iterator[tuple[_Location, int, Any]]:
    for line_no, obj, _ in _jsonl_objects(path):
        location = _Location(str(path), line_no)
        if not isinstance(obj, (dict, DataFormatError)):
            obj = location.error(None, f"expected a JSON object, got {type(obj).__name__}")
        yield location, line_no, obj


def _record_label(index: int, record_id: Any) -> str:
    return f"record [{index}]" + (f" (ID {record_id!r})" if record_id is not None else "")


def _json_list_source(path, *, id_key: str | None = None) -> Iterator[tuple[_Location, int, Any]]:
    with open(path, encoding="utf-8-sig") as handle:
        try:
            items = json.load(handle)
        except json.JSONDecodeError as error:
            message = f"invalid JSON: {error.msg} (column {error.colno})"
            raise DataFormatError(path, error.lineno, None, message) from None
    if not isinstance(items, list):
        message = f"expected a JSON list of records, got {type(items).__name__}"
        raise DataFormatError(path, None, None, message)
    for index, item in enumerate(items):
        record_id = item.get(id_key) if id_key and isinstance(item, dict) else None
        location = _Location(str(path), None, _record_label(index, record_id))
        if not isinstance(item, dict):
            item = location.error(None, f"expected a JSON object, got {type(item).__name__}")
        yield location, index, item


_ASDIV_ROOT, _ASDIV_SET, _ASDIV_PROBLEM = "Machine-Reading-Corpus-File", "ProblemSet", "Problem"


def _asdiv_source(path) -> Iterator[tuple[_Location, int, Any]]:
    try:
        root = _parse_xml(path).getroot()
    except ParseError as error:
        line, column = error.position
        reason = expat_errors.messages.get(error.code, str(error))
        raise DataFormatError(path, line, None, f"invalid XML: {reason} (column {column + 1})") from None
    except ValueError as error:  # defusedxml: entities, external references
        raise DataFormatError(path, None, None, f"refused XML: {error}") from None
    if root.tag != _ASDIV_ROOT:
        raise DataFormatError(path, None, None, f"root element is <{root.tag}>, expected <{_ASDIV_ROOT}>")
    index = 0
    for problem_set in root:
        if problem_set.tag != _ASDIV_SET:
            message = f"unexpected element <{problem_set.tag}> in <{_ASDIV_ROOT}>, expected <{_ASDIV_SET}>"
            raise DataFormatError(path, None, None, message)
        for problem in problem_set:
            location = _Location(str(path), None, _record_label(index, problem.get("ID")))
            if problem.tag != _ASDIV_PROBLEM:
                message = f"unexpected element <{problem.tag}>, expected <{_ASDIV_PROBLEM}>"
                problem = location.error(None, message)
            yield location, index, problem
            index += 1


def _required(
    raw: dict,
    key: str,
    where: _Location,
    *,
    field_name: str | None = None,
    kind: type | tuple[type, ...] = str,
    allow_empty: bool = False,
) -> Any:
    name = field_name or key
    if key not in raw:
        raise where.error(name, "missing")
    value = raw[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        wanted = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise where.error(name, f"expected {wanted}, got {type(value).__name__}")
    if isinstance(value, str) and not value.strip() and not allow_empty:
        raise where.error(name, "empty")
    return value


def _answer(value: Any, kind: str, where: _Location, field_name: str) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise where.error(field_name, f"expected a string or a number, got {type(value).__name__}")
    answer = normalize_answer(value, kind)
    if answer is None:
        wanted = "a number" if kind == "number" else "an option letter"
        raise where.error(field_name, f"cannot parse {value!r} as {wanted}")
    return answer


def _check_choice(answer: str, choices: dict[str, str], where: _Location, field_name: str) -> None:
    if answer not in choices:
        raise where.error(field_name, f"answer {answer!r} is not one of the options {list(choices)}")


def _meta(derived: dict, raw: dict, core: Iterable[str], where: _Location) -> dict:
    """Derived values plus every source field that is not a core one, under its own name."""
    meta = dict(derived)
    for key, value in raw.items():
        if key in core:
            continue
        if key in meta:
            raise where.error(key, f"clashes with the derived meta field {key!r}")
        meta[key] = value
    return meta


def _from_gsm8k(raw: dict, where: _Location, position: int) -> Example:
    question = _required(raw, "question", where)
    worked = _required(raw, "answer", where)
    solution, marker, final = worked.rpartition("####")
    if not marker:
        raise where.error("answer", "no final '#### <answer>' line after the worked solution")
    answer = _answer(final.strip(), "number", where, "answer")
    meta = _meta({"solution": solution.rstrip()}, raw, ("question", "answer"), where)
    return Example(f"gsm8k-{position}", question.strip(), answer, None, "gsm8k", meta)


def _from_svamp(raw: dict, where: _Location, position: int) -> Example:
    body = _required(raw, "Body", where, allow_empty=True) if "Body" in raw else ""
    question = _required(raw, "Question", where)
    if "Answer" not in raw:
        raise where.error("Answer", "missing")
    answer = _answer(raw["Answer"], "number", where, "Answer")
    record_id = str(raw["ID"]) if "ID" in raw else f"svamp-{position}"
    full_question = f"{body.strip()} {question.strip()}".strip()
    return Example(record_id, full_question, answer, None, "svamp", _meta({}, raw, ("ID", "Answer"), where))


def _from_asdiv(problem: Element, where: _Location, position: int) -> Example:
    children: dict[str, str] = {}
    for child in problem:
        if child.tag in children:
            raise where.error(child.tag, "appears twice")
        children[child.tag] = "".join(child.itertext()).strip()
    body = children.get("Body", "")
    question = _required(children, "Question", where)
    raw_answer = _required(children, "Answer", where)
    value, unit = _split_unit(raw_answer)
    answer = _answer(value, "number", where, "Answer")
    record_id = problem.get("ID") or f"asdiv-{position}"
    # attributes (Grade, Source) and elements (Body, Question, Solution-Type, Formula) alike
    fields = {**problem.attrib, **children}
    meta = _meta({"unit": unit} if unit else {}, fields, ("ID", "Answer"), where)
    return Example(record_id, f"{body} {question}".strip(), answer, None, "asdiv", meta)


def _from_csqa(raw: dict, where: _Location, position: int) -> Example:
    record_id = str(_required(raw, "id", where))
    inner = _required(raw, "question", where, kind=dict)
    stem = _required(inner, "stem", where, field_name="question.stem")
    options = _required(inner, "choices", where, field_name="question.choices", kind=list)
    choices: dict[str, str] = {}
    for i, option in enumerate(options):
        name = f"question.choices[{i}]"
        if not isinstance(option, dict):
            got = type(option).__name__
            raise where.error(name, f"expected an object with 'label' and 'text', got {got}")
        label = normalize_answer(_required(option, "label", where, field_name=f"{name}.label"), "choice")
        if label is None or label in choices:
            raise where.error(f"{name}.label", f"bad or repeated option label {option['label']!r}")
        choices[label] = _required(option, "text", where, field_name=f"{name}.text").strip()
    if not choices:
        raise where.error("question.choices", "empty")
    answer = _answer(_required(raw, "answerKey", where), "choice", where, "answerKey")
    _check_choice(answer, choices, where, "answerKey")
    inner_meta = _meta({}, inner, ("stem", "choices"), where)
    meta = _meta(inner_meta, raw, ("id", "question", "answerKey"), where)
    return Example(record_id, stem.strip(), answer, choices, "csqa", meta)


_ANSWER_CHOICES = re.compile(r"answer\s+choices\s*:", re.IGNORECASE)
_OPTION = re.compile(r"\(([A-Za-z])\)\s*(.*?)\s*(?=\([A-Za-z]\)|\Z)", re.DOTALL)


def _from_instruction(raw: dict, where: _Location, position: int) -> Example:
    instruction = _required(raw, "instruction", where)
    if "label" not in raw:
        raise where.error("label", "missing")
    split = _ANSWER_CHOICES.search(instruction)
    choices = None
    question = instruction
    if split:
        question = instruction[: split.start()]
        choices = {}
        for letter, text in _OPTION.findall(instruction[split.end():]):
            if letter.upper() in choices:
                raise where.error("instruction", f"option ({letter}) appears twice")
            choices[letter.upper()] = text
        if not choices:
            raise where.error("instruction", "'Answer Choices:' is not followed by '(A) ...' options")
    answer = _answer(raw["label"], "choice" if choices else "number", where, "label")
    if choices:
        _check_choice(answer, choices, where, "label")
    if not question.strip():
        raise where.error("instruction", "no question before 'Answer Choices:'")
    meta = _meta({}, raw, ("instruction", "label"), where)
    return Example(f"instruction-{position}", question.strip(), answer, choices, "instruction", meta)


def _from_kpod(raw: dict, where: _Location, position: int) -> Example:
    record_id = _required(raw, "id", where, kind=(str, int))
    question = _required(raw, "question", where)
    dataset = _required(raw, "dataset", where, allow_empty=True) if "dataset" in raw else ""
    choices = None
    if raw.get("choices"):
        choices = _required(raw, "choices", where, kind=dict)
        for label, text in choices.items():
            if normalize_answer(label, "choice") != label or not isinstance(text, str):
                message = f"expected {{'A': 'text', ...}}, got the entry {label!r}: {text!r}"
                raise where.error("choices", message)
    if "answer" not in raw:
        raise where.error("answer", "missing")
    answer = _answer(raw["answer"], "choice" if choices else "number", where, "answer")
    if choices:
        _check_choice(answer, choices, where, "answer")
    meta = _required(raw, "meta", where, kind=dict) if "meta" in raw else {}
    # a richer record (e.g. a rationale line) loads too: its extra fields join meta
    meta = _meta(meta, raw, ("id", "dataset", "question", "answer", "choices", "meta"), where)
    return Example(str(record_id), question, answer, choices, dataset, meta)


_Source = Callable[[Any], Iterator[tuple[_Location, int, Any]]]
_LOADERS: dict[str, tuple[_Source, Callable[[Any, _Location, int], Example]]] = {
    "gsm8k": (_jsonl_source, _from_gsm8k),
    "svamp": (partial(_json_list_source, id_key="ID"), _from_svamp),
    "asdiv": (_asdiv_source, _from_asdiv),
    "csqa": (_jsonl_source, _from_csqa),
    "instruction": (_json_list_source, _from_instruction),
    "kpod": (_jsonl_source, _from_kpod),
}
assert tuple(_LOADERS) == FORMATS


def load_examples(
    path: str | os.PathLike,
    fmt: str,
    *,
    skip_invalid: bool = False,
    errors: list | None = None,
) -> list[Example]:
    """Read a benchmark file in format `fmt` (see the module docstring) into `Example`s.

    A bad record raises `DataFormatError`. With ``skip_invalid=True`` it is skipped instead,
    appended to `errors` when a list is given, and a warning says how many were skipped.
    Problems with the file as a whole (not JSON, not XML, wrong root) always raise. Ids must
    be unique within a file.
    """
    if fmt not in _LOADERS:
        raise ValueError(f"unknown data format {fmt!r}; choose one of {', '.join(FORMATS)}")
    source, convert = _LOADERS[fmt]
    examples: list[Example] = []
    skipped: list[DataFormatError] = []
    first_seen: dict[str, _Location] = {}
    for where, position, raw in source(path):
        try:
            if isinstance(raw, DataFormatError):
                raise raw
            example = convert(raw, where, position)
            if example.id in first_seen:
                raise where.error("id", f"duplicate id {example.id!r} (first at {first_seen[example.id]})")
        except DataFormatError as error:
            if not skip_invalid:
                raise
            skipped.append(error)
            continue
        first_seen[example.id] = where
        examples.append(example)
    if skipped:
        if errors is not None:
            errors.extend(skipped)
        logger.warning(
            "%s: skipped %d invalid record(s), kept %d; first problem: %s",
            path, len(skipped), len(examples), skipped[0],
        )
    return examples
