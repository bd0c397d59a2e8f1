"""Step difficulty (§3.4, Eq. 8): the formula against a hand computation, the token-to-step rule,
the unweighted variant (KPOD-w.o.-sig-dif), teacher-forced log-probabilities from both tiny
students (seq2seq and causal), batching, and the errors on bad input.

The token weights here are made up by the tests (uniform, or from the synthetic keypoint
labels), not learned: Eq. 8 only needs some w_j in [0, 1] per student token.
"""

import json
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from kpod_lite import difficulty
from kpod_lite.config import preset
from kpod_lite.data import DataFormatError, read_jsonl, split_steps, write_jsonl
from kpod_lite.models import load_student
from kpod_lite.synthetic import generate_dataset
from kpod_lite.templates import build_prompt, rationale_tokens

# --- Eq. 8 on hand-made tokens ---------------------------------------------------------------------

# "Add 3. So 4." with hand-made tokens: "Add", " 3", ".", " So", " ", "4", "."
TEXT = "Add 3. So 4."
OFFSETS = [(0, 3), (3, 5), (5, 6), (6, 9), (9, 10), (10, 11), (11, 12)]


def test_eq8_matches_a_hand_computation_with_a_softmax_within_each_step():
    logprobs = [-1.0, -2.0, -0.5, -3.0, -0.1, -4.0, -0.2]
    weights = [0.2, 0.9, 0.1, 0.3, 0.0, 1.0, 0.5]
    # Step 1: tokens 0-2; step 2: tokens 3-6 (" " joins the following step, "4").
    z1 = math.exp(0.2) + math.exp(0.9) + math.exp(0.1)
    d1 = (math.exp(0.2) * 1.0 + math.exp(0.9) * 2.0 + math.exp(0.1) * 0.5) / z1
    z2 = math.exp(0.3) + math.exp(0.0) + math.exp(1.0) + math.exp(0.5)
    d2 = (math.exp(0.3) * 3.0 + math.exp(0.0) * 0.1 + math.exp(1.0) * 4.0 + math.exp(0.5) * 0.2) / z2
    got = difficulty.step_difficulties(logprobs, weights, OFFSETS, TEXT)
    assert got == pytest.approx([d1, d2], rel=1e-9)
    # The softmax is taken per step, not over the whole rationale: a global one would differ.
    z = z1 + z2
    global_d1 = (math.exp(0.2) * 1.0 + math.exp(0.9) * 2.0 + math.exp(0.1) * 0.5) / z
    assert got[0] != pytest.approx(global_d1)


def test_temperature_divides_the_weights_before_the_softmax():
    logprobs, weights = [-1.0, -3.0], [0.2, 0.8]
    tau = 0.25
    a, b = math.exp(0.2 / tau), math.exp(0.8 / tau)
    expected = (a * 1.0 + b * 3.0) / (a + b)
    assert difficulty.step_difficulties(logprobs, weights, [(0, 3), (3, 6)], "Add 3.", temperature=tau) == \
        pytest.approx([expected])


def test_token_steps_first_non_space_character_rule():
    text = "One 1.\n Two 2.  "
    # "One", " 1", ".", "\n", " Two", " 2", ".", "  " (trailing whitespace)
    offsets = [(0, 3), (3, 5), (5, 6), (6, 7), (7, 11), (11, 13), (13, 14), (14, 16)]
    # "\n" is whitespace only: it joins the following step; " Two" belongs to the step of "T";
    # whitespace after the last step joins the last step.
    assert difficulty.token_steps(offsets, text) == [0, 0, 0, 1, 1, 1, 1, 1]


@settings(max_examples=60, deadline=None)
@given(words=st.lists(st.lists(st.sampled_from(["a", "bb", "7", "+", "="]), min_size=1, max_size=4),
                      min_size=1, max_size=4),
       gaps=st.lists(st.sampled_from([" ", "  ", "\n", " \n "]), min_size=4, max_size=4))
