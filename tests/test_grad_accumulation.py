"""Gradient accumulation keeps Eq. 15 what it is for one batch (`KPODTrainer`): one optimiser step
of 2 micro-batches of 2 rationales gives the gradient of one step of a batch of 4, also when the
micro-batches hold different numbers of target tokens, under whichever transformers is installed
(4.x divides the loss by the accumulation steps on other grounds than 5 does)."""

import torch
from transformers import TrainerCallback

from kpod_lite.config import preset
from kpod_lite.distill.examples import pad_batch
from kpod_lite.distill.trainer import KPODTrainer, KPODTrainingArguments
from kpod_lite.families import family_of
from kpod_lite.models import load_student

# Target lengths chosen so that any two of them hold a different number of tokens from the other
# two: a mean of the two micro-batch means is then not the mean over the whole batch.
TARGET_LENGTHS = (1, 2, 4, 11)


class GradientsBeforeTheStep(TrainerCallback):
    """Copies every gradient when the optimiser is about to step (after accumulation)."""

    def __init__(self):
        self.gradients = None

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.gradients = {name: p.grad.detach().clone() for name, p in model.named_parameters() if p.grad is not None}


def _examples(vocab_size: int) -> list[dict]:
    generator = torch.Generator().manual_seed(0)
    examples = []
    for length in TARGET_LENGTHS:
        prompt = torch.randint(3, vocab_size, (5,), generator=generator).tolist()
        target = torch.randint(3, vocab_size, (length,), generator=generator).tolist()
        weights = torch.rand(length, generator=generator).tolist()  # token weights w_j, as Eq. 3 gives them
        examples.append({"input_ids": prompt + target, "attention_mask": [1] * (len(prompt) + length),
                         "labels": [-100] * len(prompt) + target, "weights": [0.0] * len(prompt) + weights})
    return examples


def _one_step_gradients(tmp_path, batch_size: int, accumulation: int) -> dict:
    model, tokenizer = load_student(preset("tiny"))
    examples = _examples(len(tokenizer))
    capture = GradientsBeforeTheStep()
    args = KPODTrainingArguments(
        output_dir=str(tmp_path / f"b{batch_size}-ga{accumulation}"), per_device_train_batch_size=batch_size,
        gradient_accumulation_steps=accumulation, max_steps=1, learning_rate=1e-3, max_grad_norm=0.0,
        use_cpu=True, report_to="none", save_strategy="no", logging_strategy="no", disable_tqdm=True,
        remove_unused_columns=False, label_names=["labels"], dataloader_num_workers=0, seed=0, data_seed=0)
    trainer = KPODTrainer(model=model, args=args, train_dataset=examples,
                          data_collator=lambda features: pad_batch(features, tokenizer.pad_token_id),
                          callbacks=[capture], family=family_of(model))
    trainer.train()
    assert capture.gradients, "the step was taken"
    return capture.gradients


def test_two_micro_batches_of_two_give_the_gradient_of_one_batch_of_four(tmp_path):
    whole = _one_step_gradients(tmp_path, batch_size=4, accumulation=1)
    accumulated = _one_step_gradients(tmp_path, batch_size=2, accumulation=2)
    assert whole.keys() == accumulated.keys()
    for name in whole:
        torch.testing.assert_close(accumulated[name], whole[name], rtol=1e-4, atol=1e-7,
                                   msg=lambda detail, name=name: f"{name}: {detail}")


def test_the_step_counts_the_targets_eq15_reads_for_a_causal_student(tmp_path):
    model, tokenizer = load_student(preset("tiny"))
    trainer = KPODTrainer(model=model, args=KPODTrainingArguments(output_dir=str(tmp_path), use_cpu=True,
                                                                  report_to="none"),
                          family=family_of(model))
    batches = [pad_batch(_examples(len(tokenizer))[:2], 0), pad_batch(_examples(len(tokenizer))[2:], 0)]
    samples, targets = trainer.get_batch_samples(iter(batches), 2, torch.device("cpu"))
    assert len(samples) == 2 and targets == sum(TARGET_LENGTHS)
