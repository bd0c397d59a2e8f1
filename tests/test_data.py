"""Tests for kpod_lite.data: the loaders (§4.1 benchmarks), answers (§3.1), steps (§3.4)."""

from __future__ import annotations

import json
import logging
import pickle
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpod_lite import data
from kpod_lite.templates import ANSWER_TRIGGER, ANSWER_TRIGGERS
from kpod_lite.data import (
    DataFormatError,
    Example,
    Step,
    UnusableRecordError,
    append_jsonl,
    answers_match,
    extract_answer,
    load_examples,
    load_examples_with_report,
    normalize_answer,
    parse_answer_choices,
    read_jsonl,
    save_examples,
    split_steps,
)

SAMPLES = Path(__file__).resolve().parent.parent / "data_samples" / "formats"
FAST = settings(max_examples=60, deadline=None)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(path: Path, *records) -> Path:
    return write(path, "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))


# ----------------------------------------------------------------------------------------
# The sample files, one per real format
# ----------------------------------------------------------------------------------------


def test_gsm8k_sample_keeps_the_worked_solution_and_parses_final_lines():
    examples = load_examples(SAMPLES / "gsm8k.jsonl", "gsm8k")
    raw = [obj for _, obj in read_jsonl(SAMPLES / "gsm8k.jsonl")]
    assert len(examples) == len(raw) == 6
    assert [e.answer for e in examples] == ["10", "1250", "-6", "2.5", "36", "0"]  # "#### 1,250" -> 1250
    assert [e.id for e in examples] == [f"gsm8k-{line}" for line in range(1, 7)]
    for example, record in zip(examples, raw):
        assert example.dataset == "gsm8k" and example.answer_kind == "number"
        assert example.question == record["question"]
        assert set(example.meta) == {"solution"}
        assert record["answer"].startswith(example.meta["solution"] + "\n####")
    assert "<<48/2=24>>" in examples[0].meta["solution"]  # calculator notes stay


def test_svamp_sample_joins_body_and_question_and_keeps_every_field():
    examples = load_examples(SAMPLES / "svamp.json", "svamp")
    raw = json.loads((SAMPLES / "svamp.json").read_text())
    assert len(examples) == 6
    assert [e.answer for e in examples] == ["8", "2.5", "294", "42", "5", "37"]
    for example, record in zip(examples, raw):
        assert example.id == record["ID"]
        assert example.question == record["Body"] + " " + record["Question"]
        assert example.meta == {k: v for k, v in record.items() if k not in ("ID", "Answer")}
        assert float(example.answer) == record["Answer"]


def test_asdiv_sample_strips_units_into_meta():
    examples = load_examples(SAMPLES / "asdiv.xml", "asdiv")
    problems = ET.parse(SAMPLES / "asdiv.xml").getroot().find("ProblemSet")
    assert len(examples) == 6
    assert [e.answer for e in examples] == ["9", "17", "48", "2.5", "2550", "12"]
    assert [e.meta.get("unit") for e in examples] == ["apples", "birds", "crayons", "liters", "tickets", None]
    for example, problem in zip(examples, problems):
        assert example.id == problem.get("ID")
        assert example.question == f"{problem.findtext('Body')} {problem.findtext('Question')}"
        for key in ("Grade", "Source"):
            assert example.meta[key] == problem.get(key)
        for tag in ("Body", "Question", "Solution-Type", "Formula"):
            assert example.meta[tag] == problem.findtext(tag)
        unit = f" ({example.meta['unit']})" if "unit" in example.meta else ""
        assert problem.findtext("Answer") == example.answer + unit


def test_csqa_sample_parses_choices_in_source_order():
    examples = load_examples(SAMPLES / "csqa.jsonl", "csqa")
    raw = [obj for _, obj in read_jsonl(SAMPLES / "csqa.jsonl")]
    assert len(examples) == 5
    assert [e.answer for e in examples] == ["B", "A", "C", "E", "D"]
    for example, record in zip(examples, raw):
        assert example.id == record["id"] and example.answer_kind == "choice"
        assert example.question == record["question"]["stem"]
        options = record["question"]["choices"]
        assert list(example.choices.items()) == [(c["label"], c["text"]) for c in options]
        assert example.meta == {"question_concept": record["question"]["question_concept"]}
    assert examples[0].choices["B"] == "closet"


def test_instruction_sample_parses_embedded_answer_choices():
    examples = load_examples(SAMPLES / "instruction.json", "instruction")
    raw = json.loads((SAMPLES / "instruction.json").read_text())
    assert len(examples) == 6
    assert [e.answer for e in examples] == ["10", "2.5", "37", "B", "C", "D"]  # label 37 is a JSON int
    assert [e.answer_kind for e in examples] == ["number"] * 3 + ["choice"] * 3
    umbrella = examples[3]
    assert umbrella.question == "Where would you keep an umbrella when it is not raining?"
    assert umbrella.choices == {
        "A": "library", "B": "closet", "C": "oven", "D": "swimming pool", "E": "mailbox"
    }
    for example, record in zip(examples, raw):
        assert example.meta == {"output": record["output"]}
        # the teacher rationale in each sample ends with the §3.1 template, and agrees with the label
        assert extract_answer(record["output"], example.answer_kind) == example.answer


def test_asdiv_quirks_sample_reads_units_and_fractions_and_counts_what_is_no_number():
    examples, report = load_examples_with_report(SAMPLES / "asdiv_quirks.xml", "asdiv")
    assert [(e.id, e.answer, e.meta.get("unit")) for e in examples] == [
        ("q-01", "20", "ducks"), ("q-02", "0.75", "cups"), ("q-04", "0.5", None),
        ("q-07", "5.25", "meters"), ("q-08", "2625", "seats")]
    assert (report.read, report.skipped) == (5, 3)
    assert report.reasons == {
        "field 'Answer': answer is not a number": 1,  # "Mrs. Vance"
        "field 'Answer': answer is a ratio, not one number": 1,  # "5:4"
        "field 'Answer': several answers, not one number": 1,  # "3 (hours); 20 (minutes)"
    }
    assert [e.record for e in report.errors] == ["record [2] (ID 'q-03')", "record [4] (ID 'q-05')",
                                                 "record [5] (ID 'q-06')"]
    assert str(report.errors[0]).endswith("field 'Answer': cannot parse 'Mrs. Vance' as a number")
    assert report.to_dict()["reasons"]["field 'Answer': answer is not a number"] == 1


def test_load_examples_warns_once_with_the_counted_reasons(caplog):
    with caplog.at_level(logging.WARNING, logger="kpod_lite.data"):
        examples = load_examples(SAMPLES / "asdiv_quirks.xml", "asdiv")
    assert len(examples) == 5 and len(caplog.records) == 1
    assert "read 5 of 8 record(s), skipped 3 (1 x field 'Answer': answer is not a number;" in caplog.text
    with pytest.raises(UnusableRecordError, match=r"record \[2\] \(ID 'q-03'\): field 'Answer'"):
        load_examples(SAMPLES / "asdiv_quirks.xml", "asdiv", strict=True)


@pytest.mark.parametrize("name", ["instruction_csqa_lines.json", "instruction_csqa_paren_lines.json"])
def test_instruction_csqa_samples_with_one_option_a_line(name):
    examples, report = load_examples_with_report(SAMPLES / name, "instruction")
    raw = json.loads((SAMPLES / name).read_text())
    assert (report.read, report.skipped) == (len(raw), 0) == (5, 0)
    assert [e.answer for e in examples] == ["B", "B", "C", "C", "A"]
    assert examples[0].question == "Where would you most likely hang a wet towel to dry?"
    assert examples[0].choices == {"A": "oven", "B": "towel rack", "C": "refrigerator", "D": "bookshelf",
                                   "E": "mailbox"}
    for example, record in zip(examples, raw):
        assert example.meta == {"output": record["output"]}  # a list of rationales, or "", as in the file
        assert record["instruction"].endswith("\n") and example.question == example.question.strip()


def test_mcckd_samples_keep_the_list_of_rationales_and_the_empty_output():
    train, report = load_examples_with_report(SAMPLES / "mcckd_train.json", "instruction")
    test, test_report = load_examples_with_report(SAMPLES / "mcckd_test.json", "instruction")
    assert (report.read, report.skipped, test_report.read, test_report.skipped) == (12, 0, 8, 0)
    assert all(e.answer_kind == "number" and not e.question.endswith("\n") for e in train + test)
    assert all(isinstance(e.meta["output"], list) and len(e.meta["output"]) == 3 for e in train)
    assert all(e.meta["output"] == "" for e in test)
    assert [e.answer for e in test] == ["102", "12", "575", "150", "-5", "240", "45", "210"]


@pytest.mark.parametrize(
    "listed, expected",
    [
        (" (A) bank (B) library (C) park", {"A": "bank", "B": "library", "C": "park"}),
        ("\n(A) bank\n(B) library\n(C) park\n", {"A": "bank", "B": "library", "C": "park"}),
        ("\nA. bank\nB. public library\n\nC. park\n", {"A": "bank", "B": "public library", "C": "park"}),
        ("\nA) bank\nB) library", {"A": "bank", "B": "library"}),
        ("\n  a. bank\n  b. library", {"A": "bank", "B": "library"}),
        (" (A) Mr. B. Lee's bank (B) library", {"A": "Mr. B. Lee's bank", "B": "library"}),
        (" A. bank B. library", None),  # inline "A." is ambiguous with prose: refused
        ("\nA. bank\nC. library", None),  # letters must run A, B, C, ...
        ("\nA. bank", None),  # one option is no choice
        ("\nA. bank\nB. library\nPick the best one.", None),
        (" bank, library or park", None),
        ("\n(A)\n(B) library", None),  # an option without a text
    ],
)
def test_parse_answer_choices_layouts(listed, expected):
    assert parse_answer_choices(listed) == expected


def test_instruction_options_in_no_known_layout_are_skipped_and_counted(tmp_path):
    records = [{"instruction": "Where is money kept?\nAnswer Choices: A. tree B. bank", "output": "", "label": "B"},
               {"instruction": "Where is money kept?\nAnswer Choices:\nA. tree\nB. bank\n", "output": "", "label": "B"}]
    path = write(tmp_path / "i.json", json.dumps(records))
    examples, report = load_examples_with_report(path, "instruction")
    assert [e.id for e in examples] == ["instruction-1"] and examples[0].choices == {"A": "tree", "B": "bank"}
    assert report.reasons == {"field 'instruction': options in no known layout": 1}
    assert report.errors[0].record == "record [0]"


def test_a_file_of_another_format_is_refused_even_when_skipping(tmp_path):
    with pytest.raises(DataFormatError, match=r"not one of its 6 record\(s\) is a record of format 'instruction'"):
        load_examples(SAMPLES / "svamp.json", "instruction", skip_invalid=True)
    with pytest.raises(DataFormatError, match=r"svamp\.json: record \[0\]: field 'instruction': missing"):
        load_examples(SAMPLES / "svamp.json", "instruction")  # by default: the first malformed record


def test_unlabelled_csqa_records_are_skipped_as_such(tmp_path):
    lines = (SAMPLES / "csqa.jsonl").read_text().splitlines()
    unlabelled = json.loads(lines[1])
    del unlabelled["answerKey"]
    path = jsonl(tmp_path / "c.jsonl", lines[0], unlabelled)
    examples, report = load_examples_with_report(path, "csqa")
    assert len(examples) == 1 and report.reasons == {"field 'answerKey': no answer (unlabelled)": 1}


def test_unusable_record_error_survives_pickling():
    error = UnusableRecordError("a.xml", None, "Answer", "cannot parse 'x'", record="record [2]", reason="r")
    copy = pickle.loads(pickle.dumps(error))
    assert isinstance(copy, UnusableRecordError) and copy.reason == "r" and str(copy) == str(error)


def test_kpod_sample_loads_choices_and_meta():
    examples = load_examples(SAMPLES / "kpod.jsonl", "kpod")
    assert [e.id for e in examples] == [f"demo-{i}" for i in range(1, 7)]
    assert {e.dataset for e in examples} == {"gsm8k", "svamp", "asdiv", "csqa"}
    assert examples[4].choices["B"] == "closet" and examples[4].answer == "B"
    assert examples[2].meta == {"Equation": "( 15.0 / 6.0 )", "Type": "Common-Division"}
    assert examples[0].to_record() == {
        "id": "demo-1",
        "dataset": "gsm8k",
        "question": examples[0].question,
        "answer": "10",
    }


def test_every_sample_survives_a_save_and_kpod_load(tmp_path):
    for name, fmt in [("gsm8k.jsonl", "gsm8k"), ("svamp.json", "svamp"), ("asdiv.xml", "asdiv"),
                      ("csqa.jsonl", "csqa"), ("instruction.json", "instruction"), ("kpod.jsonl", "kpod"),
                      ("asdiv_quirks.xml", "asdiv"), ("instruction_csqa_lines.json", "instruction"),
                      ("instruction_csqa_paren_lines.json", "instruction"), ("mcckd_train.json", "instruction"),
                      ("mcckd_test.json", "instruction")]:
        examples = load_examples(SAMPLES / name, fmt)
        save_examples(tmp_path / f"{fmt}.jsonl", examples)
        assert load_examples(tmp_path / f"{fmt}.jsonl", "kpod") == examples


# ----------------------------------------------------------------------------------------
# Malformed input: file, line (or record) and field in every message
# ----------------------------------------------------------------------------------------

GOOD_GSM8K = {"question": "Tim has 2 cats and 3 dogs. How many pets?", "answer": "2 + 3 = <<2+3=5>>5\n#### 5"}


def test_unparseable_answer_names_file_line_and_field(tmp_path):
    bad = {"question": "Q?", "answer": "so\n#### 12 apples and"}
    path = jsonl(tmp_path / "x.jsonl", GOOD_GSM8K, GOOD_GSM8K, bad)
    with pytest.raises(UnusableRecordError) as caught:
        load_examples(path, "gsm8k", strict=True)
    error = caught.value
    assert (error.line, error.field, error.reason) == (3, "answer", "answer is not a number")
    assert str(error) == f"{path}:3: field 'answer': cannot parse '12 apples and' as a number"
    # by default the record is skipped and counted, not the file refused
    examples, report = load_examples_with_report(path, "gsm8k")
    assert [e.id for e in examples] == ["gsm8k-1", "gsm8k-2"]
    assert (report.read, report.skipped) == (2, 1)
    assert report.reasons == {"field 'answer': answer is not a number": 1}
    assert [str(e) for e in report.errors] == [str(error)]


def test_bad_json_line_names_the_line(tmp_path):
    path = jsonl(tmp_path / "x.jsonl", GOOD_GSM8K, '{"question": "Q?", "answer": ', GOOD_GSM8K)
    with pytest.raises(DataFormatError, match=r"x\.jsonl:2: invalid JSON") as caught:
        load_examples(path, "gsm8k")
    assert caught.value.line == 2 and caught.value.field is None


@pytest.mark.parametrize(
    "record, field, message",
    [
        ({"answer": "#### 5"}, "question", "missing"),
        ({"question": "Q?", "answer": "5"}, "answer", "no final '#### <answer>' line"),
        ({"question": "  ", "answer": "#### 5"}, "question", "empty"),
        ({"question": 7, "answer": "#### 5"}, "question", "expected str, got int"),
        ([1, 2], None, "expected a JSON object, got list"),
    ],
)
def test_gsm8k_record_problems(tmp_path, record, field, message):
    path = jsonl(tmp_path / "g.jsonl", GOOD_GSM8K, record)
    with pytest.raises(DataFormatError) as caught:
        load_examples(path, "gsm8k")
    assert (caught.value.path, caught.value.line, caught.value.field) == (str(path), 2, field)
    assert message in str(caught.value)


def test_json_list_record_errors_name_index_and_id(tmp_path):
    records = json.loads((SAMPLES / "svamp.json").read_text())
    records[1]["Answer"] = "two and a half"
    path = write(tmp_path / "s.json", json.dumps(records))
    with pytest.raises(DataFormatError) as caught:
        load_examples(path, "svamp", strict=True)
    assert caught.value.line is None and caught.value.field == "Answer"
    assert str(caught.value).startswith(f"{path}: record [1] (ID 'chal-2'): field 'Answer': cannot parse")


def test_broken_json_list_names_the_line(tmp_path):
    path = write(tmp_path / "s.json", '[\n  {"ID": "chal-1",\n  "Body": oops}\n]')
    with pytest.raises(DataFormatError, match=r"s\.json:3: invalid JSON"):
        load_examples(path, "svamp", skip_invalid=True)  # the whole file is unreadable: never skipped


ASDIV_HEAD = '<?xml version="1.0"?>\n<Machine-Reading-Corpus-File><ProblemSet>'
ASDIV_TAIL = "</ProblemSet></Machine-Reading-Corpus-File>"
ASDIV_GOOD = ('<Problem ID="p-1" Grade="1" Source="s"><Body>Sam has 2 pens.</Body>'
              "<Question>How many?</Question>"
              "<Solution-Type>Sum</Solution-Type><Answer>2 (pens)</Answer><Formula>2=2</Formula></Problem>")


@pytest.mark.parametrize(
    "problem, field, message",
    [
        ('<Problm ID="p-2"><Question>Q?</Question><Answer>1</Answer></Problm>',
         None, "unexpected element <Problm>"),
        ('<Problem ID="p-2"><Body>B.</Body><Question>Q?</Question></Problem>',
         "Answer", "missing"),
        ('<Problem ID="p-2"><Question>Q?</Question><Answer>5 (hours); 4 (hours)</Answer></Problem>',
         "Answer", "cannot parse"),  # raised only with strict=True, else skipped (test below)
        ('<Problem ID="p-2"><Question>Q?</Question><Answer>1</Answer><Answer>2</Answer></Problem>',
         "Answer", "appears twice"),
    ],
)
def test_asdiv_record_problems_name_index_and_id(tmp_path, problem, field, message):
    path = write(tmp_path / "a.xml", ASDIV_HEAD + ASDIV_GOOD + problem + ASDIV_TAIL)
    with pytest.raises(DataFormatError) as caught:
        load_examples(path, "asdiv", strict=True)
    assert caught.value.field == field and caught.value.record == "record [1] (ID 'p-2')"
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_asdiv_file_level_problems_always_raise(tmp_path):
    wrong_root = write(tmp_path / "root.xml", "<Corpus><ProblemSet/></Corpus>")
    with pytest.raises(DataFormatError, match="root element is <Corpus>"):
        load_examples(wrong_root, "asdiv", skip_invalid=True)
    broken = write(tmp_path / "broken.xml", ASDIV_HEAD + "\n<Problem ID='x'>\n<Body>unclosed" + ASDIV_TAIL)
    with pytest.raises(DataFormatError, match=r"broken\.xml:4: invalid XML: mismatched tag") as caught:
        load_examples(broken, "asdiv", skip_invalid=True)
    assert caught.value.line == 4  # <Body> opens on line 4 and is closed by </ProblemSet>


@pytest.mark.parametrize(
    "mutate, field, message",
    [
        (lambda r: r.update(answerKey="F"), "answerKey", "not one of the options"),
        (lambda r: r["question"].pop("stem"), "question.stem", "missing"),
        (lambda r: r["question"]["choices"][2].pop("text"), "question.choices[2].text", "missing"),
        (lambda r: r.update(question="Where?"), "question", "expected dict, got str"),
    ],
)
def test_csqa_record_problems(tmp_path, mutate, field, message):
    lines = (SAMPLES / "csqa.jsonl").read_text().splitlines()
    record = json.loads(lines[1])
    mutate(record)
    path = jsonl(tmp_path / "c.jsonl", lines[0], record)
    with pytest.raises(DataFormatError) as caught:
        load_examples(path, "csqa", strict=True)  # strict: an answerKey "F" alone would be skipped
    assert (caught.value.line, caught.value.field) == (2, field)
    assert message in caught.value.message


def test_instruction_label_must_be_one_of_the_parsed_choices(tmp_path):
    records = [{"instruction": "Pick one.\nAnswer Choices: (A) red (B) blue", "output": "...", "label": "C"}]
    path = write(tmp_path / "i.json", json.dumps(records))
    expected = r"record \[0\]: field 'label': answer 'C' is not one of the options"
    with pytest.raises(UnusableRecordError, match=expected):
        load_examples(path, "instruction", strict=True)
    assert load_examples_with_report(path, "instruction")[1].reasons == {
        "field 'label': answer is not one of the options": 1}


def test_duplicate_ids_are_rejected_with_both_places(tmp_path):
    record = {"id": "q1", "dataset": "toy", "question": "Q?", "answer": "3"}
    path = jsonl(tmp_path / "k.jsonl", record, record)
    expected = r"k\.jsonl:2: field 'id': duplicate id 'q1' \(first at line 1\)"
    with pytest.raises(DataFormatError, match=expected):
        load_examples(path, "kpod")


def test_skip_invalid_skips_counts_and_warns(tmp_path, caplog):
    path = jsonl(
        tmp_path / "g.jsonl",
        GOOD_GSM8K,
        "{not json",
        {"question": "Q?"},
        GOOD_GSM8K,
        {"question": "Q?", "answer": "#### twelve"},
    )
    errors: list = []
    with caplog.at_level(logging.WARNING, logger="kpod_lite.data"):
        examples = load_examples(path, "gsm8k", skip_invalid=True, errors=errors)
    assert [e.id for e in examples] == ["gsm8k-1", "gsm8k-4"]
    assert [(e.line, e.field) for e in errors] == [(2, None), (3, "answer"), (5, "answer")]
    assert "read 2 of 5 record(s), skipped 3" in caplog.text
    assert load_examples(path, "gsm8k", skip_invalid=True) == examples  # errors list is optional


def test_unknown_format_lists_the_choices(tmp_path):
    expected = "unknown data format 'mathqa'.*gsm8k, svamp, asdiv, csqa, instruction, kpod"
    with pytest.raises(ValueError, match=expected):
        load_examples(tmp_path / "nothing.jsonl", "mathqa")


def test_data_format_error_survives_pickling():
    error = DataFormatError("f.jsonl", 3, "answer", "bad", record=None)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.line, copy.field, copy.message) == ("f.jsonl", 3, "answer", "bad")
    assert str(copy) == str(error) == "f.jsonl:3: field 'answer': bad"
    assert isinstance(copy, ValueError)


