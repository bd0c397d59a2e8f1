"""Tests for kpod_lite.evaluate (§4): answer extraction and accuracy on hand-made generations,
the OOD helper of Table 3, left padding for causal students, and a real tiny-model run."""

import json
from pathlib import Path

import pytest

from kpod_lite import evaluate
from kpod_lite.config import preset
from kpod_lite.data import Example, load_examples, save_examples
from kpod_lite.distill import stage_examples
from kpod_lite.families import CAUSAL, SEQ2SEQ
from kpod_lite.templates import student_prompt
from kpod_lite.models import load_student, student_family

REPO = Path(__file__).resolve().parents[1]

EXAMPLES = [
    Example(id="q1", question="Natalia sold 48 clips in April and half as many in May. How many in all?", answer="72"),
    Example(id="q2", question="Ana has 3 pens and buys 4 more. How many pens?", answer="7"),
    Example(id="q3", question="Tom has 10 apples and eats 2. How many are left?", answer="8"),
    Example(id="q4", question="Where do you keep milk?", answer="B",
            choices={"A": "oven", "B": "fridge", "C": "drawer", "D": "shelf", "E": "car"}),
]
GENERATIONS = [
    "48 / 2 = 24 clips in May. 48 + 24 = 72. Therefore, the answer is 72.",  # right
    "3 + 4 = 8 pens. Therefore, the answer is 8.",                           # wrong answer
    "She eats some apples and the rest stay",                                 # no answer at all
    "Milk must stay cold, so the fridge. Therefore, the answer is (B).",     # right option
]


def test_score_reads_answers_and_compares_them_to_gold():
    records = evaluate.score(EXAMPLES, GENERATIONS)
    assert [r["prediction"] for r in records] == ["72", "8", None, "B"]
    assert [r["correct"] for r in records] == [True, False, False, True]
    assert evaluate.accuracy(records) == 0.5
    assert set(records[0]) == {"id", "question", "answer", "prediction", "generated", "correct"}
    with pytest.raises(ValueError):
        evaluate.score(EXAMPLES, GENERATIONS[:2])
    assert evaluate.accuracy([]) == 0.0


def test_evaluate_examples_with_a_fake_generator_writes_every_prediction(tmp_path):
    seen = []

    def fake_generate(prompts):
        seen.extend(prompts)
        return GENERATIONS

    out = tmp_path / "predictions.jsonl"
    summary = evaluate.evaluate_examples(None, None, EXAMPLES, preset("tiny"), out, generate_fn=fake_generate)
    assert summary["accuracy"] == 0.5 and summary["correct"] == 2 and summary["no_answer"] == 1
    assert summary["questions"] == 4
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4"] and rows[1]["generated"] == GENERATIONS[1]
    # The student is asked exactly what it was trained on at c = 0 (§3.1, Eq. 14).
    assert seen[0] == "Q: " + EXAMPLES[0].question + "\nA: Let's think step by step."
    assert "Answer Choices: (A) oven (B) fridge" in seen[3]


def test_evaluate_datasets_gives_one_accuracy_per_test_set_table3(tmp_path):
    def gold_for_first_word(prompts):  # right on "Natalia"/"Ana" questions only
        return ["Therefore, the answer is 72." if "Natalia" in p else "Therefore, the answer is 7." if "Ana has" in p
                else "Therefore, the answer is 0." for p in prompts]

    results = evaluate.evaluate_datasets(
        None, None, {"gsm8k": EXAMPLES[:2], "svamp": EXAMPLES[2:3]}, preset("tiny"), tmp_path,
        generate_fn=gold_for_first_word)
    assert results == {"gsm8k": 1.0, "svamp": 0.0}
    assert len((tmp_path / "gsm8k.predictions.jsonl").read_text().splitlines()) == 2
    assert (tmp_path / "svamp.predictions.jsonl").is_file()


def test_evaluation_prompt_is_the_training_input_without_steps_eq14():
    config = preset("tiny", student="tiny-t5")
    _, tokenizer = load_student(config, "cpu")
    record = {"id": "q2", "question": EXAMPLES[1].question, "answer": "7", "rationale": "3 + 4 = 7."}
    (example,) = stage_examples([record], None, {"q2": 0}, tokenizer, config, student_family(config))
    assert tokenizer.decode(example["input_ids"], skip_special_tokens=True) == evaluate.prompts_for(EXAMPLES[1:2])[0]
    assert evaluate.prompts_for(EXAMPLES[1:2])[0] == student_prompt(EXAMPLES[1].question)


