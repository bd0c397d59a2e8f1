"""The stage-t training example (Eq. 14) and its token weights (Eq. 15): what the student
reads, what it learns to write, and how much each target token counts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from kpod_lite.config import KPODConfig
from kpod_lite.data import rationale_key, rationale_name, split_steps
from kpod_lite.families import StudentFamily
from kpod_lite.templates import encode_student_example, format_rationale_target, student_prompt
from kpod_lite.weighting.tokens import matching_rationale_tokens


# --- the stage-t example (Eq. 14) -----------------------------------------------------------------


def split_at_step(rationale: str, c: int) -> tuple[str, int]:
    """(the first c steps of `rationale`, the character offset where step c + 1 starts).

    c >= n, the number of steps, gives every step (and the offset len(rationale)): the
    student then writes only the answer sentence. `rationale[offset:].strip()` is
    the remaining text, and it starts exactly at `offset` (steps start at a non-space).
    """
    if c < 0:
        raise ValueError(f"the number of input steps c_i(t) must be >= 0, got {c}")
    steps = split_steps(rationale)
    if c == 0:
        return "", steps[0].start if steps else len(rationale)
    if c >= len(steps):
        return rationale.strip(), len(rationale)
    return rationale[:steps[c - 1].end].strip(), steps[c].start


def target_token_weights(target_offsets: Iterable[tuple[int, int]], rationale_offset: int, rationale_length: int,
                         weight_record: Mapping | None, floor: float = 0.0) -> list[float]:
    """w_j for each target token (Eq. 15), from the rationale-token weights.

    `target_offsets` are character spans in the target string; target character k is
    rationale character `rationale_offset + k` for k < `rationale_length` (the remaining
    rationale), and part of the answer sentence after that. A token inside the remaining
    rationale gets the weight of the rationale token it is: the one with the same span, else
    the one owning most of its characters (`weighting.tokens.matching_rationale_tokens`, which
    says how SentencePiece's shared spans are resolved); a token
    of the answer sentence, a special token (empty span) or any token without a weight record
    gets 1 (the second term of Eq. 1, kept as is). With a `floor` λ (ours, `token_weight_floor`)
    a rationale token counts λ + (1 - λ) w_j: never less than λ of its plain loss, and a weight
    of 1 stays 1.
    """
    target_offsets = list(target_offsets)
    if weight_record is None:
        return [1.0] * len(target_offsets)
    # Target character k is rationale character rationale_offset + k while k < rationale_length.
    spans = [(rationale_offset + start, rationale_offset + min(end, rationale_length)) if start < rationale_length
             else (0, 0) for start, end in target_offsets]
    weights = weight_record["weights"]
    return [1.0 if index is None else floor + (1.0 - floor) * float(weights[index])
            for index in matching_rationale_tokens(weight_record["offsets"], spans)]


def stage_examples(rationales: list[Mapping], weights: Mapping | None, input_steps: Mapping,
                   tokenizer, config: KPODConfig, family: StudentFamily) -> list[dict]:
    """The tokenised stage-t training examples, one per rationale record (Eq. 14-15).

    `rationales`: rationale records `{"id", "question", "answer", "rationale", "sample"?}`;
    `weights`: (id, sample) -> token weight record, or None for all-ones weights (KPOD-w.o.-sig,
    plain CoT); `input_steps`: rationale (`data.rationale_name`: the id, "id#sample" for a
    question's further samples) -> c_i(t), clipped to each rationale's step count.
    Each example holds `input_ids`, `attention_mask`, `labels` (-100: no loss) and `weights`
    (one per label), plus `id`, `sample`, `c` and `truncated` (input, target) for inspection.
    Prompt and target become ids in `templates.encode_student_example`, and `family` decides
    how they are joined (`kpod_lite.families`). Inputs are cut to `config.max_source_length`
    tokens and targets to `config.max_target_length`, at the end (a cut target loses its
    answer sentence: size the limits so that few are cut).
    """
    missing = [rationale_name(r) for r in rationales if rationale_name(r) not in input_steps]
    if missing:
        raise KeyError(f"the schedule has no c_i for {len(missing)} question(s), e.g. {missing[0]!r}")
    examples = []
    for record in rationales:
        key = rationale_key(record)
        sample = key[1]
        c = int(input_steps[rationale_name(record)])
        given, offset = split_at_step(record["rationale"], c)
        remaining = record["rationale"][offset:].strip()
        weight_record = None
        if weights is not None:
            weight_record = weights.get(key)
            if weight_record is None:
                raise KeyError(f"no token weights for rationale {record['id']!r} sample {sample}")
        example = encode_student_example(
            tokenizer, family, student_prompt(record["question"], given_steps=given, cot_prompt=config.cot_prompt),
            format_rationale_target(remaining, record["answer"]),
            max_source_length=config.max_source_length, max_target_length=config.max_target_length)
        target_weights = target_token_weights(example.target_offsets, offset, len(remaining), weight_record,
                                              config.token_weight_floor)
        examples.append({
            "id": record["id"], "sample": sample, "c": min(c, len(split_steps(record["rationale"]))),
            # target tokens inside the remaining rationale (the rest is the answer sentence): KPOD-ICL's n_r
            "rationale_tokens": sum(start < len(remaining) and end > start for start, end in example.target_offsets),
            "truncated": example.truncated,
            "input_ids": example.input_ids, "attention_mask": [1] * len(example.input_ids),
            "labels": example.labels,
            "weights": [0.0] * (len(example.labels) - len(target_weights)) + target_weights,
        })
    return examples


def pad_batch(features: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of examples into tensors: ids with `pad_token_id`, the attention mask
    with 0, labels with -100 and weights with 0 (padding is never learned); KPOD-ICL's
    `context_labels` (a seq2seq decoder's unmasked labels) like labels, when every example has
    them. Keys that are not model inputs (`id`, `sample`, `c`, `truncated`, ...) are dropped."""
    def pad(key: str, value, dtype) -> torch.Tensor:
        width = max(len(f[key]) for f in features)
        return torch.tensor([list(f[key]) + [value] * (width - len(f[key])) for f in features], dtype=dtype)

    batch = {
        "input_ids": pad("input_ids", pad_token_id, torch.long),
        "attention_mask": pad("attention_mask", 0, torch.long),
        "labels": pad("labels", -100, torch.long),
        "weights": pad("weights", 0.0, torch.float32),
    }
    if features and all("context_labels" in f for f in features):
        batch["context_labels"] = pad("context_labels", -100, torch.long)
    return batch