# ----------------------------------------------------------------------------------------
# JSON Lines: crash-safe append, truncated tails
# ----------------------------------------------------------------------------------------


def test_read_jsonl_skips_blank_lines_and_counts_physical_lines(tmp_path):
    path = write(tmp_path / "r.jsonl", '{"a": 1}\n\n   \n{"a": 2}\n')
    assert list(read_jsonl(path)) == [(1, {"a": 1}), (4, {"a": 2})]


def test_truncated_tail_raises_by_default_and_is_ignored_on_request(tmp_path):
    path = write(tmp_path / "r.jsonl", '{"a": 1}\n{"a": 2}\n{"a": 3, "b": "unfini')
    with pytest.raises(DataFormatError) as caught:
        list(read_jsonl(path))
    assert caught.value.line == 3
    assert list(read_jsonl(path, tolerate_truncated_tail=True)) == [(1, {"a": 1}), (2, {"a": 2})]


def test_a_complete_last_line_without_newline_is_still_read(tmp_path):
    path = write(tmp_path / "r.jsonl", '{"a": 1}\n{"a": 2}')
    assert list(read_jsonl(path, tolerate_truncated_tail=True)) == [(1, {"a": 1}), (2, {"a": 2})]


@pytest.mark.parametrize(
    "text, bad_line",
    [
        ('{"a": 1}\n{"a": \n{"a": 3}\n', 2),  # bad line in the middle
        ('{"a": 1}\n{"a": \n', 2),  # bad last line that did get its newline: not a torn write
        ('{"a": 1}\n[1, 2]', 2),  # valid JSON, but not an object
    ],
)
def test_other_bad_lines_always_raise(tmp_path, text, bad_line):
    path = write(tmp_path / "r.jsonl", text)
    with pytest.raises(DataFormatError) as caught:
        list(read_jsonl(path, tolerate_truncated_tail=True))
    assert caught.value.line == bad_line


