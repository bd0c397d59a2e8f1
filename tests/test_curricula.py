"""Table 2's curriculum rows (`kpod_lite.curricula`): KPOD-ACL, KPOD-SPL and KPOD-ICL keep Eq. 15's
token weights and replace Eq. 14's schedule by Adaptive CL, SPL and in-sample completion."""

import doctest
import json
import math

import pytest
import torch
from transformers import TrainerCallback

from kpod_lite import curricula, distill, methods
from kpod_lite.config import preset
from kpod_lite.curricula import acl, icl, spl
from kpod_lite.distill.examples import pad_batch, stage_examples
from kpod_lite.distill.trainer import target_token_count
from kpod_lite.families import family_of
from kpod_lite.methods import CURRICULUM_ROWS, METHODS
from kpod_lite.models import apply_lora, load_student

from test_distill import StopAfterFirstEpoch, indexed, rationales, weight_records  # noqa: F401 (fixture)


@pytest.mark.parametrize("module", [icl, acl, spl, methods])
def test_docstring_examples_hold(module):
    assert doctest.testmod(module).failed == 0


def test_curriculum_rows_keep_the_weights_and_drop_the_schedule():
    for name, curriculum in zip(CURRICULUM_ROWS, curricula.CURRICULA):
        method = METHODS[name]
        assert method.curriculum == curriculum and method.token_weights and not method.progressive
        assert method.weights_file == "weights.jsonl" and method.schedule_file is None
        assert method.difficulty_file is None
    assert all(METHODS[name].curriculum is None for name in METHODS if name not in CURRICULUM_ROWS)


# --- ICL (Jia et al., 2023) ---------------------------------------------------------------------


def test_icl_pace_falls_by_a_stride_after_an_epoch_without_improvement_and_ends_at_T():
    assert icl.completion_ratio(1, T=10, accuracies={}) == icl.START == 0.6
    rising = {e: e / 100 for e in range(1, 11)}
    assert [icl.completion_ratio(e, 10, rising) for e in range(1, 12)] == [0.6] * 10 + [0.0]
    flat = {e: 0.2 for e in range(1, 11)}  # no epoch improves on the first
    assert [icl.completion_ratio(e, 10, flat) for e in (1, 2, 3, 4)] == [0.6, 0.6, 0.3, 0.0]
    # Without per-epoch accuracies: START for the first half of T, one stride less for the second.
    assert [icl.completion_ratio(e, 6) for e in range(1, 8)] == [0.6, 0.6, 0.6, 0.3, 0.3, 0.3, 0.0]


@pytest.mark.parametrize("student", ["tiny-t5", "tiny-llama"])
def test_icl_masks_the_first_share_of_the_rationale_and_never_the_answer(rationales, student):
    config = preset("tiny", student=student, token_weight_floor=0.0)
    model, tokenizer = load_student(config, "cpu")
    family = family_of(model)
    weights = indexed(weight_records(rationales, tokenizer))
    examples = stage_examples(rationales[:6], weights, {r["id"]: 0 for r in rationales}, tokenizer, config, family)
    for example in examples:
        masked = icl.mask_completed_prefix(example, 0.6, family.seq2seq)
        targets = [i for i, label in enumerate(example["labels"]) if label != -100]
        given = math.floor(0.6 * example["rationale_tokens"])
        assert 0 < given < example["rationale_tokens"] < len(targets)  # the answer sentence follows
        assert [masked["labels"][i] for i in targets[:given]] == [-100] * given
        assert [masked["weights"][i] for i in targets[:given]] == [0.0] * given
        assert [masked["labels"][i] for i in targets[given:]] == [example["labels"][i] for i in targets[given:]]
        assert masked["input_ids"] == example["input_ids"]
        assert ("context_labels" in masked) == family.seq2seq
        assert icl.mask_completed_prefix(example, 0.0, family.seq2seq) == example