def test_causal_prompts_are_left_padded():
    config = preset("tiny", student="tiny-llama")
    _, tokenizer = load_student(config, "cpu")
    side = tokenizer.padding_side
    batch = evaluate.encode_prompts(tokenizer, ["Q: short?", "Q: a much longer question with many words?"],
                                    family=CAUSAL, max_length=64)
    mask = batch["attention_mask"]
    assert mask[0, 0] == 0 and mask[0, -1] == 1 and mask[1].all()  # padding before the short prompt
    assert batch["input_ids"][0, -1] == tokenizer("Q: short?")["input_ids"][-1]
    assert tokenizer.padding_side == side  # left as it was (training pads on the right)
    right = evaluate.encode_prompts(tokenizer, ["Q: short?", "Q: a much longer question?"], family=SEQ2SEQ,
                                    max_length=64)
    assert right["attention_mask"][0, 0] == 1 and right["attention_mask"][0, -1] == 0


def test_batched_causal_generation_equals_one_prompt_at_a_time():
    """Left padding done right: a prompt's greedy continuation does not depend on its batch."""
    config = preset("tiny", student="tiny-llama", max_new_tokens=12)
    model, tokenizer = load_student(config, "cpu")
    prompts = ["First, we need to find the total number of",  # rationale openings: the
               "Then",                                        # pretrained student continues them
               "Okay, first, to find how many stickers Maya has, we multiply: 6 *"]
    alone = [evaluate.generate(model, tokenizer, [p], config, batch_size=1)[0] for p in prompts]
    together = evaluate.generate(model, tokenizer, prompts, config, batch_size=3)
    assert together == alone
    assert all(text for text in alone)  # something was generated to compare


def test_evaluate_file_end_to_end_on_a_saved_tiny_student(tmp_path):
    config = preset("tiny", student="tiny-t5", max_new_tokens=16)
    model, tokenizer = load_student(config, "cpu")
    model.save_pretrained(tmp_path / "model")
    tokenizer.save_pretrained(tmp_path / "model")
    questions = tmp_path / "questions.jsonl"
    save_examples(questions, load_examples(REPO / "data_samples/synthetic/test.jsonl", "kpod")[:6])
    out = tmp_path / "predictions.jsonl"
    summary = evaluate.evaluate_file(tmp_path / "model", questions, "kpod", out, config)
    assert 0.0 <= summary["accuracy"] <= 1.0 and summary["questions"] == 6
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [e.id for e in load_examples(questions, "kpod")]
    for row in rows:
        assert set(row) == {"id", "question", "answer", "prediction", "generated", "correct"}
        assert isinstance(row["generated"], str) and isinstance(row["correct"], bool)
    assert summary["correct"] == sum(r["correct"] for r in rows)


def test_load_trained_puts_a_lora_adapter_on_its_base_student(tmp_path):
    from peft import PeftModel

    from kpod_lite.models import apply_lora

    config = preset("tiny", student="tiny-t5", lora=True, lora_rank=4, lora_alpha=8, max_new_tokens=8)
    model, tokenizer = load_student(config, "cpu")
    model = apply_lora(model, config)
    model.save_pretrained(tmp_path / "model")  # the adapter alone, as distill saves it
    tokenizer.save_pretrained(tmp_path / "model")
    assert not (tmp_path / "model/model.safetensors").exists()
    loaded, loaded_tokenizer = evaluate.load_trained(tmp_path / "model", config, "cpu")
    assert isinstance(loaded, PeftModel)
    prompts = evaluate.prompts_for(EXAMPLES[:2])
    assert evaluate.generate(loaded, loaded_tokenizer, prompts, config) == \
        evaluate.generate(model, tokenizer, prompts, config)


def test_an_empty_question_file_is_an_error_not_an_accuracy_of_zero(tmp_path):
    from kpod_lite.data import DataFormatError

    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(DataFormatError, match="empty.jsonl.*no questions to evaluate"):
        evaluate.evaluate_file(tmp_path / "no-model", tmp_path / "empty.jsonl", "kpod", tmp_path / "p.jsonl",
                               preset("tiny"))