def test_append_jsonl_writes_one_valid_line_per_record(tmp_path):
    path = tmp_path / "deep" / "cache.jsonl"
    records = [{"id": "q1", "text": "line\nbreak and \u2028 separator"}, {"id": "q2", "n": 3.5}]
    for record in records:
        append_jsonl(path, record)
    raw = path.read_bytes()
    assert raw.count(b"\n") == 2 and raw.endswith(b"\n")
    assert [obj for _, obj in read_jsonl(path)] == records


def test_append_jsonl_after_a_torn_write_drops_the_fragment(tmp_path):
    path = tmp_path / "cache.jsonl"
    append_jsonl(path, {"id": "q1"})
    with open(path, "ab") as handle:  # what SIGKILL in the middle of a write leaves
        handle.write(b'{"id": "q2", "ratio')
    append_jsonl(path, {"id": "q3"})
    assert [obj for _, obj in read_jsonl(path)] == [{"id": "q1"}, {"id": "q3"}]


def test_append_jsonl_ends_a_hand_written_last_line_first(tmp_path):
    path = write(tmp_path / "cache.jsonl", '{"id": "q1"}')
    append_jsonl(path, {"id": "q2"})
    assert [obj for _, obj in read_jsonl(path)] == [{"id": "q1"}, {"id": "q2"}]


