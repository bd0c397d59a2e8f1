"""The data layer: questions in, normalised answers out, rationales cut into steps.

KPOD (Feng et al., ICML 2024) starts from a dataset D = {(x_i, y_i)} of reasoning questions
and their answers (§3.1), evaluated on GSM8K, ASDiv, SVAMP and CommonsenseQA (§4.1, App. A,
Table 4). This package reads those benchmarks in their own file formats and turns every
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
  write, which is what the teacher cache needs; `read_json_file` / `read_json_object` read a
  JSON state file (a run folder's config.json) and name it, with what to do, when it is broken.

One module each: `records` (`Example`, `DataFormatError`, `LoadReport`), `answers`, `steps`,
`jsonl`, `choices` (option lists inside a question) and `loaders` (`load_examples`,
`load_examples_with_report`, `save_examples`); every public name is importable from here.

Formats read by `load_examples(path, fmt)`
------------------------------------------
``gsm8k``        JSON Lines ``{"question", "answer"}``; ``answer`` is a worked solution with
                 calculator notes (``<<48/2=24>>``) and a last line ``#### 72``. The solution
                 above that line is kept, notes and all, as ``meta["solution"]``.
``svamp``        a JSON list of ``{"ID", "Body", "Question", "Equation", "Answer", "Type"}``;
                 the question is Body + " " + Question, ``Answer`` is a float (8.0).
``asdiv``        XML, ``<Machine-Reading-Corpus-File><ProblemSet><Problem ID Grade Source>``
                 with ``<Body> <Question> <Solution-Type> <Answer> <Formula>`` children; the
                 answer carries a unit, ``9 (apples)``, kept as ``meta["unit"]``; a fraction
                 ``1/2`` is read as 0.5. Answers that are a name (``Mrs. Hilt``), a ratio
                 (``5:4``) or several values (``3 (hours); 20 (minutes)``) are skipped.
``csqa``         JSON Lines ``{"answerKey", "id", "question": {"question_concept", "choices":
                 [{"label", "text"}], "stem"}}``.
``instruction``  a JSON list of ``{"instruction", "output", "label"}`` as used by earlier CoT
                 distillation work (MCC-KD's Table 4 splits); a multiple-choice instruction
                 has "Answer Choices:" and then its options inline, "(A) x (B) y", or one a
                 line, "(A) x" / "A. x" / "A) x" (`parse_answer_choices`); the question is
                 the text before "Answer Choices:". ``label`` is a string or a number;
                 ``output`` -- one teacher rationale, a list of them (MCC-KD train files,
                 GPT-3.5) or "" (dev/test) -- is kept as it is in ``meta["output"]``.
``kpod``         our own JSON Lines question records
                 ``{"id", "dataset", "question", "answer", "choices"?, "meta"?}``, written by
                 `save_examples`.

Nothing is dropped silently: source fields that are not the id, question, answer or choices
go into ``Example.meta`` under their source name (derived values get lower-case names:
``solution``, ``unit``). A source without ids gets ``<dataset>-<line>`` (JSON Lines, 1-based
line number) or ``<dataset>-<index>`` (JSON list, 0-based index).

What is skipped and what is refused
-----------------------------------
Every record of a file is either read or skipped with a reason; `load_examples_with_report`
returns the counts (`LoadReport`: read, skipped, reasons, the first few errors), and
`load_examples` logs them as one warning. Errors name the file, the line (or the record index
and ID) and the field. Three kinds of problem, three treatments:

* **unusable content, skipped and counted** (`UnusableRecordError`): the record is well
  formed but cannot be a question with a gold answer -- an answer that is a name, a ratio or
  several values, no answer at all (an unlabelled split), options after "Answer Choices:" in
  no known layout, a label that is not one of the options. Real files hold a few of these
  (ASDiv: "Mrs. Hilt"), and refusing the whole file for them helps nobody. ``strict=True``
  raises instead.
* **malformed records, raised** (`DataFormatError`): a line that is not JSON, a record that is
  not an object, a required field missing or of the wrong type, an unknown XML element, a
  duplicate id. These mean a damaged file or the wrong format, so the default is to stop at
  the first one; ``skip_invalid=True`` skips and counts them too.
* **not the format at all, always raised**: not UTF-8, not JSON / not XML, the wrong root (a
  JSON object instead of a list, ``<Corpus>`` instead of ``<Machine-Reading-Corpus-File>``),
  a directory, or -- with ``skip_invalid=True`` -- not a single record of the format.

>>> normalize_answer("$1,250.00")
'1250'
>>> extract_answer("48 / 2 = 24 clips in May. Therefore, the answer is 72.", "number")
'72'
>>> [s.text for s in split_steps("Each pen costs $1.50, e.g. at Mr. Lee's shop. So 3 cost $4.50.")]
["Each pen costs $1.50, e.g. at Mr. Lee's shop.", 'So 3 cost $4.50.']
"""

from kpod_lite.data.answers import NUMBER_PATTERN, answers_match, extract_answer, normalize_answer
from kpod_lite.data.jsonl import (
    append_jsonl,
    read_json_file,
    read_json_object,
    read_jsonl,
    write_atomically,
    write_jsonl,
)
from kpod_lite.data.choices import parse_answer_choices
from kpod_lite.data.loaders import FORMATS, load_examples, load_examples_with_report, save_examples
from kpod_lite.data.records import (
    DataFormatError,
    Example,
    LoadReport,
    UnusableRecordError,
    rationale_key,
    rationale_name,
)
from kpod_lite.data.sources import (
    SOURCES,
    DataSource,
    FetchError,
    SourceFile,
    fetch,
    resolve_data_file,
    source_settings,
)
from kpod_lite.data.steps import ABBREVIATIONS, Step, split_steps

__all__ = [
    "ABBREVIATIONS",
    "FORMATS",
    "NUMBER_PATTERN",
    "DataFormatError",
    "UnusableRecordError",
    "LoadReport",
    "Example",
    "rationale_key",
    "rationale_name",
    "Step",
    "load_examples",
    "load_examples_with_report",
    "parse_answer_choices",
    "save_examples",
    "write_atomically",
    "write_jsonl",
    "read_jsonl",
    "read_json_file",
    "read_json_object",
    "append_jsonl",
    "normalize_answer",
    "extract_answer",
    "answers_match",
    "split_steps",
    "SOURCES",
    "DataSource",
    "SourceFile",
    "FetchError",
    "fetch",
    "resolve_data_file",
    "source_settings",
]
