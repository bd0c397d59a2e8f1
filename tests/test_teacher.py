"""Tests for kpod_lite.teacher: the §3.1 template, the back-ends, the cache and `teach`.

The openai back-end is tested with the real `openai` client against `openai_stub.StubServer`
on loopback; the hf back-end with tiny random models saved to a temporary folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpod_lite.errors import ConfigError
from hypothesis import given, settings
from hypothesis import strategies as st

from kpod_lite import data, teacher
from kpod_lite.data import Example
from kpod_lite.teacher import (
    Rationale,
    RetryPolicy,
    TeacherError,
    clean_rationale,
)
from kpod_lite.templates import build_prompt, extraction_prompt, format_rationale_target

sys.path.insert(0, str(Path(__file__).parent))
from openai_stub import StubServer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SYNTHETIC = REPO / "data_samples" / "synthetic" / "train.jsonl"
GSM8K = REPO / "data_samples" / "formats" / "gsm8k.jsonl"
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05)


def addition_questions(n: int, prefix: str = "q") -> list[Example]:
    return [Example(f"{prefix}{i}", f"What is {i} + {i + 1}?", str(2 * i + 1), dataset="toy") for i in range(n)]


def records(path: Path) -> list[dict]:
    return [record for _, record in data.read_jsonl(path, tolerate_truncated_tail=True)]


def stub_teacher(server: StubServer, **options) -> teacher.OpenAITeacher:
    options = {"api_key": "sk-test", "concurrency": 4, "timeout": 5.0, "retry": FAST_RETRY, **options}
    return teacher.OpenAITeacher("stub-model", base_url=server.base_url, **options)


@pytest.fixture
def server():
    with StubServer() as running:
        yield running


# --- the template (§3.1) -----------------------------------------------------------------------


def test_build_prompt_follows_the_zero_shot_cot_template():
    assert build_prompt("What is 3 + 4?") == "Q: What is 3 + 4?\nA: Let's think step by step."
    assert build_prompt("Where is money kept?", {"A": "tree", "B": "bank"}) == (
        "Q: Where is money kept? Answer Choices: (A) tree (B) bank\nA: Let's think step by step."
    )
    assert build_prompt("x?", cot_prompt="Let's reason.").endswith("A: Let's reason.")


def test_extraction_prompt_appends_the_reasoning_and_the_trigger_for_the_answer_type():
    first = build_prompt("What is 3 + 4?")
    assert extraction_prompt(first, " 3 + 4 = 7. ", "number") == (
        first + " 3 + 4 = 7.\nTherefore, the answer (arabic numerals) is"
    )
    assert extraction_prompt(first, "(B) fits.", "choice").endswith("(B) fits.\nTherefore, among A through E, the answer is")
    with pytest.raises(ValueError, match="kind"):
        extraction_prompt(first, "r", "date")


def test_format_rationale_target_is_the_student_target():
    assert format_rationale_target("3 + 4 = 7.", "7") == "3 + 4 = 7. Therefore, the answer is 7."
    assert format_rationale_target("  ", "B") == "Therefore, the answer is B."


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("Q: What is 3 + 4?\nA: Let's think step by step. 3 + 4 = 7.\nTherefore, the answer is 7.", "3 + 4 = 7."),
        ("A: Let's think step by step.\n3 + 4 = 7", "3 + 4 = 7."),
        ("First we add.   3 + 4 = 7, so the answer is 7.", "First we add. 3 + 4 = 7."),
        ("3 + 4 = 7.\nThe answer is 7.", "3 + 4 = 7."),
        ("3 + 4 = 7. Answer: 7", "3 + 4 = 7."),
        ("We add them\n3 + 4 = 7\n\nTherefore, the answer (arabic numerals) is 7.", "We add them. 3 + 4 = 7."),
        ("(B) fits. Therefore, among A through E, the answer is B.", "(B) fits."),
        ("3 + 4 = 7. Therefore, the answer is 7.\n\nQ: What is 1 + 1?\nA: 2", "3 + 4 = 7."),
        ("We check if the answer is right later. 3 + 4 = 7.", "We check if the answer is right later. 3 + 4 = 7."),
        ("Therefore, the answer is 7.", ""),
    ],
)
def test_clean_rationale_keeps_only_the_reasoning(raw, expected):
    assert clean_rationale(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [  # list markers never become steps of their own (§3.4 splits at ".")
        ("1. First we add.\n2. Then we double.", ["First we add.", "Then we double."]),
        ("1) Total: 8 * 15 = 120\n2) Empty: 120 - 97 = 23", ["Total: 8 * 15 = 120.", "Empty: 120 - 97 = 23."]),
        ("(1) Add 2\n(2) Add 3", ["Add 2.", "Add 3."]),
        ("Step 1: 3 x 24 = 72\nStep 2. 72 - 17 = 55", ["3 x 24 = 72.", "72 - 17 = 55."]),
        ("- Morning: 2.5 km\n* Evening: 1.5 km\n\u2022 Total: 4 km", ["Morning: 2.5 km.", "Evening: 1.5 km.",
                                                                  "Total: 4 km."]),
        ("Let's break it down:\n1. The pizza has 12 slices.\n2. Tim eats 4.", ["Let's break it down.",
                                                                           "The pizza has 12 slices.", "Tim eats 4."]),
        # a long division laid out over lines is one step, not "21." "÷ 7." "3."
        ("We divide:\n  21\n\u00f7 7\n----\n  3\nSo each gets 3.", ["We divide: 21 \u00f7 7 3.", "So each gets 3."]),
        ("21 \u00f7 7 = 3\n3 \u00d7 4 = 12", ["21 \u00f7 7 = 3.", "3 \u00d7 4 = 12."]),  # equations stay steps
        ("-6 degrees is cold\n1.5 kg of rice", ["-6 degrees is cold.", "1.5 kg of rice."]),  # signs, decimals stay
    ],
)
def test_cleaned_lists_split_into_their_items(raw, expected):
    cleaned = clean_rationale(raw)
    assert [step.text for step in data.split_steps(cleaned)] == expected
    assert clean_rationale(cleaned) == cleaned


_markers = st.sampled_from(["1.", "2)", "(3)", "Step 4:", "Step 5.", "-", "*", "\u2022", "12."])
_first_words = st.sampled_from(["we", "add", "apples", "Tom", "has", "total", "each"])
_item_words = st.sampled_from(["we", "add", "apples", "Tom", "has", "=", "+", "x", "total", "each"])
_items = st.builds(lambda first, rest, last: " ".join([first, *rest, last]), _first_words,
                   st.lists(st.one_of(_item_words, st.integers(0, 999).map(str)), max_size=6),
                   st.one_of(_first_words, st.integers(0, 999).map(str)))


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(st.tuples(_markers, _items, st.sampled_from(["", ".", ":", ","])), min_size=1, max_size=6))
def test_no_list_marker_survives_as_a_step(lines):
    raw = "\n".join(f"{marker} {item}{end}" for marker, item, end in lines)
    steps = [step.text for step in data.split_steps(clean_rationale(raw))]
    for step in steps:
        assert not re.fullmatch(r"(?i)(?:step\s*)?\(?[0-9]{1,3}[.):]?\)?\.?|[-*\u2022.]+", step), (raw, steps)
    assert steps == [f"{item}." for _, item, _ in lines]  # one step per item, marker gone
    assert clean_rationale(clean_rationale(raw)) == clean_rationale(raw)


_words = st.sampled_from(["we", "add", "the", "apples", "First,", "so", "total", "each", "then", "=", "+", "Next,"])
_numbers = st.integers(-999, 9999).map(str)
_sentences = st.lists(st.one_of(_words, _numbers), min_size=1, max_size=8).map(lambda ws: " ".join(ws) + ".")
_rationales = st.lists(_sentences, max_size=5).map(" ".join)


@settings(max_examples=60, deadline=None)
@given(rationale=_rationales, answer=st.one_of(_numbers, st.decimals(-100, 100, places=2).map(str)))
def test_the_target_round_trips_through_extraction_and_cleaning(rationale, answer):
    target = format_rationale_target(rationale, answer)
    assert data.extract_answer(target, "number") == data.normalize_answer(answer)
    assert clean_rationale(target) == clean_rationale(rationale)
    assert clean_rationale(clean_rationale(target)) == clean_rationale(target)


def test_rationale_record_round_trip_without_empty_optional_fields():
    rationale = Rationale("q1", "What is 1 + 2?", "3", "1 + 2 = 3.", "3", True, "template", 2)
    record = rationale.to_record()
    assert set(record) == {"id", "question", "answer", "rationale", "teacher_answer", "correct", "teacher", "sample"}
    assert Rationale.from_record(json.loads(json.dumps(record))) == rationale
    failed = Rationale("q1", "x", "3", "", None, False, "openai:m", 0, error="boom")
    assert Rationale.from_record(failed.to_record()) == failed and failed.failed


def test_request_seed_is_stable_and_separates_samples():
    assert teacher.request_seed(0, "q1", 0) == teacher.request_seed(0, "q1", 0) == 427915604
    assert len({teacher.request_seed(s, i, k) for s in (0, 1) for i in ("q1", "q2") for k in (0, 1)}) == 8


# --- the template teacher ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_examples():
    return data.load_examples(SYNTHETIC, "kpod")[:30]


def test_template_teacher_is_deterministic_per_seed_id_and_sample(tmp_path, synthetic_examples):
    backend = teacher.make_backend("template")
    run = lambda name, seed: (teacher.teach(synthetic_examples, backend, out=tmp_path / f"{name}.jsonl", samples=2,
                                            seed=seed, progress=False), records(tmp_path / f"{name}.jsonl"))
    _, first = run("a", 0)
    _, again = run("b", 0)
    _, other_seed = run("c", 1)
    assert first == again
    assert len(first) == 2 * len(synthetic_examples)  # temperature 0: never wrong, all kept
    by_pair = {(r["id"], r["sample"]): r["rationale"] for r in first}
    differing = sum(by_pair[(e.id, 0)] != by_pair[(e.id, 1)] for e in synthetic_examples)
    assert differing >= len(synthetic_examples) // 2  # other fillers and wording per sample
    assert [r["rationale"] for r in first] != [r["rationale"] for r in other_seed]
    for record in first:  # the spans still describe the text they label
        assert record["spans"][-1][1] == len(record["rationale"])
        assert record["teacher_answer"] == record["answer"]


def test_answer_filtering_drops_the_template_teachers_slips(tmp_path, synthetic_examples):
    backend = teacher.make_backend("template")
    out, everything = tmp_path / "kept.jsonl", tmp_path / "all.jsonl"
    report = teacher.teach(synthetic_examples, backend, out=out, samples=2, temperature=2.0, progress=False)
    assert backend.slip_probability(2.0) == pytest.approx(0.6)
    assert 0 < report.dropped < 2 * len(synthetic_examples)
    assert report.kept + report.dropped == report.generated == 2 * len(synthetic_examples)
    kept = records(out)
    assert len(kept) == report.kept and all(r["correct"] and r["teacher_answer"] == r["answer"] for r in kept)
    wrong = [r for r in records(tmp_path / "kept.cache.jsonl") if not r["correct"]]
    assert len(wrong) == report.dropped and all(r["teacher_answer"] != r["answer"] for r in wrong)
    unfiltered = teacher.teach(synthetic_examples, backend, out=everything, cache=tmp_path / "kept.cache.jsonl",
                               samples=2, temperature=2.0, filter_correct=False, progress=False)
    assert unfiltered.reused == 2 * len(synthetic_examples) and unfiltered.generated == 0
    assert len(records(everything)) == unfiltered.kept == 2 * len(synthetic_examples) and unfiltered.dropped == 0


def test_template_teacher_refuses_questions_without_a_program(tmp_path):
    with pytest.raises(TeacherError, match="q0"):
        teacher.teach(addition_questions(2), teacher.make_backend("template"), out=tmp_path / "r.jsonl", progress=False)
    assert not (tmp_path / "r.jsonl").exists()


# --- the gold and replay teachers --------------------------------------------------------------


def test_gold_teacher_uses_gsm8k_solutions_without_calculator_notes(tmp_path):
    examples = data.load_examples(GSM8K, "gsm8k")
    report = teacher.teach(examples, teacher.make_backend("gold"), out=tmp_path / "gold.jsonl", progress=False)
    kept = records(tmp_path / "gold.jsonl")
    assert report.kept == len(kept) == len(examples) and report.dropped == 0
    for record, example in zip(kept, examples):
        assert "<<" not in record["rationale"] and "####" not in record["rationale"]
        assert record["teacher_answer"] == example.answer and record["teacher"] == "gold"
    assert kept[0]["rationale"] == (
        "In the morning Mara sells 48/2 = 24 cookies. That leaves her 48 - 24 = 24 cookies. "
        "After the afternoon she has 24 - 14 = 10 cookies left."
    )
    assert teacher.split_gsm8k_solution("a = <<1+1=2>>2\n#### 1,250") == ("a = 2", "1250")


def test_gold_teacher_needs_a_solution(tmp_path):
    with pytest.raises(TeacherError, match="solution"):
        teacher.teach(addition_questions(1), teacher.make_backend("gold"), out=tmp_path / "r.jsonl", progress=False)


def test_replay_reproduces_a_cache_without_asking_the_teacher(tmp_path, synthetic_examples):
    first = teacher.teach(synthetic_examples, teacher.make_backend("template"), out=tmp_path / "a.jsonl",
                          temperature=1.5, filter_correct=False, progress=False)
    replay = teacher.make_backend("replay", replay_from=tmp_path / "a.cache.jsonl")
    again = teacher.teach(synthetic_examples, replay, out=tmp_path / "b.jsonl", filter_correct=False, progress=False)
    assert records(tmp_path / "b.jsonl") == records(tmp_path / "a.jsonl")  # teacher name kept: "template"
    assert (again.generated, again.correct) == (first.generated, first.correct)
    with pytest.raises(TeacherError, match=r"'syn-00000', sample 1"):
        teacher.teach(synthetic_examples, replay, out=tmp_path / "c.jsonl", samples=2, progress=False)


# --- the cache: resuming, torn lines, stale entries ---------------------------------------------


class CountingTeacher:
    """Wraps a back-end, counts what it is asked, and can crash after some answers."""

    def __init__(self, inner, crash_after=None):
        self.inner, self.crash_after, self.asked = inner, crash_after, []
        self.name = inner.name

    def generate(self, requests, **settings):
        self.asked += [(r.example.id, r.sample) for r in requests]
        for done, answer in enumerate(self.inner.generate(requests, **settings)):
            if done == self.crash_after:
                raise KeyboardInterrupt("killed")
            yield answer


def test_an_interrupted_run_resumes_from_its_cache(tmp_path, synthetic_examples):
    out = tmp_path / "r.jsonl"
    crashing = CountingTeacher(teacher.make_backend("template"), crash_after=7)
    with pytest.raises(KeyboardInterrupt):
        teacher.teach(synthetic_examples, crashing, out=out, samples=2, progress=False)
    assert len(records(tmp_path / "r.cache.jsonl")) == 7 and not out.exists()
    with open(tmp_path / "r.cache.jsonl", "a") as cache:  # and a line torn by a kill
        cache.write('{"id": "syn-000')
    resumed = CountingTeacher(teacher.make_backend("template"))
    report = teacher.teach(synthetic_examples, resumed, out=out, samples=2, progress=False)
    assert len(resumed.asked) == 2 * len(synthetic_examples) - 7
    assert (report.reused, report.generated) == (7, 2 * len(synthetic_examples) - 7)
    assert len(records(tmp_path / "r.cache.jsonl")) == 2 * len(synthetic_examples)
    assert [(r["id"], r["sample"]) for r in records(out)] == [(e.id, s) for e in synthetic_examples for s in (0, 1)]
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_cached_answers_for_a_changed_question_are_asked_again(tmp_path, synthetic_examples):
    examples = synthetic_examples[:3]
    teacher.teach(examples, teacher.make_backend("template"), out=tmp_path / "r.jsonl", progress=False)
    edited = [dataclasses.replace(examples[0], question=examples[0].question + " Quickly!"), *examples[1:]]
    counting = CountingTeacher(teacher.make_backend("template"))
    report = teacher.teach(edited, counting, out=tmp_path / "r.jsonl", progress=False)
    assert counting.asked == [(examples[0].id, 0)] and report.reused == 2
    assert records(tmp_path / "r.jsonl")[0]["question"].endswith("Quickly!")


def test_duplicate_ids_are_refused(tmp_path):
    questions = addition_questions(2) + addition_questions(1)
    with pytest.raises(TeacherError, match="'q0' repeats"):
        teacher.teach(questions, teacher.make_backend("gold"), out=tmp_path / "r.jsonl", progress=False)


# --- the openai back-end against a loopback server ------------------------------------------


def test_openai_teacher_asks_in_two_stages(tmp_path, server):
    questions = addition_questions(3) + [Example("c0", "Where is money kept?", "B", {"A": "tree", "B": "bank"})]
    report = teacher.teach(questions, stub_teacher(server), out=tmp_path / "r.jsonl", temperature=0.7,
                           max_tokens=99, progress=False)
    assert server.count(stage=1) == 4 and server.count(stage=2) == 4
    assert (report.generated, report.kept, report.failed) == (4, 4, 0)
    kept = {r["id"]: r for r in records(tmp_path / "r.jsonl")}
    assert kept["q2"]["rationale"] == "We simply add them up. 2 + 3 = 5." and kept["q2"]["teacher_answer"] == "5"
    assert kept["c0"]["teacher_answer"] == "B" and kept["c0"]["question"].endswith("(A) tree (B) bank")
    assert kept["q0"]["teacher"] == "openai:stub-model"
    first = next(s for s in server.seen if s.stage == 1 and s.question == "What is 1 + 2?")
    second = next(s for s in server.seen if s.stage == 2 and s.question == "What is 1 + 2?")
    assert (first.body["temperature"], first.body["max_tokens"], first.body["model"]) == (0.7, 99, "stub-model")
    assert second.body["temperature"] == 0.0  # the answer is read greedily
    assert second.body["messages"][-1]["content"] == (
        "Q: What is 1 + 2?\nA: Let's think step by step. We simply add them up. 1 + 2 = 3.\n"
        "Therefore, the answer (arabic numerals) is"
    )


@pytest.mark.parametrize("fault", ["429", "500", "timeout", "malformed", "empty"])
def test_openai_teacher_retries_transient_faults(tmp_path, fault):
    with StubServer(timeout_sleep=2.0) as server:
        questions = addition_questions(3)
        server.inject("What is 1 + 2?", fault, "ok", stage=1)
        server.inject("What is 2 + 3?", fault, stage=2)
        backend = stub_teacher(server, timeout=1.0 if fault == "timeout" else 5.0)
        report = teacher.teach(questions, backend, out=tmp_path / "r.jsonl", progress=False)
        assert server.count(stage=1, question="What is 1 + 2?") == 2
        assert server.count(stage=2, question="What is 2 + 3?") == 2
        assert server.count() == 3 * 2 + 2
    assert (report.generated, report.kept, report.failed) == (3, 3, 0)
    assert [r["teacher_answer"] for r in records(tmp_path / "r.jsonl")] == ["1", "3", "5"]


def test_a_persistent_failure_is_recorded_and_retried_on_the_next_run(tmp_path, server):
    questions = addition_questions(4)
    server.inject("What is 1 + 2?", "500", stage=1, persistent=True)
    server.inject("What is 2 + 3?", "400", stage=1)  # not transient: no retry
    out = tmp_path / "r.jsonl"
    report = teacher.teach(questions, stub_teacher(server), out=out, progress=False)
    assert server.count(stage=1, question="What is 1 + 2?") == FAST_RETRY.max_attempts
    assert server.count(stage=1, question="What is 2 + 3?") == 1
    assert (report.generated, report.failed, report.kept) == (2, 2, 2)
    assert "2 failed" in report.summary()
    failed = [r for r in records(tmp_path / "r.cache.jsonl") if "error" in r]
    assert {r["id"] for r in failed} == {"q1", "q2"} and all(r["rationale"] == "" for r in failed)
    assert "HTTP 500" in failed[0]["error"] + failed[1]["error"] and "after 3 attempts" in " ".join(report.failures)
    assert [r["id"] for r in records(out)] == ["q0", "q3"]

    server._persistent.clear()  # the outage is over: only the failed questions are asked again
    again = teacher.teach(questions, stub_teacher(server), out=out, progress=False)
    assert (again.reused, again.generated, again.failed) == (2, 2, 0)
    assert server.count(stage=1, question="What is 0 + 1?") == 1
    assert [r["id"] for r in records(out)] == ["q0", "q1", "q2", "q3"]


def test_a_rejected_key_stops_the_run(tmp_path, server):
    server.inject("What is 1 + 2?", "401", stage=1)
    questions = addition_questions(40)
    with pytest.raises(TeacherError, match="HTTP 401"):
        teacher.teach(questions, stub_teacher(server, concurrency=1), out=tmp_path / "r.jsonl", progress=False)
    assert server.count(stage=1, question="What is 1 + 2?") == 1  # not retried
    assert server.count(stage=1) < len(questions)  # and the run stopped


def test_a_wrong_teacher_answer_is_dropped(tmp_path, server):
    questions = [Example("t", "What is 3 + 4? (trap)", "7")] + addition_questions(1)
    report = teacher.teach(questions, stub_teacher(server), out=tmp_path / "r.jsonl", progress=False)
    assert (report.kept, report.dropped, report.correct) == (1, 1, 1)
    wrong = next(r for r in records(tmp_path / "r.cache.jsonl") if r["id"] == "t")
    assert wrong["teacher_answer"] == "8" and wrong["correct"] is False


def test_retry_delays_grow_with_jitter_and_a_ceiling():
    import random

    policy, rng = RetryPolicy(base_delay=1.0, max_delay=5.0), random.Random(0)
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        delays = [policy.delay(attempt, rng) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1


def test_the_retry_cap_is_a_setting_that_reaches_the_backend(tmp_path, server, monkeypatch):
    """A timeout and a retry cap as settings (`teacher_max_attempts`, `teach --max-attempts`)."""
    from kpod_lite.config import preset
    from kpod_lite.pipeline import teacher_backend

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    server.inject("What is 1 + 2?", "500", stage=1, persistent=True)
    backend = teacher.make_backend("openai", model="stub-model", base_url=server.base_url, max_attempts=2,
                                   retry=FAST_RETRY)
    assert backend.retry.max_attempts == 2 and backend.retry.base_delay == FAST_RETRY.base_delay
    report = teacher.teach(addition_questions(2), backend, out=tmp_path / "r.jsonl", progress=False)
    assert report.failed == 1 and server.count(stage=1, question="What is 1 + 2?") == 2
    cfg = preset("tiny", teacher="openai", teacher_model="m", teacher_base_url=server.base_url,
                 teacher_max_attempts=4, teacher_timeout=7.5)
    configured = teacher_backend(cfg)
    assert configured.retry.max_attempts == 4
    with pytest.raises(ConfigError, match="teacher_max_attempts must be >= 1"):
        preset("tiny", teacher_max_attempts=0)


def test_make_backend_reads_the_environment_and_allows_a_keyless_local_server(tmp_path, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("KPOD_TEACHER_MODEL", raising=False)
    with pytest.raises(TeacherError, match="model"):
        teacher.make_backend("openai")
    with pytest.raises(TeacherError, match="OPENAI_API_KEY"):
        teacher.make_backend("openai", model="gpt-3.5-turbo")
    monkeypatch.setenv("KPOD_TEACHER_MODEL", "local-model")
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    backend = teacher.make_backend("openai", concurrency=1)
    assert backend.name == "openai:local-model"
    teacher.teach(addition_questions(1), backend, out=tmp_path / "r.jsonl", progress=False)
    assert server.seen[0].authorization == f"Bearer {teacher.PLACEHOLDER_API_KEY}"
    assert server.seen[0].body["model"] == "local-model"
    for name, message in [("nope", "unknown teacher"), ("replay", "replay-from"), ("hf", "model")]:
        with pytest.raises(TeacherError, match=message):
            teacher.make_backend(name)


# --- the API key stays secret --------------------------------------------------------------


SECRET = "sk-kpod-test-7f3a9c1e5b2d4680"


def test_the_api_key_appears_nowhere(tmp_path, server, monkeypatch, caplog, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    for name in (None, "openai", "httpx", "httpx2", "kpod_lite"):
        caplog.set_level(logging.DEBUG, logger=name)
    server.inject("What is 1 + 2?", "echo-500", stage=1, persistent=True)  # a server that echoes the key
    server.inject("What is 2 + 3?", "echo-400", stage=2)
    backend = teacher.make_backend("openai", model="stub-model", base_url=server.base_url, retry=FAST_RETRY)
    report = teacher.teach(addition_questions(3), backend, out=tmp_path / "r.jsonl", progress=True)
    print(report.summary(), repr(backend), report.failures)
    assert server.seen[0].authorization == f"Bearer {SECRET}"  # the key was really used
    assert report.failed == 2 and all("***" in failure for failure in report.failures)
    captured = capsys.readouterr()
    files = "".join(p.read_text() for p in tmp_path.iterdir())
    assert "HTTP 500" in files and "HTTP 400" in caplog.text
    for where in (files, captured.out, captured.err, caplog.text, " ".join(report.failures)):
        assert SECRET not in where


def run_cli(*args: str, env: dict, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kpod_lite.cli", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def write_questions(path: Path, examples: list[Example]) -> Path:
    data.save_examples(path, examples)
    return path


def cli_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "KPOD_TEACHER_MODEL")}
    return {**env, **extra}


def test_the_cli_keeps_the_api_key_out_of_its_output(tmp_path, server):
    questions = write_questions(tmp_path / "q.jsonl", addition_questions(3))
    server.inject("What is 2 + 3?", "echo-400", stage=1)
    result = run_cli("-v", "teach", "--data", str(questions), "--teacher", "openai", "--model", "stub-model",
                     "--base-url", server.base_url, "--out", str(tmp_path / "r.jsonl"),
                     env=cli_env(OPENAI_API_KEY=SECRET), cwd=tmp_path)
    # One request failed: the run did not do all it was asked (exit 1), and says so without the key.
    assert result.returncode == 1, result.stderr
    assert "2 generated" in result.stdout and "1 failed" in result.stdout
    assert "1 of 3 teacher requests failed" in result.stderr and "Traceback" not in result.stderr
    assert server.seen[0].authorization == f"Bearer {SECRET}"
    files = "".join(p.read_text() for p in tmp_path.iterdir() if p.suffix == ".jsonl")
    assert "HTTP 400" in files
    for where in (files, result.stdout, result.stderr):
        assert SECRET not in where


# --- a run killed with SIGKILL resumes without asking again ----------------------------------


def test_a_killed_cli_run_resumes_without_repeating_finished_questions(tmp_path):
    questions = addition_questions(12)
    data_file = write_questions(tmp_path / "q.jsonl", questions)
    cache = tmp_path / "r.cache.jsonl"
    args = ["teach", "--data", str(data_file), "--teacher", "openai", "--model", "stub-model",
            "--out", str(tmp_path / "r.jsonl"), "--concurrency", "2", "--no-progress"]
    with StubServer(delay=0.15) as server:
        env = cli_env(OPENAI_BASE_URL=server.base_url)
        process = subprocess.Popen([sys.executable, "-m", "kpod_lite.cli", *args], env=env, cwd=tmp_path,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (not cache.exists() or cache.read_text().count("\n") < 3):
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        finished = {r["id"] for r in records(cache)}
        assert 3 <= len(finished) < len(questions) and not (tmp_path / "r.jsonl").exists()

        result = run_cli(*args, env=env, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert f"{len(finished)} reused from cache" in result.stdout
        assert [r["id"] for r in records(tmp_path / "r.jsonl")] == [q.id for q in questions]
        for question in questions:
            asked = server.count(stage=1, question=question.question)
            assert (asked == 1) if question.id in finished else (asked >= 1), question.id


# --- the hf back-end on tiny random models ----------------------------------------------------


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    words = Tokenizer(models.WordLevel(unk_token="<unk>"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.decoder = decoders.WordPiece()
    corpus = ["Q: What is 1 + 2 ? A: Let's think step by step . Therefore , the answer ( arabic numerals ) is 3 ."]
    words.train_from_iterator(corpus, trainers.WordLevelTrainer(special_tokens=["<pad>", "</s>", "<unk>"]))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=words, pad_token="<pad>", eos_token="</s>", unk_token="<unk>")
    vocab = words.get_vocab_size()
    folder = tmp_path_factory.mktemp("tiny_teachers")
    torch.manual_seed(0)
    built = {
        "causal": LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                               num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                                               pad_token_id=0, eos_token_id=1, bos_token_id=1)),
        "seq2seq": T5ForConditionalGeneration(T5Config(vocab_size=vocab, d_model=16, d_ff=32, d_kv=8, num_layers=1,
                                                       num_decoder_layers=1, num_heads=2, pad_token_id=0,
                                                       eos_token_id=1, decoder_start_token_id=0)),
    }
    paths = {}
    for kind, model in built.items():
        paths[kind] = folder / kind
        model.save_pretrained(paths[kind])
        tokenizer.save_pretrained(paths[kind])
        assert (paths[kind] / "model.safetensors").exists()
    return paths


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_hf_teacher_plumbing_on_a_tiny_random_model(tmp_path, tiny_models, kind):
    backend = teacher.make_backend("hf", model=str(tiny_models[kind]), concurrency=2)
    assert backend.family.name == kind  # read off the model config (kpod_lite.families)
    assert backend.tokenizer.padding_side == ("right" if kind == "seq2seq" else "left")
    questions = [Example("a", "What is 1 + 2?", "3"), Example("b", "What is 1 + 2 + 1 + 2 + 1 + 2 + 1?", "10"),
                 Example("c", "What is 2?", "2")]
    requests = [teacher.TeacherRequest(q) for q in questions]
    batched = list(backend.generate(requests, temperature=0.0, max_tokens=5, seed=0))
    assert [request for request, _ in batched] == requests
    for request, output in batched:
        assert len(output.reasoning.split()) <= 5 and output.answer_text is not None  # new tokens only
        [(_, alone)] = backend.generate([request], temperature=0.0, max_tokens=5, seed=0)
        assert alone == output  # padding in a batch changes nothing at temperature 0
    report = teacher.teach(questions, backend, out=tmp_path / "r.jsonl", samples=2, temperature=1.0,
                           max_tokens=5, filter_correct=False, progress=False)
    written = records(tmp_path / "r.jsonl")
    assert report.generated == report.kept == len(written) == 6
    assert {r["teacher"] for r in written} == {f"hf:{tiny_models[kind]}"}
    assert {(r["id"], r["sample"]) for r in written} == {(q.id, s) for q in questions for s in (0, 1)}


def test_a_rate_limit_that_says_how_long_to_wait_is_waited_for(tmp_path, server, monkeypatch):
    from types import SimpleNamespace

    from kpod_lite.teacher import openai_compat

    waits = []  # the teacher's own clock only: the stub server keeps the real one
    monkeypatch.setattr(openai_compat, "time", SimpleNamespace(sleep=waits.append, time=time.time))
    server.inject("What is 0 + 1?", "429-wait", "ok", stage=1)
    report = teacher.teach(addition_questions(1), stub_teacher(server), out=tmp_path / "r.jsonl", progress=False)
    assert waits == [2.0], "Retry-After: 2 outweighs the 0.01-0.05 s backoff"
    assert (report.generated, report.failed) == (1, 0)
    assert RetryPolicy(max_retry_after=5.0).delay(1, __import__("random").Random(0), retry_after=3600) == 5.0


def test_two_runs_never_write_one_cache(tmp_path, synthetic_examples):
    from filelock import FileLock

    cache, questions = tmp_path / "r.cache.jsonl", synthetic_examples[:3]
    with FileLock(f"{cache}.lock"):  # another run holds the cache
        with pytest.raises(teacher.TeacherError, match="another teach run is writing"):
            teacher.teach(questions, teacher.make_backend("template"), out=tmp_path / "r.jsonl", cache=cache,
                          progress=False)
    assert not cache.exists() or not cache.read_text(), "the refused run wrote nothing"
    report = teacher.teach(questions, teacher.make_backend("template"), out=tmp_path / "r.jsonl", cache=cache,
                           progress=False)
    assert report.generated == 3, "once the other run is done, the cache is free"


def test_the_hf_teacher_loads_safetensors_only(tmp_path, tiny_models):
    from transformers import AutoModelForCausalLM

    import shutil

    import torch

    pickled = tmp_path / "pickled"  # the same model, its weights as a pickled pytorch_model.bin
    shutil.copytree(tiny_models["causal"], pickled)
    (pickled / "model.safetensors").unlink()
    torch.save(AutoModelForCausalLM.from_pretrained(tiny_models["causal"]).state_dict(), pickled / "pytorch_model.bin")
    # Refused before loading, naming the folder (kpod_lite.state_files.check_student_folder).
    with pytest.raises(data.DataFormatError, match="pickled: holds no model.safetensors"):
        teacher.make_backend("hf", model=str(pickled))


def test_a_number_opening_a_calculation_is_not_taken_for_a_list_marker():
    from kpod_lite.teacher.cleaning import clean_rationale

    assert clean_rationale("(3) + 4 = 7 apples\nSo 7.") == "(3) + 4 = 7 apples. So 7."
    assert clean_rationale("(3) First add.\n(4) Then stop.") == "First add. Then stop."