def test_append_jsonl_leaves_the_file_alone_when_a_record_cannot_be_serialised(tmp_path):
    path = tmp_path / "cache.jsonl"
    append_jsonl(path, {"id": "q1"})
    before = path.read_bytes()
    with pytest.raises(TypeError):
        append_jsonl(path, {"id": "q2", "bad": object()})
    assert path.read_bytes() == before


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
number_answers = st.integers(-10**6, 10**6).map(str) | st.decimals(
    -1000, 1000, places=3, allow_nan=False).map(lambda d: normalize_answer(str(d)))
nonblank = st.text(min_size=1).filter(str.strip)


@st.composite
def examples(draw):
    choices = draw(st.none() | st.dictionaries(st.sampled_from("ABCDE"), st.text(), min_size=1))
    answer = draw(st.sampled_from(sorted(choices))) if choices else draw(number_answers)
    return Example(
        id=draw(nonblank),
        question=draw(nonblank),
        answer=answer,
        choices=choices,
        dataset=draw(st.sampled_from(["", "gsm8k", "csqa", "synthétique"])),
        meta=draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3)),
    )


@FAST
@given(st.lists(examples(), max_size=5, unique_by=lambda e: e.id))
def test_save_then_load_kpod_round_trips(tmp_path_factory, batch):
    path = tmp_path_factory.mktemp("rt") / "questions.jsonl"
    save_examples(path, batch)
    assert load_examples(path, "kpod") == batch


