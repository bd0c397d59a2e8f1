"""Tests for kpod_lite.distill: the stage-t examples of Eq. 14, the weighted loss of Eq. 15,
the ablation switches of Table 2, and the Trainer integration (one stage per epoch, App. B;
checkpoints that resume to the very same weights)."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn import functional as F
from transformers import TrainerCallback

from kpod_lite import distill
from kpod_lite.config import ConfigError, preset
from kpod_lite.data import DataFormatError, split_steps, write_jsonl
from kpod_lite.models import load_student, student_family
from kpod_lite.methods import ABLATIONS, ARMS, CONTROLS, CURRICULUM_ROWS, METHODS
from kpod_lite.schedule import build_schedule
from kpod_lite.templates import format_rationale_target, student_prompt

REPO = Path(__file__).resolve().parents[1]
KEYPOINT = {"number", "result", "operator", "equals", "quantity"}


@pytest.fixture(scope="module")
def rationales(tmp_path_factory):
    """Template-teacher rationales for 16 synthetic questions, made by the real CLI (§3.1)."""
    out = tmp_path_factory.mktemp("teach") / "rationales.jsonl"
    subprocess.run(
        [sys.executable, "-m", "kpod_lite.cli", "teach", "--data", str(REPO / "data_samples/synthetic/train.jsonl"),
         "--format", "kpod", "--teacher", "template", "--out", str(out), "--limit", "16", "--no-progress"],
        check=True, capture_output=True, cwd=REPO,
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 16
    return records


@pytest.fixture(scope="module")
def t5():
    # token_weight_floor=0: Eq. 15's w_j exactly, so weights can be checked token by token.
    config = preset("tiny", student="tiny-t5", token_weight_floor=0.0)
    model, tokenizer = load_student(config, "cpu")
    return config, model, tokenizer


@pytest.fixture(scope="module")
def llama():
    config = preset("tiny", student="tiny-llama", token_weight_floor=0.0)
    model, tokenizer = load_student(config, "cpu")
    return config, model, tokenizer


def weight_records(records, tokenizer, fn=None):
    """Weight records as the weighting module writes them (rationale tokens, offsets, w_j);
    by default w_j from the teacher's keypoint labels (keypoint 0.9, other 0.2)."""
    out = []
    for record in records:
        labels = {p: label for a, b, label in record["spans"] for p in range(a, b)}
        encoded = tokenizer(record["rationale"], add_special_tokens=False, return_offsets_mapping=True)
        offsets = encoded["offset_mapping"]
        if fn is None:
            weights = [0.9 if any(labels.get(p) in KEYPOINT for p in range(a, b)) else 0.2 for a, b in offsets]
        else:
            weights = [fn(j) for j in range(len(offsets))]
        out.append({"id": record["id"], "sample": record["sample"],
                    "tokens": tokenizer.convert_ids_to_tokens(encoded["input_ids"]),
                    "offsets": [list(o) for o in offsets], "weights": weights})
    return out


def indexed(weights):
    return {(w["id"], w["sample"]): w for w in weights}


def schedule_for(records, epochs):
    """Eq. 9-11 on a simple difficulty (characters per step), 3 clusters."""
    difficulties = {r["id"]: [float(len(s.text)) for s in split_steps(r["rationale"])] for r in records}
    return build_schedule(difficulties, {r["id"]: i % 3 for i, r in enumerate(records)}, epochs=epochs)


# --- Eq. 14: what the student reads and writes at stage t -------------------------------------


def test_split_at_step_gives_the_first_c_steps_eq14():
    rationale = "Ana has 3 + 4 = 7 pens. She gives 2 away. So 7 - 2 = 5 are left."
    assert distill.split_at_step(rationale, 0) == ("", 0)
    given, offset = distill.split_at_step(rationale, 1)
    assert given == "Ana has 3 + 4 = 7 pens." and rationale[offset:].startswith("She gives")
    given, offset = distill.split_at_step(rationale, 2)
    assert given.endswith("gives 2 away.") and rationale[offset:] == "So 7 - 2 = 5 are left."
    assert distill.split_at_step(rationale, 3) == (rationale, len(rationale))
    assert distill.split_at_step(rationale, 9) == (rationale, len(rationale))  # c > n: every step given
    with pytest.raises(ValueError):
        distill.split_at_step(rationale, -1)


