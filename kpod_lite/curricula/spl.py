"""KPOD-SPL: self-paced learning (Wan et al., EMNLP 2020) on Eq. 15's weighted loss.

SPL lets the student set its own pace: at every step it measures its confidence on each
example of the batch by Monte Carlo dropout (Gal & Ghahramani, 2016), several stochastic
forward passes, and the confidence scales that example's loss, so that examples it is already
sure of count more early on and the others catch up as its confidence grows. There is no
ordering of the data and no pacing function.

Here, at every optimiser step and for each rationale i of the batch:

    P_i^k  = mean over i's target tokens of P(token | its prefix), in stochastic pass k = 1..K
    c_i    = (1/K) Σ_k P_i^k                    (the expected token probability: the confidence)
    v_i    = c_i / mean_batch(c)               (mean 1 over the batch)
    loss   = Eq. 15 with w_j replaced by v_i · w_j

What is ours, and why: the cited paper's method section was not available offline, only its
introduction (confidence by MC dropout on the current model, recomputed at each step, used to
weight each example's loss), so c_i is the simplest MC-dropout confidence, the expectation of
the probability over the passes; v_i is normalised to mean 1 so that SPL changes the balance
of the batch and not the learning rate (the scale confound the uniform-weight controls of
`kpod_lite.methods` measure). K = `PASSES`. The passes run with the student's own dropout
(FlanT5's 0.1); where it has none (LLaMA's attention dropout, the tiny students) dropout
`DROPOUT` is switched on for the passes alone (`dropout_on`). The passes need no gradient; they cost about K forward
passes a step.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch

PASSES = 3  # K: stochastic forward passes per step (ours; "several" in the cited method)
DROPOUT = 0.1  # dropout during the passes where the student has none of its own (FlanT5's rate)


@contextmanager
def dropout_on(model, rate: float):
    """Dropout `rate` for the block wherever the student has a dropout of rate 0: its dropout
    layers (a T5 built without dropout) and its attention dropout (LLaMA's default). A student
    with dropout of its own (FlanT5: 0.1) keeps its own."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Dropout) and m.p == 0.0]
    attention = [m for m in model.modules()
                 if isinstance(getattr(m, "attention_dropout", None), float) and m.attention_dropout == 0.0]
    for layer in layers:
        layer.p = rate
    for module in attention:
        module.attention_dropout = rate
    try:
        yield len(layers) + len(attention)
    finally:
        for layer in layers:
            layer.p = 0.0
        for module in attention:
            module.attention_dropout = 0.0


@torch.no_grad()
def confidence_row_weights(model, family, labels: torch.Tensor, passes: int = PASSES, **inputs) -> torch.Tensor:
    """v_i for each row of the batch (module docstring): (batch,), mean 1, no gradient.

    `labels` and `inputs` as `StudentFamily.forward` takes them. The model is put in training
    mode for the passes (dropout on) and left as it was found.
    """
    from kpod_lite.distill.trainer import token_nll

    was_training = model.training
    model.train()
    try:
        with dropout_on(model, DROPOUT):
            probabilities = []
            for _ in range(passes):
                outputs, aligned = family.forward(model, labels, **inputs)
                nll = token_nll(outputs.logits, aligned)
                mask = (aligned != -100).float()
                probabilities.append((torch.exp(-nll) * mask).sum(1) / mask.sum(1).clamp(min=1))
    finally:
        model.train(was_training)
    return row_weights(torch.stack(probabilities).mean(0))


def row_weights(confidence: torch.Tensor) -> torch.Tensor:
    """v_i = c_i / mean_batch(c) (module docstring). A batch whose every confidence is 0 (a
    student far from its targets: exp(-NLL) underflows) has no ranking to follow, and
    dividing by its mean would weigh every row 0 and train nothing: its rows weigh 1 each."""
    mean = confidence.mean()
    if not mean > 0:
        return torch.ones_like(confidence)
    return confidence / mean