# ----------------------------------------------------------------------------------------
# Answers (§3.1 template; Kojima et al.'s answer cleansing)
# ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [("1,234", "1234"), ("$1.50", "1.5"), ("-3", "-3"), ("18.0", "18"), ("9 (apples)", "9"), (".5", "0.5"),
     ("+7", "7"), ("72.", "72"), ("50%", "50"), ("-0.00", "0"), (" 007 ", "7"), (8.0, "8"), (2.5, "2.5"),
     (42, "42"), ("1e3", None), ("12 apples and", None), ("1,23", None), ("", None), ("seven", None),
     (True, None), (float("nan"), None)],
)
def test_normalize_answer_examples(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize("text", ["(B)", "b", "B.", "B)", " ( b ) "])
def test_normalize_choice_examples(text):
    assert normalize_answer(text, "choice") == "B"


@pytest.mark.parametrize("text", ["AB", "(B) bank", "", "2"])
def test_normalize_choice_rejects(text):
    assert normalize_answer(text, "choice") is None


@FAST
@given(
    n=st.integers(-10**12, 10**12),
    sign_plus=st.booleans(),
    dollar=st.booleans(),
    commas=st.booleans(),
    zeros=st.sampled_from(["", ".0", ".00", ".000"]),
)
def test_formatted_integers_normalise_to_their_plain_value(n, sign_plus, dollar, commas, zeros):
    sign = "-" if n < 0 else ("+" if sign_plus else "")
    digits = f"{abs(n):,}" if commas else str(abs(n))
    assert normalize_answer(f"{sign}{'$' if dollar else ''}{digits}{zeros}") == str(n)


@FAST
@given(st.decimals(min_value=-10**6, max_value=10**6, places=4, allow_nan=False), st.booleans())
def test_formatted_decimals_normalise_to_the_same_value_in_canonical_form(value, commas):
    text = f"{value:,f}" if commas else f"{value:f}"
    canonical = normalize_answer(text)
    assert Decimal(canonical) == value
    assert not canonical.startswith("+") and "," not in canonical
    assert not ("." in canonical and canonical.endswith("0")) and not canonical.endswith(".")
    assert normalize_answer(canonical) == canonical  # idempotent


numbers_as_written = st.builds(
    lambda n, cents, dollar: f"{'$' if dollar else ''}{n:,}" + (f".{cents:02d}" if cents is not None else ""),
    st.integers(0, 10**7), st.none() | st.integers(1, 99), st.booleans(),
)
FILLER_WORDS = ["so", "Carl", "has", "apples", "then", "we", "add", "them", "Dad", "and"]
filler = st.lists(st.sampled_from(FILLER_WORDS), max_size=6).map(" ".join)


@FAST
@given(decoy=numbers_as_written, answer=numbers_as_written, later=numbers_as_written,
       before=filler, after=filler, trigger=st.sampled_from(ANSWER_TRIGGERS), shout=st.booleans())
def test_first_number_after_the_last_trigger_wins(decoy, answer, later, before, after, trigger, shout):
    trigger = trigger.upper() if shout else trigger
    text = f"{before} the answer is {decoy}. {before} {decoy} {trigger} {answer}, {after} {later} {after}."
    assert extract_answer(text, "number") == normalize_answer(answer)


PLAIN_WORDS = [w for w in FILLER_WORDS if w != "so"]  # "so" opens a concluding sentence
plain_filler = st.lists(st.sampled_from(PLAIN_WORDS), max_size=6).map(" ".join)


@FAST
@given(numbers=st.lists(numbers_as_written, min_size=1, max_size=5), words=filler, plain=plain_filler)
def test_without_a_trigger_or_a_concluding_word_the_last_number_wins(numbers, words, plain):
    text = " ".join(f"{plain} {n}" for n in numbers) + f" {words}."
    assert extract_answer(text, "number") == normalize_answer(numbers[-1])
    # the older rule takes the last number of the whole text, whatever comes first
    assert extract_answer(f"So {text}", "number", without_trigger="last") == normalize_answer(numbers[-1])


@FAST
@given(earlier=st.lists(numbers_as_written, max_size=3), answer=numbers_as_written,
       later=st.lists(numbers_as_written, max_size=3), plain=plain_filler,
       opener=st.sampled_from(["Therefore,", "Thus,", "So", "Hence,", "In total,", "Finally,", "so"]),
       marker=st.sampled_from(["", "3. ", "- ", "Step 2: "]))
def test_a_concluding_last_sentence_gives_its_first_number(earlier, answer, later, plain, opener, marker):
    first = " ".join(f"{plain} {n}" for n in earlier)
    last = f"{marker}{opener} {plain} {answer} " + " ".join(f"{plain} {n}" for n in later)
    text = f"{first} {plain}.\n{last.rstrip()}."
    assert extract_answer(text, "number") == normalize_answer(answer)


@FAST
@given(left=st.lists(numbers_as_written, min_size=1, max_size=3), result=numbers_as_written,
       later=st.lists(numbers_as_written, max_size=2), opener=st.sampled_from(["", "Therefore, ", "So "]))
def test_the_number_after_the_last_equals_sign_of_the_last_sentence_wins(left, result, later, opener):
    text = f"We start with 7 apples. {opener}{' + '.join(left)} = {result} " + " ".join(f"then {n}" for n in later)
    assert extract_answer(text.rstrip() + ".", "number") == normalize_answer(result)


def test_trigger_without_a_number_after_it_gives_none():
    assert extract_answer("We add 3 and 4. Therefore, the answer is unclear.", "number") is None
    assert extract_answer("no numbers here", "number") is None


@pytest.mark.parametrize(
    "text, expected",
    [
        (f"48 / 2 = 24. 48 + 24 = 72. {ANSWER_TRIGGER} 72.", "72"),
        ("It dropped from 4 to -6 degrees. The answer is -6.", "-6"),
        ("After 3 days the total is $1,250.00", "1250"),
        ("Answer (arabic numerals) is 18 apples, not 20", "18"),
        ("5-3=2 so", "2"),  # a hyphen between numbers is a minus, not a sign
        ("Route x2 then 7", "7"),  # "x2" is a name, not a number
        # GPT-3.5 ends on a concluding sentence, not on the answer trigger
        ("There were 9 dead trees and 5 alive. Therefore, 4 more trees died than survived (9-5).", "4"),
        ("Each day: 2.5 + 1.5 = 4 km. Therefore, Tom runs 24 kilometers in 6 days.", "24"),
        ("1. 3 x 24 = 72 pencils.\n2. She gives away 17.\n3. 72 - 17 = 55 pencils left.", "55"),
        ("So he has 5 - 2 = 3 left. He then buys 4 more: 3 + 4 = 7", "7"),  # the last sentence decides
        ("1,260 \u00f7 12 = 105", "105"),
        ("So one loaf needs 3/4 cup of flour.", "0.75"),
        ("3 x 1/2 = 1 1/2 liters.", "1.5"),
        ("The answer is 3/4.", "0.75"),
        ("8 - 20 = \u221212.", "-12"),
        ("Step 1: 90 / 3 = 30.\nStep 2: Each friend gets 30 cookies.", "30"),
    ],
)
def test_extract_number_examples(text, expected):
    assert extract_answer(text, "number") == expected


capitalised_words = ["Carl", "Dad", "Ben", "Eve", "ABBA", "Ada's", "C-section", "U.S.A.", "Dad's", "eBay",
                     "McDonald", "CD", "A bank", "A dog", "I think", "Dee", "BBC", "E-mail"]
plain_words = ["the", "bank", "went", "to", "is", "nice", "and", "so", "we", "answer", "option", "with"]


@FAST
@given(words=st.lists(st.sampled_from(capitalised_words + plain_words), min_size=1, max_size=12),
       punctuation=st.lists(st.sampled_from([" ", ", ", ". ", "! ", ": "]), min_size=12, max_size=12),
       trigger=st.sampled_from(["", "Among A through E, the answer is ", "Therefore, the answer is "]))
def test_choice_extraction_never_fires_inside_words(words, punctuation, trigger):
    text = trigger + "".join(w + p for w, p in zip(words, punctuation))
    assert extract_answer(text, "choice") is None


@FAST
@given(letter=st.sampled_from("ABCDE"), decoy=st.sampled_from("ABCDE"),
       words=st.lists(st.sampled_from(capitalised_words + plain_words), max_size=6).map(" ".join),
       form=st.sampled_from(["({})", "{})", "{}."]))
def test_choice_extraction_finds_a_marked_letter_among_words(letter, decoy, words, form):
    marked = form.format(letter)
    assert extract_answer(f"{words} ({decoy}) {words}. So the answer is {marked} {words}", "choice") == letter
    # a sentence that does not open with a concluding word ("So ...") gives its last letter
    assert extract_answer(f"We find ({decoy}) is wrong, {words} {marked} {words}", "choice") == letter
    assert extract_answer(f"{words} ({decoy}) is wrong, {words} {marked} {words}", "choice",
                          without_trigger="last") == letter


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Carl and Dad went to the bank. So the answer is (B).", "B"),
        ("Among A through E, the answer is C", "C"),
        ("Among A through E, the answer is A bank (C).", "C"),  # "A bank": the article
        ("The answer is A because Dad said so.", "A"),  # "A because": the option
        ("Therefore, the answer is b.", "B"),
        ("We rule out (A). Option B fits.", "B"),
        ("Option B is right; an option A bank would not be.", "B"),  # "option A bank": the article
        ("A closet keeps things dry. I think so.", None),
        ("Therefore, the answer is closet.", None),
        ("Therefore, (B) laugh is best, since (A) cry and (C) sleep are not.", "B"),  # concluding: first
        ("A. oven - cooks.\nB. towel rack - holds towels.\nSo the correct answer is B. towel rack.", "B"),
        ("(A) is wrong. We pick (B), not (C)", "C"),  # not concluding: the last letter, as before
    ],
)
def test_extract_choice_examples(text, expected):
    assert extract_answer(text, "choice") == expected


