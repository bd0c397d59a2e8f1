r"""Step difficulty: how hard each reasoning step is for the student before distillation (Eq. 8).

KPOD teaches a rationale from its easy steps to its hard ones (§3.4), so it first needs a
difficulty for every step. A rationale r = r_1 ... r_n is cut into steps at "." (§3.4,
`kpod_lite.data.split_steps`); step k runs from token p_k to token q_k. The difficulty of step
k is the student's own loss of generating the step, teacher-forced, with every token's loss
weighted by its significance w_j from the token weighting module (§3.3, Eq. 3):

    d_k = - Σ_{j=p_k}^{q_k} ŵ_j log P(r_j | r_<j, x; θ^s),                          (Eq. 8)
    ŵ_j = softmax(w_{p_k}, ..., w_{q_k})_j = exp(w_j) / Σ_{i=p_k}^{q_k} exp(w_i).

θ^s is the pre-trained student *before* distillation (the paper scores with LLaMA-7B itself),
x the question. The softmax runs within the step, so the ŵ_j of one step sum to 1 and d_k is
a weighted mean of per-token negative log-likelihoods (NLL): a step is hard when its
important tokens are unlikely, however many filler words surround them.

The pieces, in the order a reader meets them:

* `token_logprobs` gives log P(r_j | r_<j, x; θ^s) for every rationale token, in one
  teacher-forced forward pass per batch. Prompt and rationale are joined into ids exactly as
  distillation joins them (`kpod_lite.templates.encode_student_example`; a seq2seq student
  reads the question in its encoder and the rationale as decoder labels, a causal one reads
  one sequence and only the rationale positions are scored, `kpod_lite.families`). The
  question is given as the student reads it in the §3.1 template,
  "Q: <x>\nA: Let's think step by step." (`kpod_lite.templates.build_prompt`), and the
  rationale tokens are exactly those of the token weight records: the student tokenizer on
  the rationale alone, without special tokens (`kpod_lite.templates.rationale_tokens`).
* `token_steps` says which step each token belongs to: **the step containing the first
  non-space character at or after the token's start**. A token such as " Lastly" that carries
  the space before a step belongs to that step; a token that is whitespace only (a lone
  " " or "\n" between two steps) therefore joins the *following* step, as the whitespace
  before a step is part of writing that step. Whitespace after the last step (none, for a
  stripped rationale) joins the last step. Every token thus belongs to exactly one step, and
  the steps' tokens are consecutive: they are the positions p_k..q_k of Eq. 8.
* `step_difficulties` applies Eq. 8 to one rationale.

Two things the paper leaves implicit, and what this module does about them:

**The weights are sigmoid outputs.** w_j ∈ (0, 1) (Eq. 3), so exp(w_j) ∈ (1, e): within a step
a keypoint token (w ≈ 1) counts at most e ≈ 2.7 times as much as a filler (w ≈ 0). Eq. 8 as
written therefore *damps* fillers but never ignores them. `temperature` τ generalises the
softmax to softmax(w / τ); τ = 1 (the default, `config.difficulty_temperature`) is
Eq. 8 exactly, and a smaller τ moves d_k towards the NLL of the step's highest-weighted tokens
(τ = 0.1 lets a w ≈ 1 token count e^10 times a w ≈ 0 one). This knob is ours.

**The unweighted variant.** The ablation KPOD-w.o.-sig-dif (Table 2, `weighted=False`,
`method="w.o.-sig-dif"`) computes d_k "without using the token significance
weight". Here that is Eq. 8 with every w_j equal: the softmax of a constant is uniform, so
ŵ_j = 1 / |step| and d_k is the **mean token NLL of the step**. Not the plain sum: both
variants then measure difficulty on the same per-token scale and differ only in which tokens
count, which is what the ablation is about; a plain sum would also make long steps hard just
for being long.

>>> from kpod_lite.config import preset
>>> model, tokenizer = load_student(preset("tiny"))                            # doctest: +SKIP
>>> records = difficulty_records(rationales, weights, model, tokenizer, preset("tiny"))  # doctest: +SKIP
>>> records[0]                                                                 # doctest: +SKIP
{'id': 'syn-00000', 'sample': 0, 'steps': ['First, ...', 'Lastly, ...'], 'difficulty': [1.93, 2.41]}
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from kpod_lite.config import KPODConfig
from kpod_lite.consistency import check_known_rationales
from kpod_lite.data import rationale_key, read_jsonl, split_steps, write_jsonl
from kpod_lite.models import load_student, pad_right
from kpod_lite.families import family_of
from kpod_lite.weighting.records import (  # noqa: F401  (check_alignment: API)
    check_alignment,
    check_rationale_records,
    paired_weights,
    record_origin,
)
from kpod_lite.templates import (
    ZERO_SHOT_COT_PROMPT,
    StudentExample,
    build_prompt,
    encode_student_example,
    rationale_tokens,
)

__all__ = [
    "rationale_tokens",
    "token_logprobs",
    "token_steps",
    "step_difficulties",
    "check_alignment",
    "difficulty_records",
    "difficulty_file",
]

# --- log P(r_j | r_<j, x; θ^s), teacher-forced ---------------------------------------------------------


def _score_batch(model, family, examples: list[StudentExample], pad_id: int, device) -> list[torch.Tensor]:
    """log P of each target token given its prompt and the target tokens before it."""
    input_ids, attention = (t.to(device) for t in pad_right([e.input_ids for e in examples], pad_id))
    labels, _ = (t.to(device) for t in pad_right([e.labels for e in examples], -100))
    outputs, labels = family.forward(model, labels, input_ids=input_ids, attention_mask=attention)
    scores = F.log_softmax(outputs.logits.float(), dim=-1).gather(-1, labels.clamp(min=0)[..., None])[..., 0]
    # The target's positions are the labelled ones, in order, in every row of either family.
    return [scores[row][labels[row] != -100].cpu() for row in range(len(examples))]


@torch.no_grad()
def token_logprobs(model, tokenizer, questions: Sequence[str], rationales: Sequence[str],
                   batch_size: int = 8, device: str | torch.device | None = None, *,
                   max_source_length: int | None = None, cot_prompt: str = ZERO_SHOT_COT_PROMPT,
                   progress: bool = False) -> list[torch.Tensor]:
    """log P(r_j | r_<j, x; θ^s) for every token of every rationale (the log term of Eq. 8).

    One float32 CPU tensor per rationale, as long as `rationale_tokens(tokenizer, r)`; an empty
    rationale gets an empty tensor. Prompt and rationale are joined as in distillation
    (`templates.encode_student_example`, without the end-of-sequence token), so Eq. 8 scores
    exactly the tokens Eq. 15 trains; seq2seq or causal is read off the model
    (`kpod_lite.families`). Runs in eval mode without gradients, `batch_size` rationales per
    forward pass, longest first (less padding; the order of the result is the order of the
    input). `device`: where to run, default the model's device (a given device moves the model
    there). `max_source_length` truncates the prompt; the rationale is never truncated, as
    every token needs its log-probability. `progress`: a progress bar with an ETA (tqdm).
    """
    if len(questions) != len(rationales):
        raise ValueError(f"{len(questions)} questions but {len(rationales)} rationales")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if device is not None:
        model.to(device)
    device = next(model.parameters()).device
    family = family_of(model)
    examples = [encode_student_example(tokenizer, family, build_prompt(q, cot_prompt=cot_prompt), r,
                                       max_source_length=max_source_length, end_of_sequence=False)
                for q, r in zip(questions, rationales)]
    limit = getattr(model.config, "max_position_embeddings", None)
    if not family.seq2seq and limit:
        for i, example in enumerate(examples):
            if len(example.input_ids) > limit:
                raise ValueError(f"rationale {i}: prompt ({len(example.prompt_ids)} tokens) + rationale "
                                 f"({len(example.target_ids)}) exceed the student's {limit} positions; "
                                 f"lower max_source_length")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    result: list[torch.Tensor] = [torch.zeros(0) for _ in examples]
    order = sorted((i for i in range(len(examples)) if examples[i].target_ids),
                   key=lambda i: -(len(examples[i].prompt_ids) + len(examples[i].target_ids)))
    was_training = model.training
    model.eval()  # dropout off: the same rationale always gets the same difficulty
    try:
        for start in tqdm(range(0, len(order), batch_size), desc="step difficulty (Eq. 8)", unit="batch",
                          disable=not progress):
            batch = order[start : start + batch_size]
            for i, scores in zip(batch, _score_batch(model, family, [examples[i] for i in batch], pad_id, device)):
                result[i] = scores
    finally:
        model.train(was_training)
    return result


# --- tokens to steps, and Eq. 8 ------------------------------------------------------------------------------


def token_steps(offsets: Sequence[Sequence[int]], rationale: str) -> list[int]:
    """The step (index into `split_steps(rationale)`) of every token, from its character offsets.

    A token belongs to the step containing the first non-space character at or after its
    start; so a whitespace-only token joins the following step, and one after the last step
    joins the last step (module docstring). A rationale without steps raises ValueError.
    """
    steps = split_steps(rationale)
    if not steps:
        raise ValueError("the rationale is empty: it has no steps (§3.4) to score")
    # next_step[p]: the step of the first non-space character at or after position p.
    next_step = [len(steps) - 1] * (len(rationale) + 1)
    owner = {}
    for k, step in enumerate(steps):
        for position in range(step.start, step.end):
            owner[position] = k
    for position in range(len(rationale) - 1, -1, -1):
        next_step[position] = next_step[position + 1] if rationale[position].isspace() else owner[position]
    return [next_step[min(max(int(start), 0), len(rationale))] for start, _ in offsets]


def step_difficulties(logprobs, weights, offsets: Sequence[Sequence[int]], rationale: str,
                      weighted: bool = True, temperature: float = 1.0) -> list[float]:
    """d_k of Eq. 8 for every step of one rationale.

    `logprobs`: log P(r_j | r_<j, x; θ^s) per token (`token_logprobs`); `weights`: w_j per
    token (Eq. 3, in [0, 1]; unused and may be None when `weighted=False`); `offsets`:
    the tokens' character offsets into `rationale`. Weighted: ŵ = softmax(w / τ) within each
    step, τ = `temperature` (1 is Eq. 8 as written). Unweighted (KPOD-w.o.-sig-dif): ŵ_j =
    1 / |step|, the step's mean token NLL. A step that no token starts in has no tokens to
    generate and gets 0.
    """
    logprobs = torch.as_tensor(logprobs, dtype=torch.float64).flatten()
    if len(offsets) != len(logprobs):
        raise ValueError(f"{len(logprobs)} log-probabilities but {len(offsets)} token offsets")
    if not bool(torch.isfinite(logprobs).all()):
        raise ValueError("log-probabilities must be finite")
    if weighted:
        if weights is None:
            raise ValueError("weighted=True needs token weights (Eq. 8); pass weighted=False for the unweighted variant")
        weights = torch.as_tensor(weights, dtype=torch.float64).flatten()
        if len(weights) != len(logprobs):
            raise ValueError(f"{len(weights)} token weights but {len(logprobs)} tokens")
        if not bool(((weights >= 0) & (weights <= 1)).all()):
            raise ValueError("token weights must lie in [0, 1] (Eq. 3 gives sigmoid outputs); got logits?")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
    owner = torch.tensor(token_steps(offsets, rationale), dtype=torch.long)
    difficulties = []
    for k in range(len(split_steps(rationale))):
        in_step = owner == k
        if not bool(in_step.any()):
            difficulties.append(0.0)
            continue
        nll = -logprobs[in_step]
        if weighted:
            w_hat = torch.softmax(weights[in_step] / temperature, dim=0)
        else:
            w_hat = torch.full_like(nll, 1.0 / len(nll))
        difficulties.append(float((w_hat * nll).sum()))
    return difficulties


# --- records: rationales + token weights -> step difficulties ----------------------------------------------


def _difficulty_records(rationales: list[tuple[dict, dict]], weights: list[tuple[dict, dict]], model, tokenizer,
                        config: KPODConfig, progress: bool = False) -> list[dict]:
    """`difficulty_records` on records paired with where they came from (for the errors)."""
    weighted = config.switches.weighted_difficulty
    temperature = config.difficulty_temperature
    check_rationale_records(rationales)
    paired = paired_weights(rationales, weights, tokenizer)
    check_known_rationales(weights, rationales, "token weight", "kpod-lite weigh on these rationales")
    jobs = [(record, paired[rationale_key(record)]) for _, record in rationales]
    logprobs = token_logprobs(model, tokenizer, [r["question"] for r, _ in jobs], [r["rationale"] for r, _ in jobs],
                              config.batch_size, max_source_length=config.max_source_length,
                              cot_prompt=config.cot_prompt, progress=progress)
    out = []
    for (record, weight_record), scores in zip(jobs, logprobs):
        rationale = record["rationale"]
        _, offsets = rationale_tokens(tokenizer, rationale)
        d = step_difficulties(scores, weight_record["weights"] if weighted else None, offsets, rationale,
                              weighted=weighted, temperature=temperature)
        out.append({"id": record["id"], "sample": int(record.get("sample", 0)),
                    "steps": [step.text for step in split_steps(rationale)], "difficulty": [round(x, 6) for x in d]})
    return out


def difficulty_records(rationale_records: Iterable[dict], weight_records: Iterable[dict], model, tokenizer,
                       config: KPODConfig) -> list[dict]:
    """Step difficulty records `{"id", "sample", "steps", "difficulty"}`, one per rationale (Eq. 8).

    Rationale records `{"id", "question", "rationale", "sample"?, ...}` are matched to token
    weight records `{"id", "sample"?, "tokens", "offsets"?, "weights"}` by (id, sample); `steps`
    are the §3.4 step texts, `difficulty` their d_k. The student (`model`, `tokenizer`) is the
    pre-trained one. A `config.method` whose difficulty is unweighted (w.o.-sig-dif,
    `kpod_lite.methods`) gives the mean NLL per step; `config.difficulty_temperature` is τ (default
    1, Eq. 8 as written). A missing weight record, tokens that do not match the rationale's, an
    empty rationale or a duplicate weight record raise `DataFormatError` naming the record.
    """
    rationale_records, weight_records = list(rationale_records), list(weight_records)
    rationales = [(record_origin("<rationale records>", None, i, r), r) for i, r in enumerate(rationale_records)]
    weights = [(record_origin("<weight records>", None, i, r), r) for i, r in enumerate(weight_records)]
    return _difficulty_records(rationales, weights, model, tokenizer, config)


def difficulty_file(rationales_path, weights_path, out_path, config: KPODConfig, *, model=None, tokenizer=None,
                    progress: bool = False) -> dict:
    """Read rationale and token weight files, write step difficulties; the `kpod-lite difficulty` step.

    The student is `load_student(config)` unless `model` and `tokenizer` are given. Errors name
    the file and line of the offending record. Returns a summary: rationales and steps scored,
    mean and maximum d_k, whether weighted, τ, the student and device, seconds, the output path.
    """
    started = time.perf_counter()
    rationales = [(record_origin(str(rationales_path), line, i, r), r) for i, (line, r) in enumerate(read_jsonl(rationales_path))]
    weights = [(record_origin(str(weights_path), line, i, r), r) for i, (line, r) in enumerate(read_jsonl(weights_path))]
    if model is None or tokenizer is None:
        model, tokenizer = load_student(config)
    records = _difficulty_records(rationales, weights, model, tokenizer, config, progress)
    write_jsonl(out_path, records)
    all_d = [d for record in records for d in record["difficulty"]]
    return {
        "rationales": len(records),
        "steps": len(all_d),
        "mean_difficulty": round(sum(all_d) / len(all_d), 4) if all_d else None,
        "max_difficulty": round(max(all_d), 4) if all_d else None,
        "weighted": config.switches.weighted_difficulty,
        "temperature": config.difficulty_temperature,
        "student": config.student,
        "device": str(next(model.parameters()).device),
        "seconds": round(time.perf_counter() - started, 1),
        "out": str(Path(out_path)),
    }
