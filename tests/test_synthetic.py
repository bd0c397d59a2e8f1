"""The synthetic generator: exact arithmetic, labels that tile the rationale, fillers where
they were planted, one step per sentence (§3.4), and shipped splits that never drift."""

import json
import random
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpod_lite import synthetic
from kpod_lite.synthetic import (
    FILLER_PHRASES,
    KEYPOINT_LABELS,
    LABELS,
    OPENER_FILLERS,
    QUANTITY_WORDS,
    Span,
    SyntheticConfig,
    evaluate_program,
    generate_dataset,
    generate_problem,
    perturb_program,
    render_rationale,
    spans_from_record,
    write_splits,
)

SHIPPED = Path(__file__).resolve().parents[1] / "data_samples" / "synthetic"
# The command documented in the module docstring, minus "python -m kpod_lite.synthetic".
SHIPPED_ARGS = ["--seed", "0", "--train", "400", "--validation", "100", "--test", "100"]
SPLITS = ("train", "validation", "test")

CALCULATION = re.compile(r"(\d+) ([-+*/]) (\d+) = (\d+)")

configs = st.builds(
    lambda lo, extra, max_operand, max_factor, ops, filler_rate, distractor_rate: SyntheticConfig(
        min_steps=lo, max_steps=lo + extra, max_operand=max_operand, max_factor=max_factor,
        ops=tuple(ops), filler_rate=filler_rate, distractor_rate=distractor_rate),
    lo=st.integers(1, 4),
    extra=st.integers(0, 2),
    max_operand=st.integers(2, 60),
    max_factor=st.integers(2, 12),
    ops=st.sets(st.sampled_from(["+", "-", "*", "/"])).map(lambda ops: ops | {"+"}),
    filler_rate=st.floats(0, 1),
    distractor_rate=st.floats(0, 1),
)
problems = st.builds(lambda seed, config: generate_problem(random.Random(seed), config, "p"),
                     st.integers(0, 2**32), configs)
SETTINGS = settings(max_examples=60, deadline=None)


def text(problem, span):
    return problem.rationale[span.start:span.end]


def occurrences(phrase, rationale):
    """Where ``phrase`` stands as whole words, case-insensitively (a frame may capitalise it)."""
    pattern = rf"(?<![A-Za-z]){re.escape(phrase)}(?![A-Za-z])"
    return [(m.start(), m.end()) for m in re.finditer(pattern, rationale, re.IGNORECASE)]


def calculations(rationale):
    return [(int(a), op, int(b), int(c)) for a, op, b, c in CALCULATION.findall(rationale)]


# --- determinism and exact arithmetic -----------------------------------------------------


def test_same_seed_same_problems_other_seed_other_problems():
    first = [p.to_record() for p in generate_dataset(30, seed=7)]
    assert first == [p.to_record() for p in generate_dataset(30, seed=7)]
    assert first != [p.to_record() for p in generate_dataset(30, seed=8)]
    assert [r["id"] for r in first[:2]] == ["syn-00000", "syn-00001"]


@SETTINGS
@given(problems)
def test_answer_and_results_equal_the_evaluated_program(problem):
    results = evaluate_program(problem.program)
    assert [step["result"] for step in problem.program] == results
    assert problem.answer == str(results[-1])
    assert all(result >= 0 for result in results)
    json.dumps(problem.program)  # the program travels in a JSON record


@SETTINGS
@given(st.integers(0, 2**32), configs)
def test_given_numbers_respect_the_configured_ranges(seed, config):
    problem = generate_problem(random.Random(seed), config, "p")
    givens = [operand["given"] for step in problem.program for operand in step["operands"] if "given" in operand]
    assert all(1 <= given <= max(config.max_operand, config.max_factor) for given in givens)
    for step in problem.program:  # the second operand of "*" and "/" is a factor (bar "groups" steps)
        factor = step["operands"][1].get("given")
        if step["op"] == "/" or "as many" in step["find"]:
            assert 2 <= factor <= config.max_factor