def test_choice_labels_can_be_limited():
    assert extract_answer("the answer is (F)", "choice") is None  # CommonsenseQA stops at E
    assert extract_answer("the answer is (F)", "choice", labels="ABCDEF") == "F"
    assert extract_answer("the answer is I", "choice", labels="ABCDEFGHI") == "I"
    assert extract_answer("the answer is I think (B)", "choice", labels="ABCDEFGHI") == "B"


@pytest.mark.parametrize(
    "pred, gold, kind, expected",
    [
        ("72", "72", "number", True),
        ("72.00001", "72", "number", True),  # absolute tolerance
        ("1000000.05", "1,000,000", "number", True),  # relative tolerance
        ("72.1", "72", "number", False),
        ("-6", "6", "number", False),
        (None, "72", "number", False),
        ("seventy", "72", "number", False),
        ("(b)", "B", "choice", True),
        ("C", "B", "choice", False),
    ],
)
def test_answers_match(pred, gold, kind, expected):
    assert answers_match(pred, gold, kind) is expected


def test_unknown_answer_kind_is_an_error():
    with pytest.raises(ValueError, match="unknown answer kind 'text'"):
        extract_answer("the answer is 3", "text")
    with pytest.raises(ValueError, match="unknown without_trigger rule 'first'"):
        extract_answer("3", "number", without_trigger="first")
    with pytest.raises(ValueError, match="unknown answer kind"):
        normalize_answer("3", "text")


