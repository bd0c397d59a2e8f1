"""Benchmark files in their own formats, read into `Example`s (§4.1, App. A, Table 4).

Each format is a source, which yields (location, position, raw record) for every record of
a file, and a converter, which checks one raw record and makes an `Example` of it; the
formats themselves are described in the package docstring (`kpod_lite.data`).
`save_examples` writes the kpod format that `load_examples(path, "kpod")` reads back.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

try:  # defusedxml refuses entity-expansion tricks; plain ElementTree is fine for local files
    from defusedxml.ElementTree import parse as _parse_xml
except ImportError:  # pragma: no cover - depends on the environment
    from xml.etree.ElementTree import parse as _parse_xml
from xml.etree.ElementTree import Element, ParseError
from xml.parsers.expat import errors as expat_errors

from kpod_lite.data.answers import _split_unit, normalize_answer
from kpod_lite.data.choices import parse_answer_choices
from kpod_lite.data.jsonl import _jsonl_objects, write_jsonl
from kpod_lite.data.records import DataFormatError, Example, LoadReport, UnusableRecordError

logger = logging.getLogger("kpod_lite.data")  # the data layer's one logger (see jsonl.py)

FORMATS = ("gsm8k", "svamp", "asdiv", "csqa", "instruction", "kpod")


@dataclass(frozen=True)
class _Location:
    path: str
    line: int | None = None
    record: str | None = None

    def error(self, field: str | None, message: str) -> DataFormatError:
        return DataFormatError(self.path, self.line, field, message, record=self.record)

    def unusable(self, field: str, message: str, reason: str) -> UnusableRecordError:
        return UnusableRecordError(self.path, self.line, field, message, record=self.record, reason=reason)

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


_RATIO = re.compile(r"\s*[0-9.,]+\s*:\s*[0-9.,]+\s*(?::\s*[0-9.,]+\s*)*")


def _answer(value: Any, kind: str, where: _Location, field_name: str) -> str:
    """The normalised answer; a value that is there but no number / option letter is unusable
    (skipped and counted), a value of the wrong JSON type is a malformed record."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise where.error(field_name, f"expected a string or a number, got {type(value).__name__}")
    answer = normalize_answer(value, kind)
    if answer is not None:
        return answer
    if kind != "number":
        raise where.unusable(field_name, f"cannot parse {value!r} as an option letter", "answer is not an option letter")
    text = str(value)
    if not text.strip():
        raise where.unusable(field_name, "empty: the record has no answer", "no answer")
    if ";" in text:  # ASDiv: "3 (hours); 20 (minutes)"
        reason = "several answers, not one number"
    elif _RATIO.fullmatch(_split_unit(text)[0]):  # ASDiv: "5:4"
        reason = "answer is a ratio, not one number"
    else:  # ASDiv: "Mrs. Hilt"; GSM8K "#### 12 apples and"
        reason = "answer is not a number"
    raise where.unusable(field_name, f"cannot parse {value!r} as a number", reason)


def _check_choice(answer: str, choices: dict[str, str], where: _Location, field_name: str) -> None:
    if answer not in choices:
        message = f"answer {answer!r} is not one of the options {list(choices)}"
        raise where.unusable(field_name, message, "answer is not one of the options")


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
    if "answerKey" not in raw:  # the official test split has no labels
        raise where.unusable("answerKey", "missing: an unlabelled record", "no answer (unlabelled)")
    answer = _answer(_required(raw, "answerKey", where, allow_empty=True), "choice", where, "answerKey")
    _check_choice(answer, choices, where, "answerKey")
    inner_meta = _meta({}, inner, ("stem", "choices"), where)
    meta = _meta(inner_meta, raw, ("id", "question", "answerKey"), where)
    return Example(record_id, stem.strip(), answer, choices, "csqa", meta)


