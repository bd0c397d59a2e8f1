"""The student's tokens as a training step of mask learning (§3.3, Eq. 5) needs them.

Per non-empty rationale: its token ids (cut to `weighting_max_tokens`), its prefix lengths k,
the question x as the student reads it (§3.1 prompt) and the answer y closed by eos.
`_Embedder` is the predictor's view of fixed ids: E(ids), e_mask (Eq. 4), the answer
trigger and bos, and Eq. 5 for a batch of these items. `matching_rationale_tokens` is the one
place that says which rationale token (and so which w_j) a span of rationale text is, for the
distillation loss (Eq. 15).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from kpod_lite.config import KPODConfig
from kpod_lite.families import family_of
from kpod_lite.templates import ANSWER_TRIGGER, build_prompt, rationale_tokens
from kpod_lite.weighting.losses import answer_prediction_loss, prefix_lengths
from kpod_lite.weighting.masks import mask_token_id
from kpod_lite.weighting.sizes import weighting_max_tokens


def character_owners(offsets: Sequence[Sequence[int]]) -> dict[int, int]:
    """For each character covered by a token, the token it belongs to: of the tokens covering
    it, the narrowest, then the later one. A SentencePiece "▁" that shares its span with the
    number or operator after it so owns nothing (`matching_rationale_tokens`)."""
    owner: dict[int, int] = {}
    for index, (start, end) in enumerate(offsets):
        start, end = int(start), int(end)
        for position in range(start, end):
            held = owner.get(position)
            if held is None or end - start <= int(offsets[held][1]) - int(offsets[held][0]):
                owner[position] = index
    return owner


def matching_rationale_tokens(rationale_offsets: Sequence[Sequence[int]],
                              spans: Iterable[tuple[int, int]]) -> list[int | None]:
    """For each span (start, end) of rationale characters, in order, the index of the rationale
    token it stands for (so Eq. 15 trains a target token with the w_j that Eq. 3 gave it and
    Eq. 8 scored it with), or None when the span covers no rationale character.

    1. A rationale token with exactly this span. SentencePiece gives several tokens one span:
       a lone "▁" before a number or an operator ("▁", "+" both cover the "+"), or the UTF-8
       byte pieces of one character (byte fallback). A run of k equal spans takes the k-th
       such token, in order (the last one when the run is longer).
    2. Else the rationale token that owns most of the span's characters. A character covered by
       several tokens belongs to the narrowest, then the later one: to "+", not to the "▁"
       that marks the space before it. Equal counts go to the later token, for the same reason.

    Taking the first covering token instead (as an earlier version did) gave "+" the weight of
    its "▁" marker: about 5% of the target tokens of a FlanT5-like tokenizer, mostly numbers and
    operators, the keypoints the weights are meant to find.
    """
    by_span: dict[tuple[int, int], list[int]] = {}
    for index, (start, end) in enumerate(rationale_offsets):
        if int(end) > int(start):
            by_span.setdefault((int(start), int(end)), []).append(index)
    owner = character_owners(rationale_offsets)
    out: list[int | None] = []
    previous, run = None, 0
    for start, end in spans:
        span = (int(start), int(end))
        run = run + 1 if span == previous else 0
        previous = span
        if span in by_span:
            same = by_span[span]
            out.append(same[min(run, len(same) - 1)])
            continue
        votes = Counter(owner[p] for p in range(span[0], span[1]) if p in owner)
        out.append(max(votes, key=lambda i: (votes[i], i)) if votes else None)
    return out


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _training_items(records, tokenizer, config: KPODConfig) -> list[dict]:
    """The token ids a training step needs, per non-empty rationale (cut to max tokens):
    the rationale, its prefixes, the question as the student reads it (§3.1 prompt), and the
    answer y as it follows the trigger (" <y>"), closed by eos so that the predictor stops."""
    limit = weighting_max_tokens(config)
    items = []
    for record in records:
        ids, offsets = rationale_tokens(tokenizer, record["rationale"])
        if not ids:
            continue
        items.append({
            "ids": ids[:limit],
            "ks": prefix_lengths(offsets[:limit], record["rationale"], config.prefix_mode),
            "question": _ids(tokenizer, build_prompt(record["question"], cot_prompt=config.cot_prompt)),
            "answer": _ids(tokenizer, " " + str(record["answer"]).strip()) + [tokenizer.eos_token_id],
        })
    return items


class _Embedder:
    """The predictor's view of fixed token ids: E(ids), e_mask, the trigger and bos; and how it
    scores the answer (`answers_only`: see `answer_prediction_loss`)."""

    def __init__(self, predictor, tokenizer, answers_only: bool = False):
        self.answers_only = answers_only
        self.table = predictor.get_input_embeddings()
        self.device = self.table.weight.device
        self.mask_id = mask_token_id(tokenizer)
        self.trigger_ids = _ids(tokenizer, " " + ANSWER_TRIGGER)
        self.bos_id = None if family_of(predictor).seq2seq else tokenizer.bos_token_id  # causal rows open with <s>

    def __call__(self, ids) -> torch.Tensor:
        return self.table(torch.as_tensor(ids, device=self.device))

    def loss(self, predictor, batch: list[dict], rationales: list[torch.Tensor], prefixes) -> torch.Tensor:
        """Eq. 5 for the items of `batch` with the given (masked) rationale embeddings."""
        return answer_prediction_loss(
            predictor, [self(item["question"]) for item in batch], rationales, prefixes,
            [item["answer"] for item in batch], trigger_embeds=self(self.trigger_ids),
            bos_embed=None if self.bos_id is None else self(self.bos_id), answers_only=self.answers_only)
