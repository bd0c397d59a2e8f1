"""KPOD-ACL: Adaptive Curriculum Learning (Kong et al., ICCV 2021) with Eq. 15's weighted loss.

Adaptive CL orders whole examples by a difficulty that follows the model being trained: it
starts from a pretrained model's loss on each example and is moved, as training goes, towards
the current model's loss; each epoch draws from the easiest share of the examples, a share that
grows until every example is in; and a KL term keeps the model close to the pretrained one,
"retaining previous useful learned knowledge". Here, for rationale i and epoch e = 1..N_e:

    s_i(0)   = ℓ_i under the pre-distillation student (the θ^s of Eq. 8)
    s_i(e)   = (1 - α) s_i(e-1) + α ℓ_i under the student after epoch e       (α = `ALPHA`)
    pool(e)  = the ⌈N · min(p q^(e-1), 1)⌉ rationales of least s(e-1)      (p = `START_FRACTION`)
    loss     = Eq. 15 + γ · mean over target tokens of KL(P_pre-distillation ‖ P_student)  (γ = `KL_WEIGHT`)

ℓ_i is Eq. 15 for rationale i alone: its weighted token loss divided by its target tokens.

Where the settings come from, and what is ours: the paper's own values were not available
offline; α = 0.7, p = 0.1 and γ = 0.1 are the defaults of CurML's implementation of Adaptive CL
(THUMNLab/CurML), which updates every 20 epochs and grows the share by 1.2 every 15. A KPOD run
has 6-100 epochs, so (ours) s is updated after every epoch and q = (1/p)^(1/T), so that the
pool holds every rationale from epoch T + 1 on, Algorithm 1's point where KPOD's own schedule
reaches whole rationales; s is no longer updated then (the pool no longer depends on it).
Every epoch draws N rationales (the pool shuffled, repeated as needed), so that ACL takes as
many optimiser steps, at the same learning rates, as every other method. The pre-distillation
student for the KL term is a frozen copy of the student as loaded (or, with LoRA, the student
with its adapter switched off, which is the same model).
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F
from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState

ALPHA = 0.7  # weight of the current loss in the difficulty update (CurML's default)
START_FRACTION = 0.1  # p: the share of the easiest rationales in the first epoch (CurML's default)
KL_WEIGHT = 0.1  # γ of the KL term to the pre-distillation student (CurML's default)


def pool_size(epoch: int, T: int, n: int, start: float = START_FRACTION) -> int:
    """How many of the n rationales epoch `epoch` (1-based) draws from: p q^(e-1) of them,
    q = (1/p)^(1/T), every one from epoch T + 1 on."""
    if epoch > T or n == 0:
        return n
    growth = (1.0 / start) ** (1.0 / max(T, 1))
    return max(1, min(n, math.ceil(n * start * growth ** (epoch - 1) - 1e-9)))


def easiest(scores: list[float], size: int) -> list[int]:
    """The indices of the `size` least difficult rationales (ties: the earlier index first)."""
    return sorted(range(len(scores)), key=lambda i: (scores[i], i))[:size]


def kl_to_reference(logits: torch.Tensor, reference_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over the target tokens (labels != -100) of KL(P_reference ‖ P_student), aligned logits."""
    mask = labels != -100
    student = F.log_softmax(logits[mask].float(), dim=-1)
    reference = F.log_softmax(reference_logits[mask].float(), dim=-1)
    return F.kl_div(student, reference, log_target=True, reduction="sum") / mask.sum().clamp(min=1)


@torch.no_grad()
def rationale_losses(model, family, examples: list[dict], pad_token_id: int, batch_size: int) -> list[float]:
    """ℓ_i for each example (module docstring), in evaluation mode (no dropout)."""
    from kpod_lite.distill.examples import pad_batch
    from kpod_lite.distill.trainer import token_nll

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    losses: list[float] = []
    try:
        for start in range(0, len(examples), batch_size):
            batch = {k: v.to(device) for k, v in pad_batch(examples[start:start + batch_size], pad_token_id).items()}
            weights = family.align(batch.pop("weights"), 0.0)
            labels = batch.pop("labels")
            outputs, labels = family.forward(model, labels, **batch)
            nll = token_nll(outputs.logits, labels)
            mask = (labels != -100).float()
            losses.extend(((weights * nll).sum(1) / mask.sum(1).clamp(min=1)).tolist())
    finally:
        model.train(was_training)
    return losses


class AdaptiveCurriculum(TrainerCallback, ExportableState):
    """The difficulty s and the pool of each epoch (module docstring), kept in every checkpoint.

    `PacedSampler` draws each epoch's rationales from `pool`. The Trainer restores a copy of
    this callback on resume (`restore_callback_states_from_checkpoint`), so the sampler looks
    the live one up rather than holding it.
    """

    def __init__(self, T: int, pad_token_id: int, batch_size: int):
        self.T, self.pad_token_id, self.batch_size = T, pad_token_id, batch_size
        self.scores: list[float] | None = None
        self.pool: list[int] | None = None
        self.epoch = 0
        # epoch (a string: JSON keys) -> the target tokens its draws, repeats included, train the
        # student to write; the dataset's own count is every rationale once (`PacedSampler`)
        self.drawn_target_tokens: dict[str, int] = {}

    def state(self) -> dict:
        return {"args": {"T": self.T, "pad_token_id": self.pad_token_id, "batch_size": self.batch_size},
                "attributes": {"scores": self.scores, "pool": self.pool, "epoch": self.epoch,
                               "drawn_target_tokens": dict(self.drawn_target_tokens)}}

    def _losses(self, model, train_dataloader) -> list[float]:
        from kpod_lite.families import family_of

        return rationale_losses(model, family_of(model), train_dataloader.dataset.examples,
                                self.pad_token_id, self.batch_size)

    def on_train_begin(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        if self.scores is None:  # a fresh run: the student is still the pre-distillation one
            self.scores = self._losses(model, train_dataloader)

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kwargs):
        self.epoch = round(state.epoch) + 1
        self.pool = easiest(self.scores, pool_size(self.epoch, self.T, len(self.scores)))

    def on_epoch_end(self, args, state, control, model=None, train_dataloader=None, **kwargs):
        if round(state.epoch) < self.T:  # the next epoch's pool still depends on s
            current = self._losses(model, train_dataloader)
            self.scores = [(1 - ALPHA) * s + ALPHA * c for s, c in zip(self.scores, current)]


class PacedSampler(torch.utils.data.Sampler):
    """N indices an epoch from the live `AdaptiveCurriculum`'s pool: the pool shuffled, repeated
    as needed, from a generator seeded by the run's seed and the epoch. It tells the curriculum
    how many target tokens the epoch's draws hold, for the history's token axis."""

    def __init__(self, trainer, n: int, seed: int):
        self.trainer, self.n, self.seed = trainer, n, seed

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        # A generator: the pool is read when the epoch's first batch is drawn, after on_epoch_begin.
        from kpod_lite.distill.trainer import target_token_count

        curriculum = next(cb for cb in self.trainer.callback_handler.callbacks if isinstance(cb, AdaptiveCurriculum))
        pool = curriculum.pool if curriculum.pool is not None else list(range(self.n))
        generator = torch.Generator().manual_seed(self.seed * 100_003 + curriculum.epoch)
        order: list[int] = []
        while len(order) < self.n:
            order.extend(pool[position] for position in torch.randperm(len(pool), generator=generator).tolist())
        order = order[:self.n]
        examples = self.trainer.train_dataset.examples
        curriculum.drawn_target_tokens[str(curriculum.epoch)] = sum(target_token_count(examples[i]) for i in order)
        yield from order