_ANSWER_CHOICES = re.compile(r"answer\s+choices\s*:", re.IGNORECASE)
def _from_instruction(raw: dict, where: _Location, position: int) -> Example:
    instruction = _required(raw, "instruction", where)
    if "label" not in raw:
        raise where.error("label", "missing")
    split = _ANSWER_CHOICES.search(instruction)
    choices = None
    question = instruction
    if split:
        question = instruction[: split.start()]
        choices = parse_answer_choices(instruction[split.end():])
        if choices is None:
            message = ("the options after 'Answer Choices:' are in no known layout "
                       "('(A) x (B) y' inline, or one '(A) x' / 'A. x' / 'A) x' a line, from A on)")
            raise where.unusable("instruction", message, "options in no known layout")
    if not question.strip():
        raise where.error("instruction", "no question before 'Answer Choices:'")
    answer = _answer(raw["label"], "choice" if choices else "number", where, "label")
    if choices:
        _check_choice(answer, choices, where, "label")
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
    strict: bool = False,
) -> list[Example]:
    """Read a benchmark file in format `fmt` (see the `kpod_lite.data` docstring) into `Example`s.

    A record whose content cannot be used (`UnusableRecordError`: an answer that is a name, a
    ratio, several values; options in no known layout) is skipped and counted, and one warning
    sums the skips up; ``strict=True`` raises on it instead. A malformed record (not an object,
    a field missing or of the wrong type, a duplicate id) raises `DataFormatError`; with
    ``skip_invalid=True`` it is skipped and counted too. Every skipped record's error is
    appended to `errors` when a list is given. A file that is not the format at all (not JSON,
    not XML, the wrong root, no record of the format in it) always raises. Ids must be unique
    within a file. `load_examples_with_report` returns the counts as well.
    """
    examples, report = _load(path, fmt, skip_invalid=skip_invalid, strict=strict, errors=errors)
    if report.skipped:
        logger.warning("%s", report.summary())
    return examples


def load_examples_with_report(
    path: str | os.PathLike, fmt: str, *, skip_invalid: bool = False, strict: bool = False
) -> tuple[list[Example], LoadReport]:
    """`load_examples` without the warning, with a `LoadReport` of what was read and skipped."""
    return _load(path, fmt, skip_invalid=skip_invalid, strict=strict, errors=None)


def _load(path, fmt, *, skip_invalid, strict, errors) -> tuple[list[Example], LoadReport]:
    if fmt not in _LOADERS:
        raise DataFormatError(path, None, None, f"unknown data format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if Path(path).is_dir():
        raise DataFormatError(path, None, None, "is a directory: name the data file itself")
    source, convert = _LOADERS[fmt]
    report = LoadReport(str(path), fmt)
    try:
        examples = _convert_all(source(path), convert, report, skip_invalid, strict, errors)
    except UnicodeDecodeError as error:
        raise DataFormatError(path, None, None, f"not UTF-8 text ({error.reason}); re-save the file as UTF-8") from None
    return examples, report


def _convert_all(records, convert, report: LoadReport, skip_invalid: bool, strict: bool,
                 errors: list | None) -> list[Example]:
    """The examples of a source's records, skips counted in `report`; ids unique within a file."""
    examples: list[Example] = []
    first_seen: dict[str, _Location] = {}
    malformed = 0
    for where, position, raw in records:
        try:
            if isinstance(raw, DataFormatError):
                raise raw
            example = convert(raw, where, position)
            if example.id in first_seen:
                raise where.error("id", f"duplicate id {example.id!r} (first at {first_seen[example.id]})")
        except UnusableRecordError as error:
            if strict:
                raise
            _skip(error, report, errors)
            continue
        except DataFormatError as error:
            if not skip_invalid:
                raise
            malformed += 1
            _skip(error, report, errors)
            continue
        first_seen[example.id] = where
        examples.append(example)
        report.read += 1
    if not examples and malformed and malformed == report.skipped:
        message = (f"not one of its {malformed} record(s) is a record of format {report.fmt!r}: is it a "
                   f"file of another format? First problem: {report.errors[0]}")
        raise DataFormatError(report.path, None, None, message)
    return examples


def _skip(error: DataFormatError, report: LoadReport, errors: list | None) -> None:
    report.skip(error)
    if errors is not None:
        errors.append(error)


def save_examples(path: str | os.PathLike, examples: Iterable[Example]) -> None:
    """Write examples as kpod-format JSON Lines; `load_examples(path, "kpod")` reads them back."""
    write_jsonl(path, (example.to_record() for example in examples))
