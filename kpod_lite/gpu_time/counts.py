"""What the hours of `kpod_lite.gpu_time` count: the lengths of the rows a stage pads to, the
FLOPs of a token through each stack, and the kernels a step launches."""

from __future__ import annotations

import math
from dataclasses import dataclass

from kpod_lite.config import KPODConfig
from kpod_lite.memory import ModelShape


# --- lengths ---------------------------------------------------------------------------------------------

# FlanT5 SentencePiece tokens per word (ours). References on the 36 rationales of
# data_samples/formats/mcckd_train.json (`benchmarks/gpu_presets.py --references`): the T5
# stand-in tokenizer gives 2.1, an upper bound, as its ~900 pieces (FlanT5 has 32,100) split
# words FlanT5 keeps whole; counting a plain word and its punctuation as FlanT5 would (one
# piece each) and only numbers and symbols as the stand-in splits them gives 1.43; the English
# rule of thumb is 1.3, a lower bound for text this full of numbers and operators.
TOKENS_PER_WORD = 1.4

# Mean words per rationale of MCC-KD's released GPT-3.5 SVAMP train rationales, over the whole
# file (not recounted offline). docs/REAL_DATA.md's 119-rationale sample points lower (a median of
# 69 / 1.3 = 53 words), so the hours lean long.
SVAMP_RATIONALE_WORDS = 88.7
# docs/REAL_DATA.md, "Lengths": the same 119 rationales' p90 / p50 (168 / 69 tokens); z(0.9) = 1.2816.
RATIONALE_SIGMA = math.log(168 / 69) / 1.2816
PROMPT_TOKENS = round(8 * TOKENS_PER_WORD) + 1  # "Q: ... \nA: Let's think step by step." and </s>


@dataclass(frozen=True)
class DataShape:
    """Mean token counts a run's data has, and how many records: what its arithmetic scales with."""

    train_questions: int
    test_questions: int
    question_tokens: float
    rationale_tokens: float  # mean
    steps_per_rationale: float
    kept_per_question: float = 0.8  # rationales kept per question and sample (§3.1 filtering)
    rationale_sigma: float = RATIONALE_SIGMA  # log-normal spread of rationale lengths


# Splits: Table 4. Questions: 40 and 70 tokens at docs/REAL_DATA.md's words x 1.3, back in words.
# GSM8K's GPT-3.5 rationales are not stored, so a guess: 1.7x SVAMP's words, as GSM8K's questions
# are ~1.7x longer. Steps: SVAMP's 8.3 lines a rationale less the answer line; GSM8K's a guess.
SVAMP = DataShape(train_questions=700, test_questions=150, question_tokens=40 / 1.3 * TOKENS_PER_WORD,
                  rationale_tokens=SVAMP_RATIONALE_WORDS * TOKENS_PER_WORD, steps_per_rationale=6)
GSM8K = DataShape(train_questions=7473, test_questions=659, question_tokens=70 / 1.3 * TOKENS_PER_WORD,
                  rationale_tokens=1.7 * SVAMP_RATIONALE_WORDS * TOKENS_PER_WORD, steps_per_rationale=8)


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def expected_longest(mean: float, rows: int, cap: float = math.inf, sigma: float = RATIONALE_SIGMA) -> float:
    """E[max of `rows` lengths min(X_i, cap)], X_i log-normal with mean `mean` and log-sd `sigma`:
    what a batch padded to its longest row costs per row (rows = 1: the mean, cut at `cap`)."""
    if sigma <= 0 or mean <= 0:
        return min(mean, cap)
    median = mean * math.exp(-sigma ** 2 / 2)
    # The max of n standard normals has density n Φ(z)^(n-1) φ(z); integrate X's value over it.
    grid, lo, hi = 4000, -8.0, 8.0
    dz = (hi - lo) / grid
    total = 0.0
    for i in range(grid + 1):
        z = lo + i * dz
        density = rows * _normal_cdf(z) ** (rows - 1) * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
        total += (0.5 if i in (0, grid) else 1.0) * density * min(median * math.exp(sigma * z), cap)
    return total * dz


# --- FLOPs per token -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenFlops:
    """Forward FLOPs per token, apart (module docstring); weights per token x 2."""

    seq2seq: bool
    source: float  # a seq2seq source token: encoder + cross-attention keys and values; causal: unused
    target: float  # a seq2seq target token: decoder; causal: every token, all layers
    head: float  # the lm_head, per position whose logits are computed
    score: float  # attention scores per (query, key) pair and layer: 4 d_q
    encoder_layers: int
    decoder_layers: int  # causal: the layers
    decoder_weights: int  # weights a generated token reads: decoder (causal: all layers) + lm_head