def test_every_token_gets_one_step_and_steps_are_consecutive(words, gaps):
    # Build "<w w>.<gap><w>.<gap>..." with one token per word, per "." and per gap.
    text, offsets = "", []
    for k, sentence in enumerate(words):
        if k:
            offsets.append((len(text), len(text) + len(gaps[k])))
            text += gaps[k]
        for i, word in enumerate(sentence):
            piece = (" " if i else "") + word
            offsets.append((len(text), len(text) + len(piece)))
            text += piece
        offsets.append((len(text), len(text) + 1))
        text += "."
    owner = difficulty.token_steps(offsets, text)
    assert len(owner) == len(offsets)
    assert owner == sorted(owner), "p_k..q_k must be consecutive token positions"
    assert set(owner) == set(range(len(split_steps(text))))


@settings(max_examples=60, deadline=None)
@given(nll=st.lists(st.floats(0.0, 20.0), min_size=3, max_size=3),
       w=st.floats(0.0, 1.0), tau=st.sampled_from([0.1, 1.0, 3.0]))
def test_equal_weights_reduce_to_the_mean_nll_of_the_step(nll, w, tau):
    offsets, text = [(0, 3), (3, 5), (5, 6)], "Add 3."
    logprobs = [-x for x in nll]
    mean = sum(nll) / 3
    assert difficulty.step_difficulties(logprobs, [w] * 3, offsets, text, temperature=tau) == pytest.approx([mean])
    # The unweighted variant (KPOD-w.o.-sig-dif) is exactly that mean, whatever the weights.
    assert difficulty.step_difficulties(logprobs, None, offsets, text, weighted=False) == pytest.approx([mean])


@settings(max_examples=60, deadline=None)
@given(nll=st.lists(st.floats(0.0, 20.0), min_size=3, max_size=3),
       weights=st.lists(st.floats(0.0, 1.0), min_size=3, max_size=3))
def test_eq8_is_a_weighted_mean_of_the_step_nlls(nll, weights):
    (d,) = difficulty.step_difficulties([-x for x in nll], weights, [(0, 3), (3, 5), (5, 6)], "Add 3.")
    assert min(nll) - 1e-9 <= d <= max(nll) + 1e-9


def test_a_filler_with_weight_zero_moves_the_weighted_difficulty_less_than_the_unweighted_one():
    # "Add just 3." : "Add", " just" (filler, w = 0), " 3", "." ; the filler's NLL goes 1 -> 9.
    text, offsets = "Add just 3.", [(0, 3), (3, 8), (8, 10), (10, 11)]
    weights = [1.0, 0.0, 1.0, 1.0]
    easy, hard = [-2.0, -1.0, -3.0, -0.5], [-2.0, -9.0, -3.0, -0.5]

    def move(**kw):
        (a,) = difficulty.step_difficulties(easy, weights, offsets, text, **kw)
        (b,) = difficulty.step_difficulties(hard, weights, offsets, text, **kw)
        return b - a

    unweighted = move(weighted=False)
    assert unweighted == pytest.approx(8.0 / 4)  # 1/|step| of the NLL change
    # Eq. 8 as written (tau = 1): the filler's share is e^0 / (3 e^1 + e^0), damped, not zero,
    # because sigmoid weights lie in (0, 1) and exp maps them into (1, e).
    paper = move()
    assert paper == pytest.approx(8.0 / (3 * math.e + 1))
    assert 0 < paper < unweighted / 2
    # A sharper softmax (tau = 0.02) ignores the filler: d_k no longer moves.
    assert abs(move(temperature=0.02)) < 1e-12


def test_bad_inputs_to_step_difficulties():
    with pytest.raises(ValueError, match="empty"):
        difficulty.step_difficulties([], [], [], "   ")
    with pytest.raises(ValueError, match="offsets"):
        difficulty.step_difficulties([-1.0], [0.5, 0.5], [(0, 3), (3, 6)], "Add 3.")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        difficulty.step_difficulties([-1.0, -1.0], [2.3, -0.4], [(0, 3), (3, 6)], "Add 3.")
    with pytest.raises(ValueError, match="needs token weights"):
        difficulty.step_difficulties([-1.0, -1.0], None, [(0, 3), (3, 6)], "Add 3.")