def test_seq2seq_example_reads_c_steps_and_writes_the_rest_eq14(rationales, t5):
    config, _, tokenizer = t5
    config = config.replace(max_source_length=256, max_target_length=256)
    record = next(r for r in rationales if len(split_steps(r["rationale"])) >= 3)
    steps = split_steps(record["rationale"])
    for c in (0, 1, len(steps)):
        (example,) = distill.stage_examples([record], None, {record["id"]: c}, tokenizer, config, student_family(config))
        given = record["rationale"][:steps[c - 1].end] if c else ""
        remaining = record["rationale"][steps[c].start:] if c < len(steps) else ""
        assert tokenizer.decode(example["input_ids"], skip_special_tokens=True) == \
            student_prompt(record["question"], given_steps=given)
        assert tokenizer.decode(example["labels"], skip_special_tokens=True) == \
            format_rationale_target(remaining, record["answer"])
        assert example["labels"][-1] == tokenizer.eos_token_id and example["c"] == c
        assert example["truncated"] == (False, False)
        assert example["weights"] == [1.0] * len(example["labels"])  # no weight records: Eq. 1
    assert format_rationale_target("", record["answer"]).startswith("Therefore")  # c = n: the answer only


def test_causal_example_masks_the_prompt_out_of_the_loss_eq14(rationales, llama):
    config, _, tokenizer = llama
    config = config.replace(max_source_length=256, max_target_length=256)
    record = rationales[0]
    steps = split_steps(record["rationale"])
    (example,) = distill.stage_examples([record], indexed(weight_records([record], tokenizer)),
                                        {record["id"]: 1}, tokenizer, config, student_family(config))
    labels, ids = example["labels"], example["input_ids"]
    n_prompt = labels.index(next(x for x in labels if x != -100))
    prompt = student_prompt(record["question"], given_steps=record["rationale"][:steps[0].end])
    assert tokenizer.decode(ids[:n_prompt], skip_special_tokens=True) == prompt
    assert all(x == -100 for x in labels[:n_prompt]) and all(w == 0.0 for w in example["weights"][:n_prompt])
    assert labels[n_prompt:] == ids[n_prompt:] and ids[-1] == tokenizer.eos_token_id
    remaining = record["rationale"][steps[1].start:]
    # The target is joined as ids, tokenised on its own like the rationale tokens r_j (Eq. 8, 15).
    assert tokenizer.decode(ids[n_prompt:], skip_special_tokens=True) == format_rationale_target(
        remaining, record["answer"])


def test_target_tokens_take_their_rationale_token_weights_eq15(rationales, t5):
    """Each rationale token of the target keeps its w_j; the answer sentence and </s> get 1."""
    config, _, tokenizer = t5
    record = rationales[1]
    (w,) = weight_records([record], tokenizer, fn=lambda j: round(0.01 + 0.97 * ((j * 37) % 89) / 88, 4))
    (example,) = distill.stage_examples([record], indexed([w]), {record["id"]: 0}, tokenizer, config, student_family(config))
    n = len(w["weights"])
    # At c = 0 the target starts with the whole rationale, tokenised as it was alone.
    assert tokenizer.convert_ids_to_tokens(example["labels"][:n]) == w["tokens"]
    assert example["weights"][:n] == pytest.approx(w["weights"])
    assert example["weights"][n:] == [1.0] * (len(example["labels"]) - n)
    # At c = 1 the target's first word lost its space and may split differently: each piece
    # takes the weight of the rationale token covering its characters.
    steps = split_steps(record["rationale"])
    (later,) = distill.stage_examples([record], indexed([w]), {record["id"]: 1}, tokenizer, config, student_family(config))
    owner = next(j for j, (a, b) in enumerate(w["offsets"]) if a <= steps[1].start < b)
    assert later["weights"][0] == w["weights"][owner]
    assert 1.0 not in later["weights"][:3]  # still inside the rationale


