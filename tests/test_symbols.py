"""Teacher text the student can write (`kpod_lite.symbols`): a symbol becomes ASCII only when
the student's tokenizer maps it to <unk>, one character for one, counted; what has no
replacement is counted, not dropped; the pipeline rewrites rationales.jsonl once, before the
weighting (Eq. 3), so Eq. 8 and Eq. 15 see the same text."""

import json
import os

import pytest

from kpod_lite import data, pipeline, symbols
from kpod_lite.config import preset
from kpod_lite.models import train_tokenizer, wrap_tokenizer

# Written for this test in the way an LLM teacher typesets arithmetic.
TEACHER_TEXT = ("She sells 48 ÷ 2 = 24 cookies. Then she has 48 − 24 = 24 left. Each box holds 3 × 4 = 12, "
                "“a dozen”. Pages 3–5 are {done}. We need x < 5.")




def test_the_t5_standin_gets_ascii_for_what_it_lacks_and_counts_what_has_no_replacement(t5):
    assert {"÷", "−", "×", "{", "}", "<"} <= symbols.unknown_characters(t5, TEACHER_TEXT)
    student = symbols.StudentSymbols(t5)
    text = student.rewrite(TEACHER_TEXT)
    assert text == ("She sells 48 / 2 = 24 cookies. Then she has 48 - 24 = 24 left. Each box holds 3 * 4 = 12, "
                    '"a dozen". Pages 3-5 are (done). We need x < 5.')
    report = student.report
    assert report.replaced == {"÷": 1, "−": 1, "×": 1, "“": 1, "”": 1, "–": 1, "{": 1, "}": 1}
    assert report.unknown == {"<": 1}, "no ASCII one-character 'less than': left in place, counted"
    assert report.unk_tokens_before >= 9 and report.unk_tokens_after == 1
    assert list(t5(text, add_special_tokens=False)["input_ids"]).count(t5.unk_token_id) == 1


def test_tokenizers_that_know_every_character_keep_the_teachers_text(llama):
    byte_bpe = wrap_tokenizer(train_tokenizer(["12 + 17 = 29 eggs."], vocab_size=300, sentinels=2), "llama")
    for tokenizer in (llama, byte_bpe):  # byte fallback, byte-level BPE: nothing is ever <unk>
        student = symbols.StudentSymbols(tokenizer)
        assert student.rewrite(TEACHER_TEXT) == TEACHER_TEXT
        assert not student.report.replaced and not student.report.unknown and student.report.texts_changed == 0


def test_a_table_entry_is_one_character_to_a_string_or_to_alternatives(t5):
    assert all(len(c) == 1 for c in symbols.ASCII_REPLACEMENTS)
    with pytest.raises(ValueError, match="map one character to a string") as error:
        symbols.StudentSymbols(t5, {"<=": "≤", "≈": ()})
    assert "'<='" in str(error.value) and "'≈'" in str(error.value), "each wrong entry is named"


# Characters the released MCC-KD SVAMP rationales (GPT-3.5) hold beyond ÷ × −, written here in
# sentences of the same kind.
RELEASED_STYLE = {
    "→": "48 / 6 = 8 → 8 apples per box.",
    "⇒": "3 + 4 = 7 ⇒ 7 pens.",
    "≈": "24 / 7 ≈ 3.43 hours.",
    "≥": "So 12 ≥ 10 is true.",
    "≠": "5 ≠ 6, so check again.",
    "•": "• 12 + 5 = 17 marbles.",
    "✓": "12 + 5 = 17 ✓",
    "✔️": "Check: 17 - 5 = 12 ✔️ correct.",
    "😊": "So he has 17 marbles left 😊.",
    "👍🏽": "Great 👍🏽 the answer is 17.",
    "\u2028": "He had 12 marbles.\u2028He got 5 more.",
    "\u2029": "He had 12 marbles.\u2029He got 5 more.",
}


@pytest.mark.parametrize("character", list(RELEASED_STYLE))
def test_what_the_released_rationales_hold_leaves_no_unk_for_t5_and_llama_text_untouched(character, t5, llama):
    text = RELEASED_STYLE[character]
    separator = character in "\u2028\u2029"  # whitespace to T5's normaliser: known, kept (AsciiOnly below)
    assert separator or t5.unk_token_id in t5(text, add_special_tokens=False)["input_ids"], "the stand-in lacks it"
    rewritten = symbols.StudentSymbols(t5).rewrite(text)
    assert t5.unk_token_id not in t5(rewritten, add_special_tokens=False)["input_ids"], rewritten
    assert rewritten.isascii() or (separator and rewritten == text)
    assert symbols.StudentSymbols(llama).rewrite(text) == text, "byte fallback knows every character"