def test_the_docstring_example_is_what_the_generator_writes():
    example = generate_dataset(8, seed=0)[7]
    docstring = " ".join(synthetic.__doc__.split())
    assert example.question in docstring and example.rationale in docstring


@SETTINGS
@given(problems)
def test_every_calculation_in_the_rationale_is_right(problem):
    found = calculations(problem.rationale)
    assert len(found) == len(problem.program), "one calculation per step"
    for (a, op, b, c), step in zip(found, problem.program):
        assert synthetic.apply_op(op, a, b) == c
        assert (op, c) == (step["op"], step["result"])


@pytest.mark.parametrize("op, a, b", [("/", 7, 2), ("/", 3, 0), ("%", 1, 1)])
def test_apply_op_refuses_inexact_division_and_unknown_ops(op, a, b):
    with pytest.raises(ValueError):
        synthetic.apply_op(op, a, b)


def test_a_step_cannot_refer_to_itself_or_a_later_step():
    program = [{"op": "+", "operands": [{"given": 1}, {"step": 0}], "result": 2, "unit": "x", "find": "y"}]
    with pytest.raises(ValueError, match="does not come before"):
        evaluate_program(program)


# --- labels -------------------------------------------------------------------------------


@SETTINGS
@given(problems)
def test_spans_tile_the_rationale(problem):
    spans = problem.spans
    assert spans[0].start == 0 and spans[-1].end == len(problem.rationale)
    for before, after in zip(spans, spans[1:]):
        assert before.end == after.start, "no gap, no overlap"
        assert before.label != after.label, "equal neighbours are merged"
    assert all(span.start < span.end and span.label in LABELS for span in spans)


@SETTINGS
@given(problems)
def test_digits_are_exactly_the_number_and_result_spans(problem):
    digit_runs = [(m.start(), m.end()) for m in re.finditer(r"\d+", problem.rationale)]
    numeric = [(s.start, s.end) for s in problem.spans if s.label in {"number", "result"}]
    assert digit_runs == numeric
    assert [text(problem, s) for s in problem.spans if s.label == "operator"] == [
        step["op"] for step in problem.program]
    assert [text(problem, s) for s in problem.spans if s.label == "result"] == [
        str(step["result"]) for step in problem.program]
    assert all(text(problem, s) == "=" for s in problem.spans if s.label == "equals")


@SETTINGS
@given(problems)
def test_quantity_words_are_labelled_and_only_they(problem):
    for span in problem.spans:
        words = re.findall(r"[A-Za-z]+", text(problem, span).lower())
        if span.label == "quantity":
            assert words and all(word in QUANTITY_WORDS for word in words)
        elif span.label == "plain":
            assert not set(words) & QUANTITY_WORDS


@SETTINGS
@given(problems)
def test_filler_spans_are_exactly_the_planted_phrases(problem):
    fillers = [(s.start, s.end) for s in problem.spans if s.label == "filler"]
    assert all(problem.rationale[a:b] in FILLER_PHRASES for a, b in fillers)
    # No filler phrase appears anywhere else: the labels miss none.
    planted = sorted(found for phrase in FILLER_PHRASES for found in occurrences(phrase, problem.rationale))
    assert planted == fillers


@pytest.mark.parametrize("seed", range(5))
def test_filler_rate_zero_plants_nothing_and_one_fills_every_slot(seed):
    program = generate_problem(random.Random(seed), SyntheticConfig(max_steps=4, min_steps=4), "p").program
    clean, spans = render_rationale(program, random.Random(seed), 0.0)
    assert not any(span.label == "filler" for span in spans)
    assert not any(occurrences(phrase, clean) for phrase in FILLER_PHRASES)
    full, spans = render_rationale(program, random.Random(seed), 1.0)
    sentences = full.split(". ")
    assert all(sentence.startswith(OPENER_FILLERS) for sentence in sentences)
    assert sum(span.label == "filler" for span in spans) >= 3 * len(program)
    assert calculations(clean) == calculations(full), "fillers never touch the arithmetic"


