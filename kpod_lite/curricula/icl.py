"""KPOD-ICL: in-sample curriculum by sequence completion (Jia et al., ACL 2023) with Eq. 15's weights.

ICL makes a sample easier by asking for less of it: the student is given (teacher-forced) the
first p of the target and learns only to complete the rest, and p falls to 0 over training,
so that it ends writing whole targets. Here the target is the rationale followed by the answer
sentence (`templates.format_rationale_target`) and p is a share of the rationale's tokens:

    loss of a stage = Eq. 15 over the target tokens after the first ⌊p · n_r⌋ rationale tokens

(n_r: the rationale's tokens in the target). The prefix stays in the sequence the student reads:
a causal student reads it as part of its input row anyway; a seq2seq student's decoder is fed
it through `context_labels` (`KPODTrainer.compute_loss`), since masking labels alone would also
blank them out of the decoder's inputs. The question stays in the input, as in every method.

The pace, as the authors' code runs it (start 0.6, stride 0.3, "gradually decrease"): p starts
at `START`, and after an epoch whose validation score did not improve on the best so far p
drops by `STRIDE`, down to 0. Adaptations, ours: the score is the per-epoch validation accuracy
(`epoch_eval_size`, `EpochAccuracyCallback`) where the authors used ROUGE-2; p is 0 from epoch
T + 1 at the latest, Algorithm 1's point where KPOD's own schedule reaches whole rationales;
and without a per-epoch score p falls at fixed epochs instead (`START` for the first half of
T, one stride less for the second half, then 0).

>>> [completion_ratio(e, T=4, accuracies={1: .1, 2: .3, 3: .2}) for e in (1, 2, 3, 4, 5)]
[0.6, 0.6, 0.6, 0.3, 0.0]
>>> [completion_ratio(e, T=4) for e in (1, 2, 3, 4, 5)]
[0.6, 0.6, 0.3, 0.3, 0.0]
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path

# The authors' code: `gradual_start` 0.6, `gradual_ratio` 0.3 (so p: 0.6, 0.3, 0).
START = 0.6
STRIDE = 0.3


def completion_ratio(epoch: int, T: int, accuracies: Mapping[int, float] | None = None,
                     start: float = START, stride: float = STRIDE) -> float:
    """p for `epoch` (1-based): the share of each rationale's tokens given, not learned (module docstring).

    `accuracies` maps the epochs already trained to their validation accuracy; None (or an
    empty mapping) gives the fixed pace. p is a function of these alone, so a resumed run
    recomputes the same p from the accuracies it kept.
    """
    if epoch > T:
        return 0.0
    ratio = start
    if accuracies:
        best = -math.inf
        for done in range(1, epoch):
            score = accuracies.get(done)
            if score is None:
                continue
            if score <= best:  # no improvement on the best so far: a step down
                ratio = max(ratio - stride, 0.0)
            best = max(best, score)
        return round(ratio, 6)
    steps = math.ceil(start / stride - 1e-9)  # strides from start to 0: p's values before 0
    stage = min((epoch - 1) * steps // max(T, 1), steps - 1)
    return round(max(start - stride * stage, 0.0), 6)


def read_accuracies(path: Path | str | None) -> dict[int, float]:
    """The per-epoch validation accuracies an `EpochAccuracyCallback` kept ({} without the file)."""
    if path is None or not Path(path).is_file():
        return {}
    return {int(epoch): float(value) for epoch, value in json.loads(Path(path).read_text("utf-8")).items()}


def mask_completed_prefix(example: Mapping, ratio: float, seq2seq: bool) -> dict:
    """`example` (`distill.examples.stage_examples`) with its first ⌊ratio · n_r⌋ rationale tokens
    given instead of learned: label -100 and weight 0. For ratio > 0 a seq2seq example also gets
    `context_labels`, its labels unmasked, from which the decoder's inputs are built."""
    if ratio <= 0:
        return dict(example)
    count = math.floor(ratio * example["rationale_tokens"])
    # Every example of a stage carries `context_labels`, however short its prefix (`pad_batch`).
    targets = [i for i, label in enumerate(example["labels"]) if label != -100][:count]
    labels, weights = list(example["labels"]), list(example["weights"])
    for i in targets:
        labels[i], weights[i] = -100, 0.0
    masked = {**example, "labels": labels, "weights": weights}
    if seq2seq:
        masked["context_labels"] = list(example["labels"])
    return masked


class InSampleCurriculum:
    """p for each stage of a run (the `completion` of `ProgressiveDataset`): `completion_ratio`
    with the accuracies `accuracy_path` holds when the stage starts."""

    def __init__(self, T: int, accuracy_path: Path | str | None = None):
        self.T, self.accuracy_path = T, accuracy_path

    def __call__(self, stage: int) -> float:
        return completion_ratio(stage + 1, self.T, read_accuracies(self.accuracy_path))
