"""The losses of mask learning (§3.3): answer prediction over prefixes (Eq. 5), mask ratio
(Eq. 6) and their sum (Eq. 7)::

    L_p = - Σ_k Σ_j log P(y_j | y_<j, r[m]_<k, x; θ^w)                 (Eq. 5)
    L_m = Σ_j m_j                                                     (Eq. 6)
    L_k = L_p + α L_m                                                 (Eq. 7)

Normalised (ours; the package docstring says why): L_p is divided by the number of prefixes
|K|, L_m by the rationale's length n, and a batch averages L_k; with every prefix (|K| = n)
each rationale's term is exactly Eq. 7 divided by n. `prefix_lengths` gives the k of Eq. 5:
all of them ("all") or the ends of the §3.4 steps ("steps"). With "steps", L_p is the mean
over the step ends only (the whole rationale weighs 1/|K|, not 1/n): another objective than
Eq. 5's mean, not an estimate of it, and α trades against it differently (the package
docstring, "What "steps" computes").
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from kpod_lite.data import split_steps
from kpod_lite.families import family_of


def prefix_lengths(offsets, rationale: str, mode: str) -> list[int]:
    """The prefix lengths k (rationale tokens) whose r[m]_<k enter Eq. 5.

    "all": k = 1..n, Eq. 5 as written. "steps": for each §3.4 step (split at "."), the number
    of tokens that start before the step ends; n is always included. A rationale without "."
    is one step, so "steps" gives [n]. "steps" is a subset chosen by position, not a sample:
    the mean over it is not Eq. 5's mean over all k (the whole rationale weighs 1/|K| in it).
    "sampled": none fixed (each training step draws its k, `training.training_step`). No
    tokens: [].
    """
    n = len(offsets)
    if n == 0 or mode == "sampled":
        return []
    if mode == "all":
        return list(range(1, n + 1))
    if mode != "steps":
        raise ValueError(f"prefix mode must be 'all', 'steps' or 'sampled', got {mode!r}")
    starts = [start for start, _ in offsets]
    ends = {sum(1 for s in starts if s < step.end) for step in split_steps(rationale)}
    return sorted(k for k in ends | {n} if k > 0)


def answer_prediction_loss(predictor, question_embeds: list[torch.Tensor], masked_rationales: list[torch.Tensor],
                           prefixes: list[list[int]], answer_ids: list[list[int]],
                           trigger_embeds: torch.Tensor | None = None,
                           bos_embed: torch.Tensor | None = None, answers_only: bool = False) -> torch.Tensor:
    """L_p (Eq. 5) of each rationale of a batch, divided by its number of prefixes; shape (batch,).

    For rationale i: the mean over k in `prefixes[i]` of Σ_j -log P(y_j | y_<j, r[m]_<k, x)
    (module docstring: why this normalisation). Every (i, k) is one row of a single padded
    batch, [bos, E(x), r[m]_<k, trigger] (bos for causal models only, the trigger "Therefore,
    the answer is" unmasked). A seq2seq predictor (T5) reads the row with its encoder and y
    with its decoder; a causal one reads the row followed by E(y), and only y is scored.
    A rationale without prefixes gets 0. `answers_only` computes the logits of the answer
    positions alone (`StudentFamily.label_logits`): the same loss without a 7B predictor's
    logits for every position of every row. The LoRA predictors of the GPU presets use it; a
    whole predictor (the tiny preset) keeps the full logits its weights were calibrated with,
    since the two differ in their last bits (docs/WEIGHTING.md).
    """
    device = masked_rationales[0].device
    losses = torch.zeros(len(prefixes), device=device)
    if not any(prefixes):
        return losses
    head = [] if bos_embed is None else [bos_embed[None]]
    tail = [] if trigger_embeds is None else [trigger_embeds]
    family = family_of(predictor)
    table = predictor.get_input_embeddings()
    rows, label_rows, owner = [], [], []
    for i, (question, rationale, ks) in enumerate(zip(question_embeds, masked_rationales, prefixes)):
        answer = torch.tensor(answer_ids[i], device=device)
        for k in ks:
            row, labels = family.join_embeddings(torch.cat(head + [question, rationale[:k]] + tail), answer, table)
            rows.append(row)
            label_rows.append(labels)
            owner.append(i)
    embeds = nn.utils.rnn.pad_sequence(rows, batch_first=True)
    lengths = torch.tensor([len(r) for r in rows], device=device)
    attention = (torch.arange(embeds.shape[1], device=device)[None, :] < lengths[:, None]).long()
    labels = nn.utils.rnn.pad_sequence(label_rows, batch_first=True, padding_value=-100)
    if answers_only:
        logits, targets = family.label_logits(predictor, labels, inputs_embeds=embeds, attention_mask=attention)
        shifted = labels if family.seq2seq else labels[:, 1:]
        row_of = torch.arange(len(rows), device=device)[:, None].expand_as(shifted)[shifted != -100]
        token_nll = F.cross_entropy(logits.float(), targets, reduction="none")
        per_prefix = torch.zeros(len(rows), device=device).index_add(0, row_of, token_nll)
    else:
        # The logits slice these weights were calibrated with; shifting the labels instead is equal in
        # exact arithmetic, but its last-bit differences grow over mask learning (docs/WEIGHTING.md).
        outputs, labels = family.forward(predictor, labels, slice_logits=True, inputs_embeds=embeds,
                                         attention_mask=attention)
        token_nll = F.cross_entropy(outputs.logits.float().transpose(1, 2), labels, ignore_index=-100,
                                    reduction="none")
        per_prefix = token_nll.sum(1)  # Σ_j over the answer tokens; ignored positions add 0
    owner = torch.tensor(owner, device=device)
    counts = torch.zeros(len(prefixes), device=device).index_add_(0, owner, torch.ones_like(per_prefix))
    return losses.index_add(0, owner, per_prefix) / counts.clamp(min=1)


# --- the mask ratio loss (Eq. 6) and the total (Eq. 7) ------------------------------------------------


def mask_ratio_loss(mask: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """L_m = Σ_j m_j (Eq. 6) divided by the rationale's length n: the kept fraction, per row.

    `mask` and `attention_mask` are (batch, length); padding does not count; a row without
    tokens gets 0.
    """
    valid = attention_mask.to(mask.dtype)
    return (mask * valid).sum(-1) / valid.sum(-1).clamp(min=1)


def keypoint_loss(answer_loss: torch.Tensor, ratio_loss: torch.Tensor, alpha: float) -> torch.Tensor:
    """L_k = L_p + α L_m (Eq. 7), averaged over the rationales of a batch.

    With `answer_prediction_loss` (Eq. 5 / |K|) and `mask_ratio_loss` (Eq. 6 / n) and every
    prefix (|K| = n), each rationale's term is exactly Eq. 7 divided by n.
    """
    return (answer_loss + alpha * ratio_loss).mean()