def test_icl_seq2seq_decoder_still_reads_the_given_prefix(rationales):
    """Masking labels alone would blank the prefix out of T5's decoder inputs; `context_labels`
    keeps it, so the logits of the learned tokens are those of the unmasked sequence."""
    config = preset("tiny", student="tiny-t5", token_weight_floor=0.0)
    model, tokenizer = load_student(config, "cpu")
    model.eval()
    family = family_of(model)
    examples = stage_examples(rationales[:4], None, {r["id"]: 0 for r in rationales}, tokenizer, config, family)
    full = pad_batch(examples, tokenizer.pad_token_id)
    masked = pad_batch([icl.mask_completed_prefix(e, 0.6, True) for e in examples], tokenizer.pad_token_id)
    with torch.no_grad():
        reference = model(input_ids=full["input_ids"], attention_mask=full["attention_mask"], labels=full["labels"])
        decoder_inputs = model.prepare_decoder_input_ids_from_labels(labels=masked["context_labels"])
        completed = model(input_ids=masked["input_ids"], attention_mask=masked["attention_mask"],
                          decoder_input_ids=decoder_inputs)
        blanked = model(input_ids=masked["input_ids"], attention_mask=masked["attention_mask"],
                        labels=masked["labels"])
    learned = masked["labels"] != -100
    assert torch.allclose(completed.logits[learned], reference.logits[learned], atol=1e-5)
    assert not torch.allclose(blanked.logits[learned], reference.logits[learned], atol=1e-3)


# --- ACL (Kong et al., 2021) --------------------------------------------------------------------


def test_acl_pool_grows_from_a_tenth_to_every_rationale_after_T():
    sizes = [acl.pool_size(e, T=5, n=200) for e in range(1, 8)]
    assert sizes[0] == 20 and sizes[5:] == [200, 200]
    assert sizes == sorted(sizes) and sizes[4] < 200
    assert acl.easiest([3.0, 1.0, 2.0, 1.0], 3) == [1, 3, 2]


def test_acl_kl_is_zero_against_itself_and_positive_otherwise():
    logits = torch.randn(2, 5, 11)
    labels = torch.tensor([[1, 2, -100, 3, -100], [4, -100, -100, 5, 6]])
    assert acl.kl_to_reference(logits, logits, labels).abs() < 1e-6
    assert acl.kl_to_reference(logits, torch.randn(2, 5, 11), labels) > 0