# --- the tiny students ---------------------------------------------------------------------------

PROBLEMS = generate_dataset(6, seed=123)
RATIONALES = [
    {"id": p.id, "question": p.question, "answer": p.answer, "rationale": p.rationale, "teacher_answer": p.answer,
     "correct": True, "teacher": "template", "sample": 0, "spans": [[s.start, s.end, s.label] for s in p.spans]}
    for p in PROBLEMS
]


@pytest.fixture(scope="module", params=["t5", "llama"])
def student(request):
    cfg = preset("tiny", student=f"tiny-{request.param}", batch_size=4)
    model, tokenizer = load_student(cfg, device="cpu")
    return cfg, model, tokenizer


def uniform_weight_records(tokenizer, records, weight=0.5):
    """Weight records as `kpod_lite.weighting` writes them, with made-up uniform weights."""
    out = []
    for record in records:
        ids, offsets = rationale_tokens(tokenizer, record["rationale"])
        out.append({"id": record["id"], "sample": record["sample"], "tokens": tokenizer.convert_ids_to_tokens(ids),
                    "offsets": [list(o) for o in offsets], "weights": [weight] * len(ids)})
    return out


def test_logprobs_are_the_students_teacher_forced_loss(student):
    cfg, model, tokenizer = student
    record = RATIONALES[0]
    (lp,) = difficulty.token_logprobs(model, tokenizer, [record["question"]], [record["rationale"]])
    ids, _ = rationale_tokens(tokenizer, record["rationale"])
    assert lp.shape == (len(ids),) and bool(torch.isfinite(lp).all()) and bool((lp <= 0).all())
    # Independent check: the model's own cross-entropy loss over the rationale tokens only.
    prompt = tokenizer(build_prompt(record["question"]))["input_ids"]
    with torch.no_grad():
        if model.config.is_encoder_decoder:
            loss = model(input_ids=torch.tensor([prompt]), labels=torch.tensor([ids])).loss
        else:
            prompt = [p for p in prompt if p != tokenizer.eos_token_id]
            labels = [-100] * len(prompt) + ids
            loss = model(input_ids=torch.tensor([prompt + ids]), labels=torch.tensor([labels])).loss
    assert float(-lp.mean()) == pytest.approx(float(loss), rel=1e-4)


def test_logprobs_depend_on_the_question(student):
    cfg, model, tokenizer = student
    r = RATIONALES[0]["rationale"]
    a, b = difficulty.token_logprobs(model, tokenizer, [RATIONALES[0]["question"], "What is the colour of the sky?"],
                                     [r, r])
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_batching_gives_the_same_values_as_one_at_a_time(student):
    cfg, model, tokenizer = student
    questions = [r["question"] for r in RATIONALES]
    rationales = [r["rationale"] for r in RATIONALES]
    rationales[2] = ""  # an empty one in the middle keeps its place and gets no tokens
    batched = difficulty.token_logprobs(model, tokenizer, questions, rationales, batch_size=4)
    single = difficulty.token_logprobs(model, tokenizer, questions, rationales, batch_size=1)
    assert [len(x) for x in batched] == [len(rationale_tokens(tokenizer, r)[0]) for r in rationales]
    assert len(batched[2]) == 0
    for a, b in zip(batched, single):
        assert torch.allclose(a, b, atol=1e-4)


def test_scoring_is_deterministic_and_restores_training_mode(student):
    cfg, model, tokenizer = student
    model.train()  # dropout on: scoring must switch it off and back
    try:
        first = difficulty.token_logprobs(model, tokenizer, [RATIONALES[1]["question"]], [RATIONALES[1]["rationale"]])
        second = difficulty.token_logprobs(model, tokenizer, [RATIONALES[1]["question"]], [RATIONALES[1]["rationale"]])
        assert model.training
    finally:
        model.eval()
    assert torch.equal(first[0], second[0])