# ----------------------------------------------------------------------------------------
# Steps (§3.4: "we utilize the symbol '.' to separate steps in a rationale")
# ----------------------------------------------------------------------------------------


def test_split_steps_example():
    text = "  Mr. Lee pays $1.50 per pen, i.e. 3 pens cost $4.50... or so. Then he adds 2.5 more.\n\nDone"
    steps = split_steps(text)
    assert [s.text for s in steps] == [
        "Mr. Lee pays $1.50 per pen, i.e. 3 pens cost $4.50... or so.",
        "Then he adds 2.5 more.",
        "Done",
    ]
    assert all(text[s.start:s.end] == s.text for s in steps)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", []),
        (" \n\t ", []),
        ("no full stop at all", ["no full stop at all"]),
        ("One. Two", ["One.", "Two"]),
        ("apples, pears, etc. are fruit.", ["apples, pears, etc. are fruit."]),
        ("apples, pears, etc. Then we eat.", ["apples, pears, etc.", "Then we eat."]),
        ("He left at 9 a.m. and came back.", ["He left at 9 a.m. and came back."]),
        ('She said "stop." Then he did.', ['She said "stop."', "Then he did."]),
        ("1. Add 2 and 3.\n2. Double it.", ["1. Add 2 and 3.", "2. Double it."]),
        ("1. Add 2 and 3. 2. Double it.", ["1. Add 2 and 3.", "2. Double it."]),  # list lines joined
        ("Add them: 3 + 4 = 7. 12. Double it.", ["Add them: 3 + 4 = 7.", "12. Double it."]),
        ("He has 3. 4 more come.", ["He has 3.", "4 more come."]),
        ("Is it 5? Yes! So 5.", ["Is it 5? Yes! So 5."]),  # only "." separates steps
    ],
)
def test_split_steps_cases(text, expected):
    assert [s.text for s in split_steps(text)] == expected


