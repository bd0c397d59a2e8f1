"""How the tiny students are pretrained, and on what: the corpus of synthetic questions and
rationales, T5's span corruption or next-token prediction, batches of similar-length documents,
the pretraining loss and the training loop (AdamW, cosine decay)."""

from __future__ import annotations

import logging
import math
import random

import torch

from kpod_lite.families import family_of
from kpod_lite.models.tokenizer import _sentinel_count, sentinel_tokens
from kpod_lite.templates import build_prompt, format_rationale_target

log = logging.getLogger(__name__)

# --- the corpus --------------------------------------------------------------------------------


def pretraining_corpus(seed: int, size: int, exclude: frozenset[str] = frozenset()) -> list[str]:
    """Plain-text documents from `size` synthetic problems drawn from `seed`.

    Each problem gives two documents: its question as the student reads it (the §3.1
    template "Q: <x>\\nA: Let's think step by step.") and, on its own, a teacher-style
    rationale with its answer sentence, "<r> Therefore, the answer is <y>." Problems whose
    question document is in `exclude` are skipped (held-out text must be unseen).
    """
    # Imported here: the synthetic generator is needed only to build the tiny students.
    from kpod_lite.synthetic import generate_dataset

    documents = []
    for problem in generate_dataset(size, seed=seed, prefix="pretrain"):
        question = build_prompt(problem.question)
        if question not in exclude:
            documents += [question, format_rationale_target(problem.rationale, problem.answer)]
    return documents


# --- batches ---------------------------------------------------------------------------------


def span_corrupt(ids: list[int], rng: random.Random, sentinel_ids: list[int], eos_id: int,
                 noise_density: float = 0.15, mean_span_length: float = 3.0) -> tuple[list[int], list[int]]:
    """T5's span-corruption pair (Raffel et al., 2020, §3.1.4) for one document.

    About 15% of the tokens, in spans of 3 on average, are cut out; the input keeps the rest
    with a sentinel where each span was, the target lists each sentinel and its span:

        ids    : Ana has 1 2 eggs .       input : Ana <extra_id_0> eggs . </s>
                                          target: <extra_id_0> has 1 2 </s>
    """
    n = len(ids)
    if n < 2:
        raise ValueError(f"span corruption needs a document of at least 2 tokens, got {n}")
    n_noise = min(max(1, round(n * noise_density)), n - 1)
    n_spans = max(1, min(round(n_noise / mean_span_length), len(sentinel_ids), n - n_noise))
    noise_lengths = _random_partition(n_noise, n_spans, rng)
    keep_lengths = _random_partition(n - n_noise, n_spans, rng)  # the document starts with kept text
    inputs, targets, position = [], [], 0
    for sentinel, keep, noise in zip(sentinel_ids, keep_lengths, noise_lengths):
        inputs += ids[position:position + keep] + [sentinel]
        position += keep
        targets += [sentinel] + ids[position:position + noise]
        position += noise
    return inputs + [eos_id], targets + [eos_id]


def _random_partition(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` split into `parts` positive lengths, uniformly at random."""
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0] + cuts, cuts + [total])]


def _pretraining_batch(documents: list[list[int]], model_type: str, tokenizer, rng: random.Random) -> dict:
    """Token ids of a few documents as a padded batch with labels (-100 where nothing to predict).

    T5: a span-corruption pair per document. LLaMA: "<s> text </s>", next-token prediction;
    LLaMA has no pad token, so padding repeats `</s>` and is masked by the attention mask.
    """
    if model_type == "t5":
        sentinels = tokenizer.convert_tokens_to_ids(sentinel_tokens(_sentinel_count(tokenizer)))
        pairs = [span_corrupt(ids, rng, sentinels, tokenizer.eos_token_id) for ids in documents]
        inputs, mask = pad_right([p[0] for p in pairs], tokenizer.pad_token_id)
        labels, _ = pad_right([p[1] for p in pairs], -100)
        return {"input_ids": inputs, "attention_mask": mask, "labels": labels}
    sequences = [[tokenizer.bos_token_id] + ids + [tokenizer.eos_token_id] for ids in documents]
    inputs, mask = pad_right(sequences, tokenizer.eos_token_id)
    return {"input_ids": inputs, "attention_mask": mask, "labels": inputs.masked_fill(mask == 0, -100)}

def pad_right(sequences: list[list[int]], value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask) of token-id rows padded on the right with `value`; shared by every
    module that batches token ids by hand (pretraining, weighting, difficulty)."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), value, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, :len(sequence)] = 1
    return ids, mask


def _encode(tokenizer, texts, max_length: int) -> list[list[int]]:
    # Special tokens are added per objective in _pretraining_batch; leave room for two.
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [ids[:max_length - 2] for ids in encoded]



# --- the objective and the loop ----------------------------------------------------------------


@torch.no_grad()
def pretraining_loss(model, tokenizer, texts, model_type: str, seed: int = 0, batch_size: int = 32) -> float:
    """Mean per-token cross-entropy (nats) of a tiny student's pretraining objective on `texts`.

    Span corruption for T5, next-token prediction for LLaMA; a random model scores about
    log(vocabulary size). The T5 corruption is drawn from `seed`, so the value is repeatable.
    """
    was_training = model.training
    model.eval()
    rng = random.Random(seed)
    documents = _encode(tokenizer, texts, tokenizer.model_max_length)
    total, count = 0.0, 0
    for start in range(0, len(documents), batch_size):
        batch = _pretraining_batch(documents[start:start + batch_size], model_type, tokenizer, rng)
        batch = {key: value.to(model.device) for key, value in batch.items()}
        outputs, labels = family_of(model).forward(model, batch["labels"], input_ids=batch["input_ids"],
                                                   attention_mask=batch["attention_mask"])
        logits = outputs.logits
        total += torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                   ignore_index=-100, reduction="sum").item()
        count += int((labels != -100).sum())
    model.train(was_training)
    return total / count


def _length_bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """One shuffled pass over the documents, as batches of documents of similar length.

    Questions are about half as long as rationales; batching them apart roughly halves the
    padding, and so a third of the compute of a CPU build.
    """
    order = rng.sample(range(len(lengths)), len(lengths))
    window = batch_size * 16
    batches = []
    for start in range(0, len(order), window):
        bucket = sorted(order[start:start + window], key=lengths.__getitem__)
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return batches


def _pretrain(model, tokenizer, documents: list[list[int]], model_type: str, *, steps: int, batch_size: int,
              learning_rate: float, seed: int) -> list[list[float]]:
    """AdamW with warm-up and cosine decay; returns the loss curve [[step, mean loss], ...]."""
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=0.01)
    warmup = max(1, steps // 20)

    def learning_rate_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor)
    log_every = max(1, steps // 20)
    curve, window = [], []
    batches: list[list[int]] = []
    model.train()
    for step in range(steps):
        if not batches:
            batches = _length_bucketed_batches([len(ids) for ids in documents], batch_size, rng)
        batch = _pretraining_batch([documents[i] for i in batches.pop()], model_type, tokenizer, rng)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        window.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == steps:
            curve.append([step + 1, round(sum(window) / len(window), 4)])
            log.info("pretraining %s: step %d/%d, loss %.3f", model_type, step + 1, steps, curve[-1][1])
            window = []
    model.eval()
    return curve