def token_flops(shape: ModelShape) -> TokenFlops:
    """`TokenFlops` of a student from its `memory.ModelShape` (read off its model config)."""
    h, q, kv = shape.hidden, shape.q_dim, shape.kv_dim
    attention = h * q + 2 * h * kv + q * h  # q, k, v, o
    mlp_names = {"wi", "wi_0", "wi_1", "wo", "gate_proj", "up_proj", "down_proj"}
    mlp_total = sum(n_in * n_out * count for name, (n_in, n_out, count) in shape.modules.items() if name in mlp_names)
    head = h * shape.vocab
    if shape.seq2seq:
        mlp = mlp_total / (shape.layers + shape.decoder_layers)
        encoder = shape.layers * (attention + mlp)
        cross_kv = shape.decoder_layers * 2 * h * shape.kv_dim
        decoder = shape.decoder_layers * (attention + h * q + q * h + mlp)
        return TokenFlops(True, 2 * (encoder + cross_kv), 2 * decoder, 2 * head, 4 * q, shape.layers,
                          shape.decoder_layers, int(decoder + head))
    layers = shape.layers * (attention + mlp_total / shape.layers)
    return TokenFlops(False, 0.0, 2 * layers, 2 * head, 4 * q, 0, shape.layers, int(layers + head))


def forward_flops(flops: TokenFlops, rows: float, source: float, target: float, scored: float | None = None) -> float:
    """FLOPs of one forward over `rows` rows of `source` + `target` tokens each, the lm_head at
    `scored` positions per row (None: every target position; causal: every position)."""
    if flops.seq2seq:
        scored = target if scored is None else scored
        per_row = (source * flops.source + target * flops.target + scored * flops.head
                   + flops.score * (flops.encoder_layers * source * source
                                    + flops.decoder_layers * target * (target + source)))
    else:
        tokens = source + target
        scored = tokens if scored is None else scored
        per_row = tokens * flops.target + scored * flops.head + flops.score * flops.decoder_layers * tokens * tokens
    return rows * per_row


def training_passes(cfg: KPODConfig) -> int:
    """Forwards' worth of FLOPs in a training step (module docstring)."""
    return (2 if cfg.lora else 3) + int(cfg.gradient_checkpointing)


# --- kernel launches -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kernels:
    """Kernels per step, per layer (seq2seq: per encoder + decoder layer pair) and outside the
    layers, of a student as each stage runs it."""

    train: tuple[int, int]  # LoRA (q, v) training step: forward, backward, AdamW; no checkpointing
    train_checkpointed: tuple[int, int]  # the same with the forward recomputed in backward
    inference: tuple[int, int]  # a no-grad forward in eval mode, no adapters (Eq. 8's scorer)
    generate: tuple[int, int]  # one generated token with LoRA adapters on (per decoder layer)


# Counted by `benchmarks/gpu_presets.py --references`: torch.profiler's leaf aten operators (views
# and allocations left out) of the published architectures at small width, at depth 1 and 2 (2 and
# 3 for generation), on the CPU in float32. A GPU launches about one kernel per such operator. The
# CPU's attention with T5's float bias takes SDPA's math path, several operators where CUDA runs one
# kernel (~60 of a FlanT5 layer pair's 745); float32's casts, no-ops here, are kernels in bfloat16.
# So the counts err by some 10% either way. A full fine-tune is counted as LoRA (no GPU preset is one).
KERNELS = {
    True: Kernels(train=(542, 63), train_checkpointed=(745, 164), inference=(111, 81), generate=(72, 72)),
    False: Kernels(train=(170, 17), train_checkpointed=(225, 52), inference=(40, 35), generate=(54, 63)),
}


def step_kernels(shape: ModelShape, kind: str, gradient_checkpointing: bool = False) -> int:
    """Kernels one step of `kind` ("train", "inference", "generate") launches."""
    counts = KERNELS[shape.seq2seq]
    if kind == "train":
        per_layer, outside = counts.train_checkpointed if gradient_checkpointing else counts.train
    else:
        per_layer, outside = getattr(counts, kind)
    if kind == "generate":  # a new token runs the decoder alone
        layers = shape.decoder_layers
    else:
        layers = (shape.layers + shape.decoder_layers) / 2 if shape.seq2seq else shape.layers
    return int(layers * per_layer + outside)