def test_keypoint_labels_are_the_reasoning_labels():
    assert KEYPOINT_LABELS == {"number", "operator", "equals", "result", "quantity"}
    assert set(LABELS) == KEYPOINT_LABELS | {"filler", "plain"}


# --- steps --------------------------------------------------------------------------------


@SETTINGS
@given(problems)
def test_one_sentence_per_step(problem):
    sentences = problem.rationale.split(".")
    assert sentences[-1] == "" and len(sentences) - 1 == len(problem.program)
    assert "Therefore" not in problem.rationale, "the teacher appends the answer sentence"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32), st.integers(1, 5), st.integers(0, 3))
def test_step_counts_stay_within_the_configured_range(seed, lo, extra):
    config = SyntheticConfig(min_steps=lo, max_steps=lo + extra)
    problem = generate_problem(random.Random(seed), config, "p")
    assert lo <= len(problem.program) <= lo + extra


def test_split_steps_gives_one_step_per_sentence():
    data = pytest.importorskip("kpod_lite.data")
    for problem in generate_dataset(50, seed=3):
        steps = data.split_steps(problem.rationale)
        assert len(steps) == len(problem.program)
        assert [calculations(step.text) for step in steps] == [[c] for c in calculations(problem.rationale)]
        assert all(problem.rationale[step.start:step.end] == step.text for step in steps)


@SETTINGS
@given(st.integers(0, 2**32), configs)
def test_only_allowed_operations_appear(seed, config):
    problem = generate_problem(random.Random(seed), config, "p")
    assert {step["op"] for step in problem.program} <= set(config.ops)


@pytest.mark.parametrize("seed", range(40))
def test_question_states_every_given_number_and_distractors_add_one(seed):
    def stated(program):
        numbers = []
        for step in program:
            if "altogether" in step["find"] or "difference" in step["find"]:
                continue  # compares counts the question already stated
            for k, operand in enumerate(step["operands"]):
                if "given" in operand and not (k == 1 and "as many" in step["find"]):
                    numbers.append(str(operand["given"]))  # a "times" factor is in words instead
        return sorted(numbers)

    plain = generate_problem(random.Random(seed), SyntheticConfig(distractor_rate=0.0), "p")
    assert sorted(re.findall(r"\d+", plain.question)) == stated(plain.program)
    noisy = generate_problem(random.Random(seed), SyntheticConfig(distractor_rate=1.0), "p")
    assert len(re.findall(r"\d+", noisy.question)) == len(stated(noisy.program)) + 1


# --- re-rendering and wrong teachers ----------------------------------------------------------


@SETTINGS
@given(problems, st.integers(0, 2**32), st.floats(0, 1))
def test_rerendering_keeps_the_reasoning_and_changes_only_wording(problem, seed, rate):
    rationale, spans = render_rationale(problem.program, random.Random(seed), rate)
    assert calculations(rationale) == calculations(problem.rationale)
    assert spans[-1].end == len(rationale)
    keypoints = lambda r, ss: [r[s.start:s.end] for s in ss if s.label in KEYPOINT_LABELS - {"quantity"}]
    assert keypoints(rationale, spans) == keypoints(problem.rationale, problem.spans)


@SETTINGS
@given(problems, st.integers(0, 2**32))
def test_perturb_program_plants_exactly_one_slip(problem, seed):
    before = json.dumps(problem.program)
    slipped = perturb_program(problem.program, random.Random(seed))
    assert slipped[-1]["result"] != int(problem.answer)
    assert json.dumps(problem.program) == before, "the input program is left alone"
    rationale, _ = render_rationale(slipped, random.Random(seed), 0.3)
    wrong = [c for c in calculations(rationale) if synthetic.apply_op(c[1], c[0], c[2]) != c[3]]
    assert len(wrong) == 1
    assert all(step["result"] >= 0 for step in slipped)