def test_difficulty_records_give_one_finite_difficulty_per_step(student):
    cfg, model, tokenizer = student
    weights = uniform_weight_records(tokenizer, RATIONALES)
    records = difficulty.difficulty_records(RATIONALES, weights, model, tokenizer, cfg)
    assert [r["id"] for r in records] == [r["id"] for r in RATIONALES]
    for record, source in zip(records, RATIONALES):
        steps = split_steps(source["rationale"])
        assert record["steps"] == [s.text for s in steps]
        assert len(record["difficulty"]) == len(steps) >= 2
        assert all(math.isfinite(d) and d > 0 for d in record["difficulty"])
    # Uniform weights: Eq. 8 and the unweighted variant agree; both are the step's mean NLL.
    unweighted = difficulty.difficulty_records(RATIONALES, weights, model, tokenizer,
                                               cfg.replace(method="w.o.-sig-dif"))
    for a, b in zip(unweighted, records):
        assert a["difficulty"] == pytest.approx(b["difficulty"], abs=1e-5)
    lp = difficulty.token_logprobs(model, tokenizer, [RATIONALES[0]["question"]], [RATIONALES[0]["rationale"]],)[0]
    _, offsets = rationale_tokens(tokenizer, RATIONALES[0]["rationale"])
    owner = torch.tensor(difficulty.token_steps(offsets, RATIONALES[0]["rationale"]))
    means = [float(-lp[owner == k].mean()) for k in range(len(records[0]["steps"]))]
    assert unweighted[0]["difficulty"] == pytest.approx(means, abs=1e-4)


def test_keypoint_weights_change_the_difficulty(student):
    cfg, model, tokenizer = student
    # Made-up weights from the synthetic labels: 1 for digits and operators, 0 elsewhere.
    weights = uniform_weight_records(tokenizer, RATIONALES[:1])
    text = RATIONALES[0]["rationale"]
    weights[0]["weights"] = [1.0 if any(ch.isdigit() or ch in "+-*/=" for ch in text[s:e]) else 0.0
                             for s, e in weights[0]["offsets"]]
    sharp = cfg.replace(difficulty_temperature=0.05)
    weighted = difficulty.difficulty_records(RATIONALES[:1], weights, model, tokenizer, sharp)[0]["difficulty"]
    plain = difficulty.difficulty_records(RATIONALES[:1], weights, model, tokenizer,
                                          cfg.replace(method="w.o.-sig-dif"))[0]["difficulty"]
    assert weighted != pytest.approx(plain, abs=1e-3)


# --- bad records and files -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def t5():
    cfg = preset("tiny", student="tiny-t5", batch_size=4)
    model, tokenizer = load_student(cfg, device="cpu")
    return cfg, model, tokenizer