LOWER = ["apples", "cost", "and", "then", "we", "add", "them", "so", "each", "pen"]
UPPER = ["Carl", "Then", "So", "Each", "Tom"]
NUMBERS = ["3", "3.5", "$1.50", "0.25", ".5", "1,250", "1,250.75", "-6", "48"]
INNER = (LOWER + UPPER + NUMBERS + ["e.g.", "i.e.", "Mr.", "Mrs.", "Ms.", "Dr.", "vs.", "...", "E.g.",
                                    "etc. and", "a.m. sharp", "p.m. so", "\u2026"])


@st.composite
def sentences(draw):
    first = draw(st.sampled_from(LOWER + UPPER))  # a number at a line start would read as "1."
    inner = draw(st.lists(st.sampled_from(INNER), max_size=8))
    last = draw(st.sampled_from(LOWER + UPPER + NUMBERS))  # an abbreviation or "..." would absorb the "."
    return " ".join([first, *inner, last]) + "."


@FAST
@given(
    body=st.lists(sentences(), min_size=1, max_size=6),
    tail=st.none() | st.sampled_from(["and then", "so 3.5", "Dr. Who"]),
    gaps=st.lists(st.sampled_from([" ", "  ", "\n", "\n\n", " \t"]), min_size=8, max_size=8),
)
def test_split_steps_recovers_the_sentences_it_was_built_from(body, tail, gaps):
    parts = body + ([tail] if tail else [])
    text = gaps[-1] + "".join(part + gap for part, gap in zip(parts, gaps))
    assert [s.text for s in split_steps(text)] == parts


rationale_pieces = st.sampled_from(
    ["3.5", "$1.50", ".5", "1,250.00", "e.g.", "i.e.", "Mr.", "Mrs.", "Dr.", "vs.", "etc.", "...", "....",
     "word", "Word", ".", "7", "\n", " ", "  ", "a.m.", '"', ")", "?", "x"]
)
texts = st.lists(rationale_pieces, max_size=30).map("".join) | st.text(alphabet="ab C1.$,\n ')e", max_size=40)


@FAST
@given(texts)
def test_split_steps_partitions_the_text(text):
    steps = split_steps(text)
    position = 0
    rebuilt = ""
    for step in steps:
        assert step.text and step.text == step.text.strip()
        assert step.text == text[step.start:step.end]
        assert position <= step.start < step.end  # ordered, non-overlapping
        gap = text[position:step.start]
        assert gap.strip() == ""  # only whitespace falls between steps
        rebuilt += gap + step.text
        position = step.end
    rebuilt += text[position:]
    assert rebuilt == text
    assert text[position:].strip() == ""
    assert (steps == []) == (text.strip() == "")


@FAST
@given(texts)
def test_split_steps_never_cuts_numbers_ellipses_or_abbreviations(text):
    boundaries = {s.end for s in split_steps(text)[:-1]}  # the last step simply ends with the text
    for decimal in re.finditer(r"[0-9]\.[0-9]", text):
        assert not boundaries & set(range(decimal.start() + 1, decimal.end()))
    for ellipsis in re.finditer(r"\.{2,}", text):
        assert not boundaries & set(range(ellipsis.start() + 1, ellipsis.end() + 1))
    for abbreviation in ("e.g.", "i.e.", "Mr.", "Mrs.", "Dr.", "vs."):  # never end a sentence
        for found in re.finditer(r"(?<![A-Za-z])" + re.escape(abbreviation), text, re.IGNORECASE):
            assert not boundaries & set(range(found.start() + 1, found.end() + 1))
    for found in re.finditer(r"(?<![A-Za-z])etc\.", text):  # may end one, but never inside
        assert not boundaries & set(range(found.start() + 1, found.end()))


def test_step_is_a_plain_record():
    assert Step("Add 2.", 0, 6) == Step(text="Add 2.", start=0, end=6)
    assert data.ABBREVIATIONS[:3] == ("e.g.", "i.e.", "Mr.")


def test_mcckd_train_sample_has_seven_planted_wrong_rationales():
    """The lead's pipeline test filters this file (§3.1): 29 of its 36 rationales reach the label."""
    examples = load_examples(SAMPLES / "mcckd_train.json", "instruction")
    agree = [[answers_match(extract_answer(text, "number"), e.answer) for text in e.meta["output"]] for e in examples]
    assert sum(map(sum, agree)) == 29 and sum(map(len, agree)) == 36
    assert all(row[:2] == [True, True] for row in agree)  # the first two of each question are right