# --- records, configs and the shipped splits -------------------------------------------------


@SETTINGS
@given(problems)
def test_records_round_trip_through_json(problem):
    record = json.loads(json.dumps(problem.to_record()))
    assert set(record) == {"id", "dataset", "question", "answer", "meta"}
    assert record["dataset"] == "synthetic" and record["meta"]["rationale"] == problem.rationale
    assert spans_from_record(record) == problem.spans == spans_from_record(record["meta"])
    assert record["meta"]["program"] == problem.program


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"min_steps": 0}, "min_steps"),
        ({"min_steps": 3, "max_steps": 2}, "max_steps"),
        ({"max_operand": 1}, "max_operand"),
        ({"max_factor": 1}, "max_factor"),
        ({"max_factor": 13}, "max_factor"),
        ({"min_steps": 2.5}, "min_steps must be an int"),
        ({"ops": ()}, "ops"),
        ({"ops": ("+", "^")}, "ops"),
        ({"ops": "+-"}, "ops"),
        ({"filler_rate": -0.1}, "filler_rate"),
        ({"filler_rate": 1.5}, "filler_rate"),
        ({"distractor_rate": float("nan")}, "distractor_rate"),
        ({"distractor_rate": True}, "distractor_rate"),
    ],
)
def test_bad_config_values_raise(changes, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**changes)


def test_ops_are_stored_in_canonical_order_and_rates_checked_when_rendering():
    assert SyntheticConfig(ops=["*", "+"]).ops == ("+", "*")
    with pytest.raises(ValueError, match="filler_rate"):
        render_rationale(generate_dataset(1)[0].program, random.Random(0), 2.0)


def test_impossible_config_fails_clearly():
    with pytest.raises(ValueError, match="could not build"):
        generate_problem(random.Random(0), SyntheticConfig(ops=("/",), max_operand=3, max_factor=2,
                                                           min_steps=4, max_steps=4), "p")


def test_shipped_splits_equal_a_fresh_regeneration(tmp_path):
    synthetic.main(["--out", str(tmp_path)] + SHIPPED_ARGS)
    for split in SPLITS:
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (SHIPPED / f"{split}.jsonl").read_bytes(), (
            f"data_samples/synthetic/{split}.jsonl drifted; rerun the command in the kpod_lite/synthetic/ docstring")


def test_shipped_splits_have_their_sizes_and_no_shared_question():
    records = {split: [json.loads(line) for line in (SHIPPED / f"{split}.jsonl").open()] for split in SPLITS}
    assert {split: len(rs) for split, rs in records.items()} == {"train": 400, "validation": 100, "test": 100}
    questions = [r["question"] for rs in records.values() for r in rs]
    ids = [r["id"] for rs in records.values() for r in rs]
    assert len(set(questions)) == len(questions) and len(set(ids)) == len(ids)


def test_write_splits_returns_the_paths_it_wrote(tmp_path):
    paths = write_splits(tmp_path / "out", {"a": 3, "b": 2}, seed=1)
    assert set(paths) == {"a", "b"}
    assert [len(paths[s].read_text().splitlines()) for s in ("a", "b")] == [3, 2]


def test_shipped_splits_load_through_the_kpod_loader():
    data = pytest.importorskip("kpod_lite.data")
    examples = data.load_examples(SHIPPED / "test.jsonl", "kpod")
    records = [json.loads(line) for line in (SHIPPED / "test.jsonl").open()]
    assert [e.id for e in examples] == [r["id"] for r in records]
    assert [e.answer for e in examples] == [r["answer"] for r in records]
    assert spans_from_record(examples[0]) == spans_from_record(records[0])
    assert all(e.dataset == "synthetic" for e in examples)


def test_span_is_a_frozen_value():
    span = Span(0, 3, "number")
    assert span == Span(0, 3, "number") and hash(span) == hash(Span(0, 3, "number"))
    with pytest.raises(AttributeError):
        span.label = "plain"