def test_misaligned_tokens_are_caught_naming_the_token(t5):
    cfg, model, tokenizer = t5
    weights = uniform_weight_records(tokenizer, RATIONALES[:2])
    weights[1]["tokens"][3] = "Ġnot-a-token"
    with pytest.raises(DataFormatError, match=r"record \[1\].*token 3 is 'Ġnot-a-token'"):
        difficulty.difficulty_records(RATIONALES[:2], weights, model, tokenizer, cfg)
    # Weights written for a different rationale text: a different number of tokens.
    other = uniform_weight_records(tokenizer, [{**RATIONALES[0], "rationale": RATIONALES[0]["rationale"] + " Okay."}])
    with pytest.raises(DataFormatError, match="tokens in the weight record"):
        difficulty.difficulty_records(RATIONALES[:1], other, model, tokenizer, cfg)
    # As many weights as tokens, and offsets that match.
    short = uniform_weight_records(tokenizer, RATIONALES[:1])
    short[0]["weights"] = short[0]["weights"][:-1]
    with pytest.raises(DataFormatError, match="weights"):
        difficulty.difficulty_records(RATIONALES[:1], short, model, tokenizer, cfg)
    shifted = uniform_weight_records(tokenizer, RATIONALES[:1])
    shifted[0]["offsets"][0] = [1, 2]
    with pytest.raises(DataFormatError, match="offsets"):
        difficulty.difficulty_records(RATIONALES[:1], shifted, model, tokenizer, cfg)
    # A weight must be a sigmoid output (Eq. 3): NaN, infinity or 7.5 name the record and the weight.
    for bad in (float("nan"), float("inf"), 7.5, -3):
        broken = uniform_weight_records(tokenizer, RATIONALES[:1])
        broken[0]["weights"][2] = bad
        with pytest.raises(DataFormatError, match=rf"record \[0\].*'weights'.*weight 2 is {bad!r}"):
            difficulty.difficulty_records(RATIONALES[:1], broken, model, tokenizer, cfg)


def test_missing_duplicate_and_empty_records_are_errors(t5):
    cfg, model, tokenizer = t5
    weights = uniform_weight_records(tokenizer, RATIONALES[:2])
    with pytest.raises(DataFormatError, match=rf"id '{RATIONALES[1]['id']}' sample 0.*no token weight record"):
        difficulty.difficulty_records(RATIONALES[:2], weights[:1], model, tokenizer, cfg)
    with pytest.raises(DataFormatError, match="second weight record"):
        difficulty.difficulty_records(RATIONALES[:1], weights + weights[:1], model, tokenizer, cfg)
    empty = {**RATIONALES[0], "rationale": "  "}
    with pytest.raises(DataFormatError, match="rationale.*empty"):
        difficulty.difficulty_records([empty], weights[:1], model, tokenizer, cfg)
    # The sample number is part of the key: sample 1 has no weights here.
    with pytest.raises(DataFormatError, match="sample 1"):
        difficulty.difficulty_records([{**RATIONALES[0], "sample": 1}], weights, model, tokenizer, cfg)


def test_difficulty_file_writes_records_and_names_file_and_line_on_errors(t5, tmp_path):
    cfg, model, tokenizer = t5
    rationales, weights, out = tmp_path / "rationales.jsonl", tmp_path / "weights.jsonl", tmp_path / "difficulty.jsonl"
    write_jsonl(rationales, RATIONALES[:3])
    write_jsonl(weights, uniform_weight_records(tokenizer, RATIONALES[:3]))
    summary = difficulty.difficulty_file(rationales, weights, out, cfg, model=model, tokenizer=tokenizer)
    records = [r for _, r in read_jsonl(out)]
    assert [r["id"] for r in records] == [r["id"] for r in RATIONALES[:3]]
    assert set(records[0]) == {"id", "sample", "steps", "difficulty"}
    assert summary["rationales"] == 3 and summary["steps"] == sum(len(r["difficulty"]) for r in records)
    assert summary["weighted"] is True and summary["temperature"] == 1.0
    json.dumps(summary)  # plain JSON for the CLI
    # A bad token on the second line of the weights file: the error names the file and line.
    bad = uniform_weight_records(tokenizer, RATIONALES[:3])
    bad[1]["tokens"][0] = "?"
    write_jsonl(weights, bad)
    with pytest.raises(DataFormatError, match=rf"{weights.name}:2: id '{RATIONALES[1]['id']}'"):
        difficulty.difficulty_file(rationales, weights, out, cfg, model=model, tokenizer=tokenizer)
    # A rationale without weights: the error names the rationale's file and line.
    write_jsonl(weights, uniform_weight_records(tokenizer, RATIONALES[:2]))
    with pytest.raises(DataFormatError, match=rf"{rationales.name}:3: .*no token weight record"):
        difficulty.difficulty_file(rationales, weights, out, cfg, model=model, tokenizer=tokenizer)