def test_weight_floor_keeps_part_of_every_rationale_tokens_loss(rationales, t5):
    """token_weight_floor = λ trains token j with λ + (1 - λ) w_j; the answer sentence stays at 1."""
    config, _, tokenizer = t5
    record = rationales[1]
    (w,) = weight_records([record], tokenizer, fn=lambda j: 0.0 if j % 2 else 1.0)
    (plain,) = distill.stage_examples([record], indexed([w]), {record["id"]: 0}, tokenizer, config, student_family(config))
    (floored,) = distill.stage_examples([record], indexed([w]), {record["id"]: 0}, tokenizer,
                                        config.replace(token_weight_floor=0.25), student_family(config))
    n = len(w["weights"])
    assert plain["weights"][:n] == [0.0 if j % 2 else 1.0 for j in range(n)], "λ = 0 is the paper's w_j"
    assert floored["weights"][:n] == [0.25 if j % 2 else 1.0 for j in range(n)]
    assert floored["weights"][n:] == plain["weights"][n:] == [1.0] * (len(plain["labels"]) - n)
    with pytest.raises(ConfigError, match="token_weight_floor"):
        config.replace(token_weight_floor=1.0)


def test_missing_schedule_entry_or_weights_is_an_error(rationales, t5):
    config, _, tokenizer = t5
    with pytest.raises(KeyError, match="schedule"):
        distill.stage_examples(rationales[:2], None, {rationales[0]["id"]: 0}, tokenizer, config, student_family(config))
    with pytest.raises(KeyError, match="token weights"):
        distill.stage_examples(rationales[:1], {}, {rationales[0]["id"]: 0}, tokenizer, config, student_family(config))


# --- Eq. 15: the weighted loss -------------------------------------------------------------------