# The byte-level LLaMA with and without LoRA, and FlanT5's path: a seq2seq student on the
# SentencePiece stand-in with LoRA, as the GPU presets run it.
@pytest.mark.parametrize("student, lora", [("tiny-llama", False), ("tiny-llama", True), ("tiny-t5-spm", True)])
def test_acl_trains_each_epoch_from_its_pool_and_resumes_with_its_difficulties(rationales, tmp_path, student, lora):
    config = preset("tiny", student=student, epochs=3, batch_size=4, max_source_length=160,
                    max_target_length=160, lora=lora, lora_rank=4, lora_alpha=8)
    _, tokenizer = load_student(config, "cpu")
    weights = weight_records(rationales, tokenizer)
    drawn: list[list[int]] = []
    original_iter = acl.PacedSampler.__iter__

    tokens: list[int] = []

    def spying_iter(self):
        tokens[:] = [target_token_count(e) for e in self.trainer.train_dataset.examples]
        drawn.append([])
        for index in original_iter(self):
            drawn[-1].append(index)
            yield index

    acl.PacedSampler.__iter__ = spying_iter
    try:
        _, _, history = distill.distill(rationales, weights, None, config, tmp_path / "straight", method="kpod-acl",
                                        progress=False)
    finally:
        acl.PacedSampler.__iter__ = original_iter
    assert len(history) == 3 and all(row["loss"] is not None for row in history)
    T, n = config.stage_T, len(rationales)
    assert [len(epoch) for epoch in drawn] == [n] * 3  # as many steps as any other method
    assert [len(set(epoch)) for epoch in drawn] == [acl.pool_size(e, T, n) for e in (1, 2, 3)]
    # The history's token axis counts what each epoch drew, repeats included, not every rationale once.
    assert [row["target_tokens"] for row in history] == [sum(tokens[i] for i in epoch) for epoch in drawn]
    assert history[0]["target_tokens"] != sum(tokens)
    last = max((tmp_path / "straight/checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    state = json.loads((last / "trainer_state.json").read_text())["stateful_callbacks"]["AdaptiveCurriculum"]
    assert len(state["attributes"]["scores"]) == n and state["attributes"]["epoch"] == 3

    distill.distill(rationales, weights, None, config, tmp_path / "killed", method="kpod-acl",
                    callbacks=[StopAfterFirstEpoch()], progress=False)
    _, _, resumed = distill.distill(rationales, weights, None, config, tmp_path / "killed", method="kpod-acl",
                                    resume=True, progress=False)
    assert [row["loss"] for row in resumed] == pytest.approx([row["loss"] for row in history], rel=1e-4)
    assert [row["target_tokens"] for row in resumed] == [row["target_tokens"] for row in history]


# --- SPL (Wan et al., 2020) ---------------------------------------------------------------------


@pytest.mark.parametrize("student", ["tiny-t5", "tiny-llama"])
def test_spl_confidence_has_mean_one_and_comes_from_stochastic_passes(rationales, student):
    config = preset("tiny", student=student, token_weight_floor=0.0)
    model, tokenizer = load_student(config, "cpu")
    model.eval()
    family = family_of(model)
    examples = stage_examples(rationales[:6], None, {r["id"]: 0 for r in rationales}, tokenizer, config, family)
    batch = pad_batch(examples, tokenizer.pad_token_id)
    batch.pop("weights")
    labels = batch.pop("labels")
    def dropouts():
        return ([m.p for m in model.modules() if isinstance(m, torch.nn.Dropout)],
                [m.attention_dropout for m in model.modules() if isinstance(getattr(m, "attention_dropout", None), float)])

    before = dropouts()
    torch.manual_seed(0)
    first = spl.confidence_row_weights(model, family, labels, **batch)
    second = spl.confidence_row_weights(model, family, labels, **batch)
    assert first.shape == (6,) and torch.isclose(first.mean(), torch.tensor(1.0))
    assert not torch.equal(first, second)  # dropout draws differ: the passes are stochastic
    assert not model.training  # left as found, its attention dropout too
    assert dropouts() == before


@pytest.mark.parametrize("method", CURRICULUM_ROWS)
@pytest.mark.parametrize("student", ["tiny-t5", "tiny-llama"])
def test_each_curriculum_row_trains_both_families_with_lora(rationales, tmp_path, method, student):
    """The GPU presets' path: LoRA students of both families (App. A)."""
    config = preset("tiny", student=student, epochs=2, batch_size=4, lora=True, lora_rank=4, lora_alpha=8,
                    max_source_length=160, max_target_length=160)
    _, tokenizer = load_student(config, "cpu")
    _, _, history = distill.distill(rationales[:8], weight_records(rationales[:8], tokenizer), None, config,
                                    tmp_path, method=method, progress=False)
    assert len(history) == 2 and all(math.isfinite(row["loss"]) for row in history)
    assert json.loads((tmp_path / "history.json").read_text())["method"] == method
    if method == "kpod-icl":
        assert [row["completion_ratio"] for row in history] == [0.6, 0.0]  # T = 1: whole rationales after


def test_acl_kl_term_starts_at_zero_with_lora_adapter_off(rationales):
    config = preset("tiny", student="tiny-llama", lora=True, lora_rank=4, lora_alpha=8, token_weight_floor=0.0)
    model, tokenizer = load_student(config, "cpu")
    model = apply_lora(model, config)
    family = family_of(model)
    examples = stage_examples(rationales[:4], None, {r["id"]: 0 for r in rationales}, tokenizer, config, family)
    batch = pad_batch(examples, tokenizer.pad_token_id)
    batch.pop("weights")
    labels = batch.pop("labels")
    model.eval()
    outputs, aligned = family.forward(model, labels, **batch)
    with model.disable_adapter():
        reference, _ = family.forward(model, labels, **batch)
    assert acl.kl_to_reference(outputs.logits, reference.logits, aligned).abs() < 1e-6


def test_spl_rows_weigh_one_each_when_no_confidence_survives():
    """A student far from its targets (the GPU rehearsals' random FlanT5: losses near 120 nats)
    has every exp(-NLL) underflow to 0; dividing by their mean would weigh every row 0."""
    assert torch.equal(spl.row_weights(torch.zeros(4)), torch.ones(4))
    weights = spl.row_weights(torch.tensor([0.0, 0.2, 0.6]))
    assert torch.allclose(weights, torch.tensor([0.0, 0.75, 2.25])) and torch.isclose(weights.mean(), torch.tensor(1.0))