def test_arrows_get_their_ascii_spelling_and_symbols_without_one_a_space():
    student = symbols.StudentSymbols(AsciiOnly())
    assert student.rewrite("8 → 8, 7 ⇒ 7, 3 ≈ 3, 12 ≥ 10 ≠ 9") == "8 -> 8, 7 => 7, 3 ~ 3, 12 >= 10 != 9"
    assert student.rewrite("17 ✓ 😊!") == "17    !" and student.rewrite("ok ✔️.") == "ok  ."
    assert student.rewrite("a\u2028b\u2029c") == "a\nb\nc", "line separators are whitespace it does not know"
    assert not student.report.unknown


def test_an_alternative_is_taken_when_the_first_replacement_is_unknown_too():
    student = symbols.StudentSymbols(AsciiOnly(missing="~\n"))
    assert student.rewrite("24 / 7 ≈ 3.43\u2028done") == "24 / 7 = 3.43 done"
    lost = symbols.StudentSymbols(AsciiOnly(missing="~="))
    assert lost.rewrite("7 ≈ 7") == "7 ≈ 7" and lost.report.unknown == {"≈": 1}, "no known option: kept, counted"


def test_spans_move_with_a_longer_or_an_empty_replacement():
    text = "12 + 5 = 17 ✔️ → 17 marbles"
    spans = [[text.index("17"), text.index("17") + 2, "result"], [text.index("→"), text.index("→") + 1, "filler"],
             [text.rindex("17"), len(text), "quantity"]]
    [record], report = symbols.normalize_rationale_records([{"id": "a", "rationale": text, "spans": spans}], AsciiOnly())
    out = record["rationale"]
    assert out == "12 + 5 = 17   -> 17 marbles" and report.replaced == {"✔": 1, "\ufe0f": 1, "→": 1}
    assert [out[start:end] for start, end, _ in record["spans"]] == ["17", "->", "17 marbles"]
    assert [label for *_, label in record["spans"]] == ["result", "filler", "quantity"]


class AsciiOnly:
    """A tokenizer that knows printable ASCII and "\n" (less `missing`), and nothing else: no
    normaliser turns U+2028 into whitespace for it, as FlanT5's does."""

    unk_token_id = 0

    def __init__(self, missing: str = ""):
        self.missing = set(missing)

    def __call__(self, text, add_special_tokens=False):
        known = lambda c: (c == "\n" or " " <= c <= "~") and c not in self.missing  # noqa: E731
        return {"input_ids": [ord(c) if known(c) else self.unk_token_id for c in text]}


def test_a_rationale_file_is_rewritten_in_place_once_and_its_spans_stay_valid(tmp_path, t5):
    path = tmp_path / "rationales.jsonl"
    operator = TEACHER_TEXT.index("÷")
    records = [{"id": "a", "question": "q", "answer": "24", "rationale": TEACHER_TEXT,
                "spans": [[operator, operator + 1, "operator"]]},
               {"id": "b", "question": "q", "answer": "3", "rationale": "1 + 2 = 3."}]
    data.write_jsonl(path, records)
    report = symbols.normalize_rationale_file(path, t5)
    assert report["texts"] == 2 and report["texts_changed"] == 1 and report["replaced"]["÷"] == 1
    rewritten = [r for _, r in data.read_jsonl(path)]
    start, end, _ = rewritten[0]["spans"][0]
    assert rewritten[0]["rationale"][start:end] == "/", "the keypoint span now covers the ASCII operator"
    assert rewritten[1] == records[1]
    inode = os.stat(path).st_ino
    again = symbols.normalize_rationale_file(path, t5)
    assert again["texts_changed"] == 0 and not again["replaced"] and again["unknown"] == {"<": 1}
    assert os.stat(path).st_ino == inode, "nothing to replace: the file is not rewritten"


def test_the_pipeline_stage_runs_once_before_the_weights_and_reports_its_counts(tmp_path):
    cfg = preset("tiny").replace(student="tiny-t5-spm", weighting_predictor=None)
    data.write_jsonl(tmp_path / "rationales.jsonl",
                     [{"id": "a", "question": "q", "answer": "24", "rationale": TEACHER_TEXT}])
    report = pipeline.stage_student_symbols(cfg, tmp_path)
    assert report["replaced"]["×"] == 1
    assert json.loads((tmp_path / "rationales.symbols.json").read_text())["unk_tokens_after"] == 1
    assert "÷" not in next(data.read_jsonl(tmp_path / "rationales.jsonl"))[1]["rationale"]
    assert pipeline.stage_student_symbols(cfg, tmp_path) is None, "done once"
    summary = pipeline.summarise(tmp_path)
    assert summary["student_symbols_replaced"] == 8 and summary["student_unk_tokens_left"] == 1
    # A folder whose weights were made from the text as it was is left alone (they would not align).
    other = tmp_path / "old"
    other.mkdir()
    data.write_jsonl(other / "rationales.jsonl", [{"id": "a", "question": "q", "answer": "1", "rationale": "3 × 4"}])
    (other / "weights.jsonl").write_text("")
    assert pipeline.stage_student_symbols(cfg, other) is None
    assert "×" in next(data.read_jsonl(other / "rationales.jsonl"))[1]["rationale"]