def test_unit_weights_give_the_mean_cross_entropy_eq15(rationales, t5):
    config, model, tokenizer = t5
    examples = distill.stage_examples(rationales[:4], None, {r["id"]: 1 for r in rationales}, tokenizer, config, student_family(config))
    batch = distill.pad_batch(examples, tokenizer.pad_token_id)
    weights = batch.pop("weights")
    with torch.no_grad():
        out = model(**batch)
    assert (batch["labels"] == -100).any()  # padding is in the batch
    ours = distill.weighted_token_loss(out.logits, batch["labels"], weights)
    assert torch.allclose(ours, out.loss, atol=1e-6)  # the model's own mean token cross-entropy


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_weighted_loss_is_sum_of_w_times_nll_over_token_count_eq15(seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(3, 5, 7, generator=g)
    labels = torch.randint(0, 7, (3, 5), generator=g)
    labels[torch.rand(3, 5, generator=g) < 0.3] = -100
    weights = torch.rand(3, 5, generator=g)
    nll = -torch.log_softmax(logits, -1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    mask = labels != -100
    expected = (weights * nll)[mask].sum() / max(1, int(mask.sum()))
    assert torch.allclose(distill.weighted_token_loss(logits, labels, weights), expected, atol=1e-5)
    ones = torch.ones_like(weights)
    if mask.any():
        assert torch.allclose(distill.weighted_token_loss(logits, labels, ones),
                              F.cross_entropy(logits.transpose(1, 2), labels, ignore_index=-100), atol=1e-5)
    # Low weights shrink a token's share: halving every weight halves the loss.
    assert torch.allclose(distill.weighted_token_loss(logits, labels, weights / 2), expected / 2, atol=1e-5)


def test_pad_batch_pads_labels_and_weights_out_of_the_loss():
    features = [{"id": "a", "input_ids": [5, 6, 7], "attention_mask": [1, 1, 1], "labels": [8, 9], "weights": [0.5, 1.0]},
                {"id": "b", "input_ids": [5], "attention_mask": [1], "labels": [8, 9, 10, 11], "weights": [1, 1, 1, 1]}]
    batch = distill.pad_batch(features, pad_token_id=0)
    assert set(batch) == {"input_ids", "attention_mask", "labels", "weights"}
    assert batch["input_ids"].tolist() == [[5, 6, 7], [5, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [[8, 9, -100, -100], [8, 9, 10, 11]]
    assert batch["weights"].tolist() == [[0.5, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]


# --- Table 2 switches -----------------------------------------------------------------------------


def test_methods_follow_table2():
    table = {name: (m.token_weights, m.weighted_difficulty, m.diversity, m.progressive) for name, m in METHODS.items()
             if name in ABLATIONS}
    assert table == {"kpod": (True, True, True, True), "w.o.-sig": (False, True, True, True),
                     "w.o.-sig-dif": (True, False, True, True), "w.o.-div": (True, True, False, True),
                     "w.o.-prog": (True, True, True, False), "plain-cot": (False, True, True, False)}
    assert set(METHODS) == set(ABLATIONS) | set(ARMS) | set(CONTROLS) | set(CURRICULUM_ROWS)
    assert all(METHODS[arm].weights_file == "weights.jsonl" for arm in ABLATIONS), "Table 2 learns its weights"
    assert preset("tiny", method="w.o.-sig").switches is METHODS["w.o.-sig"]
    # The pipeline builds what each method needs from the same table, and shares what it can.
    assert {METHODS[name].schedule_file for name in ABLATIONS} == {
        None, "schedule.json", "schedule.w.o.-sig-dif.json", "schedule.w.o.-div.json"}
    assert METHODS["w.o.-sig-dif"].difficulty_file != METHODS["kpod"].difficulty_file
    with pytest.raises(ConfigError, match="method"):
        preset("tiny", method="kpod-cl")


def test_progressive_dataset_follows_the_schedule_and_wo_prog_does_not_eq11(rationales, t5):
    config, _, tokenizer = t5
    plan = schedule_for(rationales, epochs=4)
    dataset = distill.ProgressiveDataset(rationales, None, plan, tokenizer, config, student_family(config), progressive=True)
    for t in range(4):
        stats = dataset.set_stage(t)
        expected = plan.input_steps(t)
        assert [e["c"] for e in dataset] == [min(expected[r["id"]], len(split_steps(r["rationale"])))
                                            for r in rationales]
        assert stats["stage"] == t and len(dataset) == len(rationales)
    assert stats["full_rationales"] == 1.0  # after T every rationale is written whole (App. B)
    flat = distill.ProgressiveDataset(rationales, None, plan, tokenizer, config, student_family(config), progressive=False)
    assert all(e["c"] == 0 for e in flat)
    with pytest.raises(ValueError, match="schedule"):
        distill.ProgressiveDataset(rationales, None, None, tokenizer, config, student_family(config), progressive=True)
    # Too-small limits cut every example, and the stage statistics say so.
    short = distill.ProgressiveDataset(rationales, None, plan, tokenizer,
                                       config.replace(max_source_length=24, max_target_length=16),
                                       student_family(config), True)
    stats = short.set_stage(0)
    assert stats["truncated_inputs"] == 1.0 and stats["truncated_targets"] == 1.0
    assert max(len(e["input_ids"]) for e in short) == 24 and max(len(e["labels"]) for e in short) == 16
    assert all(e["labels"][-1] == tokenizer.eos_token_id for e in short)  # cut at the end, </s> kept


# --- the Trainer: one stage per epoch, checkpoints that resume exactly ------------------------------------


class StopAfterFirstEpoch(TrainerCallback):
    """Plays a run killed right after its first epoch's checkpoint."""

    def on_epoch_end(self, args, state, control, **kwargs):
        control.should_training_stop = True


def test_resumed_run_ends_with_the_same_weights_and_stages(rationales, tmp_path):
    config = preset("tiny", student="tiny-t5", epochs=2, batch_size=8, max_source_length=96, max_target_length=96)
    plan = schedule_for(rationales, epochs=2)
    weights = weight_records(rationales, load_student(config, "cpu")[1])

    straight, _, history = distill.distill(rationales, weights, plan, config, tmp_path / "straight", progress=False)
    assert [row["stage"] for row in history] == [0, 1]
    assert history[0]["mean_input_steps"] > history[1]["mean_input_steps"]  # Eq. 11: fewer input steps
    assert all(row["loss"] is not None and row["loss"] > 0 for row in history)
    assert (tmp_path / "straight/model/model.safetensors").is_file()
    assert json.loads((tmp_path / "straight/history.json").read_text())["method"] == "kpod"

    distill.distill(rationales, weights, plan, config, tmp_path / "killed", callbacks=[StopAfterFirstEpoch()],
                    progress=False)
    (checkpoint,) = (tmp_path / "killed/checkpoints").glob("checkpoint-*")
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    assert state["stateful_callbacks"]["CurriculumCallback"]["attributes"]["stage"] == 1  # next stage
    resumed, _, resumed_history = distill.distill(rationales, weights, plan, config, tmp_path / "killed",
                                                  resume=True, progress=False)
    assert [row["stage"] for row in resumed_history] == [0, 1]
    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.allclose(a[key], b[key], atol=1e-6), key
    assert any(not torch.equal(a[k], v) for k, v in load_student(config, "cpu")[0].state_dict().items())


def test_lora_causal_student_trains_only_its_adapters(rationales, tmp_path):
    """LLaMA-style student with LoRA (App. A), plain CoT: the base weights never move."""
    config = preset("tiny", student="tiny-llama", epochs=1, batch_size=8,
                    lora=True, lora_rank=4, lora_alpha=8, learning_rate=1e-2,
                    max_source_length=96, max_target_length=96)
    base = {k: v.clone() for k, v in load_student(config, "cpu")[0].state_dict().items()}
    model, _, history = distill.distill(rationales[:8], None, None, config, tmp_path, method="plain-cot",
                                        progress=False)
    assert history[0]["mean_input_steps"] == 0 and history[0]["loss"] > 0
    assert (tmp_path / "model/adapter_config.json").is_file()
    lora = {k: v for k, v in model.state_dict().items() if "lora_B" in k}
    assert lora and any(v.abs().sum() > 0 for v in lora.values())  # B starts at 0 and has moved
    for key, value in model.state_dict().items():
        name = key.removeprefix("base_model.model.").replace(".base_layer", "")
        if "lora_" not in key and name in base:
            assert torch.equal(value, base[name]), key


def test_distill_files_reads_the_pipeline_records_and_saves_the_student(rationales, tmp_path):
    """The `kpod-lite distill` step: rationales, token weights (Eq. 3) and schedule.json in."""
    from kpod_lite.data import write_jsonl

    config = preset("tiny", student="tiny-t5", epochs=1, batch_size=8, max_source_length=96, max_target_length=96)
    records = rationales[:8]
    write_jsonl(tmp_path / "rationales.jsonl", records)
    write_jsonl(tmp_path / "weights.jsonl", weight_records(records, load_student(config, "cpu")[1]))
    schedule_for(records, epochs=1).save(tmp_path / "schedule.json")
    summary = distill.distill_files(tmp_path / "rationales.jsonl", tmp_path / "weights.jsonl",
                                    tmp_path / "schedule.json", tmp_path / "run", config, progress=False)
    assert summary["method"] == "kpod" and summary["rationales"] == 8 and summary["epochs"] == 1
    assert summary["final_loss"] > 0 and (tmp_path / "run/model/model.safetensors").is_file()
    saved = json.loads((tmp_path / "run/history.json").read_text())
    assert saved["token_weights"] and saved["progressive"] and saved["history"][0]["stage"] == 0
    with pytest.raises(ConfigError, match="token weights"):
        distill.distill_files(tmp_path / "rationales.jsonl", None, tmp_path / "schedule.json", tmp_path / "x",
                              config, method="kpod", progress=False)


def test_a_schedule_built_for_another_method_is_refused(rationales, t5, tmp_path):
    config, model, tokenizer = t5
    plan = schedule_for(rationales[:4], epochs=2)
    plan.meta["method"] = "kpod"  # built with diversity; w.o.-div must not train on it
    with pytest.raises(ConfigError, match="built for method 'kpod'.*w.o.-div"):
        distill.distill(rationales[:4], weight_records(rationales[:4], tokenizer), plan, config.replace(epochs=2),
                        tmp_path, method="w.o.-div", model=model, tokenizer=tokenizer, progress=False)


def _broken_inputs(records, tokenizer):
    """(name, rationale records, weight records, the error it must raise): the bad inputs that
    used to train silently or end in a traceback."""
    good = weight_records(records, tokenizer)
    nan = [dict(w, weights=[math.nan] + w["weights"][1:]) if i == 1 else w for i, w in enumerate(good)]
    big = [dict(w, weights=[7.5] + w["weights"][1:]) if i == 1 else w for i, w in enumerate(good)]
    rotated = [dict(w, id=good[(i + 1) % len(good)]["id"]) for i, w in enumerate(good)]
    short = [dict(w, weights=w["weights"][:-1], tokens=w["tokens"][:-1]) if i == 2 else w for i, w in enumerate(good)]
    no_text = [{k: v for k, v in r.items() if k != "rationale"} if i == 1 else r for i, r in enumerate(records)]
    empty = [dict(r, rationale=" ") if i == 1 else r for i, r in enumerate(records)]
    return [
        ("nan weight", records, nan, r"w.jsonl:2:.*'weights'.*weight 0 is nan"),
        ("weight 7.5", records, big, r"w.jsonl:2:.*weight 0 is 7.5"),
        ("rotated ids", records, rotated, "tokens"),
        ("short list", records, short, r"w.jsonl:3:.*'tokens'"),
        ("missing weight record", records, good[1:], "no token weight record"),
        ("no rationale field", no_text, good, r"r.jsonl:2:.*'rationale'.*missing"),
        ("empty rationale", empty, good, r"r.jsonl:2:.*'rationale'.*empty"),
        ("duplicated rationale", records + records[:1], good, r"r.jsonl:5:.*a second rationale record.*line 1"),
    ]


def test_bad_weight_and_rationale_records_are_named_by_file_line_and_field(rationales, t5, tmp_path):
    config, _, tokenizer = t5
    records = rationales[:4]
    schedule_for(records, epochs=1).save(tmp_path / "schedule.json")
    for name, rationale_records, weights, message in _broken_inputs(records, tokenizer):
        write_jsonl(tmp_path / "r.jsonl", rationale_records)
        write_jsonl(tmp_path / "w.jsonl", weights)
        with pytest.raises(DataFormatError, match=message):
            distill.distill_files(tmp_path / "r.jsonl", tmp_path / "w.jsonl", tmp_path / "schedule.json",
                                  tmp_path / name.replace(" ", "-"), config.replace(epochs=1), progress=False)
    write_jsonl(tmp_path / "r.jsonl", records)  # sound records: only the schedule is missing
    write_jsonl(tmp_path / "w.jsonl", weight_records(records, tokenizer))
    with pytest.raises(ConfigError, match="progressive.*pass its schedule"):
        distill.distill_files(tmp_path / "r.jsonl", tmp_path / "w.jsonl", None, tmp_path / "x", config, progress=False)


def test_each_sample_of_a_question_gets_its_own_input_steps_eq14(rationales, t5):
    config, _, tokenizer = t5
    first = rationales[0]
    second = dict(first, sample=1)  # a second teacher rationale of the same question
    examples = distill.stage_examples([first, second], None, {first["id"]: 0, f"{first['id']}#1": 1}, tokenizer,
                                      config, student_family(config))
    assert [e["c"] for e in examples] == [0, 1] and [e["sample"] for e in examples] == [0, 1]
    with pytest.raises(KeyError, match="#1"):
        distill.stage_examples([second], None, {first["id"]: 0}, tokenizer, config, student_family(config))


def test_resume_skips_a_checkpoint_the_run_was_killed_while_writing(tmp_path, caplog):
    from kpod_lite.distill.run import checkpoint_to_resume

    for step, files in ((2, ("trainer_state.json", "optimizer.pt", "scheduler.pt", "model.safetensors")),
                        (4, ("model.safetensors", "optimizer.pt")),  # killed before trainer_state.json
                        (10, ())):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        for name in files:
            (folder / name).write_bytes(b"x")
    assert checkpoint_to_resume(True, tmp_path) == str(tmp_path / "checkpoint-2")
    assert "skipping" in caplog.text and "checkpoint-4" in caplog.text
    assert checkpoint_to_resume(True, tmp_path / "none") is None and checkpoint_to_resume(False, tmp_path) is None


def test_a_schedule_for_other_epochs_is_refused(rationales, t5, tmp_path):
    config, model, tokenizer = t5
    plan = schedule_for(rationales[:4], epochs=2)
    with pytest.raises(ConfigError, match="built for 2 epochs.*trains 5.*--epochs 5"):
        distill.distill(rationales[:4], None, plan, config.replace(epochs=5), tmp_path, method="w.o.-sig",
                        model=model, tokenizer=tokenizer, progress=False)
