"""Hours a run takes on a GPU, estimated from its arithmetic before it starts, as a range.

Each stage that puts the student on the GPU is a number of steps, and a step takes the longer
of two times, since the host launches kernels while the GPU runs the ones before:

    arithmetic  the step's FLOPs / (the GPU's dense peak x MFU)
    launches    the kernels the step launches x the host's time per kernel

so a large model at a large batch is bound by arithmetic and a small one at batch 4 by launches
(`step_seconds`). A generated token takes the longest of its FLOPs, its launches and its
weight reads (bytes / memory bandwidth).

FLOPs per token (`TokenFlops`), read off the student's model config (`memory.model_shape`): a
token costs 2 FLOPs per weight it meets, forward (Kaplan et al., 2020, §2.1), and the attention
scores 4 d_q per key and layer (QK^T and AV, the whole matrix: T5's position bias and masked
SDPA compute it all; at 512 keys about 8% of a FlanT5-Large encoder token):

    seq2seq  a source token meets the encoder (L_e x (attention + MLP)) and the keys and values
             of the decoder's cross-attention (L_d x 2 h d_kv); a target token meets the decoder
             (L_d x (self-attention + cross-attention queries and output + MLP)) and the lm_head
    causal   every token of source + target meets the L layers and the lm_head

The embedding lookup and the norms are no matmuls and are left out. A training step costs 3
forwards (the backward takes two products per weight, the activations' gradient and the weight's),
2 with LoRA (frozen weights get no gradient), and 1 more when gradient checkpointing recomputes
the forward.

Stages, for KPOD and plain CoT (`methods` = 2), one seed each:

    weigh       §3.3, Eq. 5-7, KPOD only: `weighting_predictor_warmup_steps` steps of
                `weighting_batch_size` unmasked rationales, one row each, then per epoch and batch
                one row per prefix k of each rationale (prefix_mode "steps": each step end;
                "all": each token). Every row [x, r[m]_<k, trigger] of a step is padded to the
                step's longest, question + whole rationale of its longest rationale
                (`weighting.losses.answer_prediction_loss`, `pad_sequence`); the answer follows.
    difficulty  Eq. 8: one no-grad forward per rationale; batches are sorted by length, so no
                padding is counted.
    distill     Eq. 15, per method: epochs x batches of question + prompt in, rationale + answer
                sentence out, both padded to the batch's longest (`distill.pad_batch`). KPOD's
                stages before T move rationale steps into the input (Eq. 14); they are counted as
                target tokens, which a seq2seq student's decoder makes dearer: an upper bound.
    evaluate    §4, greedy generation `methods` + 1 times (before, after each method): a batch
                runs until its longest row ends or `max_new_tokens`, so it costs the longest
                row's tokens, not the mean; each step reads the weights that make a token
                (seq2seq: the decoder and lm_head) once. The prompt's one forward is left out.
    fixed       installing, downloading the checkpoint once, loading it in every stage
                (`INSTALL_SECONDS`, `DOWNLOAD_BYTES_PER_SECOND`, `LOAD_BYTES_PER_SECOND`).

Lengths come from `DataShape`: a rationale's length is log-normal with σ fitted to the measured
quantiles (`RATIONALE_SIGMA`), cut where the config cuts it, and a batch of n rows costs the
expected longest of n (`expected_longest`); questions stay at their mean (they vary little).
Not counted: the teacher's API calls, the CPU stages (questions, schedule) and the Trainer's
own Python between steps.

Assumptions, which the range spans (`LOW`, `CENTRAL`, `HIGH`; ours, no session has had a GPU to
measure them): MFU 40% / 25% / 15%, and 5 / 10 / 20 µs of host time per kernel; memory
bandwidth is taken at its peak. What binds each stage is returned with it (`estimate_hours`).
Every figure this module gives is an estimate, and the README labels it so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kpod_lite.config import KPODConfig
from kpod_lite.memory import ANSWER_TOKENS, TRIGGER_TOKENS, ModelShape, model_shape
from kpod_lite.weighting.sizes import weighting_batch_size, weighting_max_tokens


@dataclass(frozen=True)
class Assumptions:
    """What the range spans: model FLOPs utilisation and host seconds per kernel launch."""

    mfu: float
    kernel_seconds: float


# MFU: Hugging Face training at small batches on one GPU reaches a few tens of percent of the dense
# peak; 15%-40% spans it. Kernel time: `benchmarks/gpu_presets.py --references` times a tiny-width
# LoRA step (arithmetic negligible) at 10-15 µs per operator on this project's 2-core CPU when
# least busy (the fastest of 20 steps; over 20 µs while other work shared it), with no CUDA
# launch in it: a host like this one, launch added, is the slow end (20 µs); a GPU server's
# faster host may take a quarter of that, launch included (5 µs).
LOW = Assumptions(mfu=0.40, kernel_seconds=5e-6)  # ours: the fast end
CENTRAL = Assumptions(mfu=0.25, kernel_seconds=10e-6)  # ours: the one figure `"total"` gives
HIGH = Assumptions(mfu=0.15, kernel_seconds=20e-6)  # ours: the slow end

INSTALL_SECONDS = 180  # ours: pip installing the requirements where torch is already there (Colab)
DOWNLOAD_BYTES_PER_SECOND = 50e6  # ours: the model hub to a cloud VM, a cautious 50 MB/s
LOAD_BYTES_PER_SECOND = 300e6  # ours: a checkpoint from the local cache onto the GPU, once per stage
# The released checkpoints' storage: FlanT5's are float32 (783M x 4 = 3.1 GB for Large), LLaMA-7B's float16.
CHECKPOINT_BYTES_PER_PARAMETER = {"t5": 4, "llama": 2}


@dataclass(frozen=True)
class GPU:
    """Published dense peak throughput (bfloat16 where the GPU has it natively, and float32)
    and memory bandwidth."""

    name: str
    bf16_tflops: float | None  # None: no native bfloat16, the run is float32 (`models.student_dtype`)
    fp32_tflops: float
    bandwidth_gb_s: float
    memory_mib: int  # total memory as nvidia-smi reports it

    def peak_tflops(self, cfg: KPODConfig) -> float:
        return self.bf16_tflops if cfg.bf16 and self.bf16_tflops else self.fp32_tflops

    def bytes_per_parameter(self, cfg: KPODConfig) -> int:
        return 2 if cfg.bf16 and self.bf16_tflops else 4


# Vendor data sheets, dense (no sparsity), in TFLOPS and GB/s; memory as nvidia-smi reports it.
GPUS = {
    "T4": GPU("T4 16 GB", None, 8.1, 320, 15360),
    "L4": GPU("L4 24 GB", 121, 30.3, 300, 23034),
    "RTX3090": GPU("RTX 3090 24 GB", 71, 35.6, 936, 24576),
    "A100": GPU("A100 40 GB", 312, 19.5, 1555, 40960),
    "H200": GPU("H200 141 GB", 989, 67, 4800, 143771),
}


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


# --- stages ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Work:
    """A stage as steps of equal cost: FLOPs and kernels per step, and bytes read per step."""

    steps: float
    flops: float  # per step
    kernels: int  # per step
    bytes: float = 0.0  # per step, read from GPU memory (generation's weights)


def _rationales(cfg: KPODConfig, data: DataShape) -> float:
    questions = data.train_questions if cfg.train_size is None else min(cfg.train_size, data.train_questions)
    return questions * cfg.teacher_samples * data.kept_per_question


def stage_work(cfg: KPODConfig, shape: ModelShape, data: DataShape, gpu: GPU,
               methods: int = 2) -> dict[str, tuple[Work, ...]]:
    """The steps of each GPU stage for `methods` students (module docstring)."""
    flops = token_flops(shape)
    rationales = _rationales(cfg, data)
    question = min(data.question_tokens + PROMPT_TOKENS, cfg.max_source_length)
    sentence = TRIGGER_TOKENS + ANSWER_TOKENS  # "Therefore, the answer is <y>." closes every target
    train_kernels = step_kernels(shape, "train", cfg.gradient_checkpointing)
    passes = training_passes(cfg)

    def longest(rows: int, cap: float, extra: float = 0.0) -> float:
        """A batch of `rows` rationales, each followed by `extra` tokens, padded to its longest, cut at `cap`."""
        return expected_longest(data.rationale_tokens, rows, cap - extra, data.rationale_sigma) + extra

    # distill (Eq. 15)
    batch = cfg.batch_size
    target = longest(batch, cfg.max_target_length, sentence)
    distill = Work(methods * cfg.epochs * math.ceil(rationales / batch),
                   passes * forward_flops(flops, batch, question, target), train_kernels)

    # weigh (Eq. 5-7): rows [x, r[m]_<k, trigger] padded to the step's longest, the answer after them
    wb, window = weighting_batch_size(cfg), weighting_max_tokens(cfg)
    row = question + longest(wb, window) + TRIGGER_TOKENS
    # A LoRA predictor scores the answer positions alone (`answers_only`); a whole one every position.
    scored = ANSWER_TOKENS if cfg.lora else None

    def rows_flops(rows: float) -> float:
        if flops.seq2seq:
            return passes * forward_flops(flops, rows, row, ANSWER_TOKENS, scored)
        return passes * forward_flops(flops, rows, row + ANSWER_TOKENS, 0, scored)

    prefixes = {"steps": data.steps_per_rationale, "all": min(data.rationale_tokens, window), "sampled": 0}
    per_rationale = prefixes[cfg.prefix_mode] + cfg.weighting_sampled_prefixes
    warmup = Work(cfg.weighting_predictor_warmup_steps, rows_flops(wb), train_kernels)
    epochs = Work(cfg.weighting_epochs * math.ceil(rationales / wb), rows_flops(wb * per_rationale), train_kernels)

    # difficulty (Eq. 8): batches sorted by length, so rows at the mean length
    difficulty = Work(math.ceil(rationales / batch),
                      forward_flops(flops, batch, question, longest(1, cfg.max_target_length, sentence)),
                      step_kernels(shape, "inference"))

    # evaluate (§4): each batch generates until its longest row ends
    tests = data.test_questions if cfg.test_size is None else min(cfg.test_size, data.test_questions)
    rows = cfg.generation_batch_size
    generated = longest(rows, cfg.max_new_tokens, sentence)
    # Per new token: one position through the decoder, attending to the prompt and what came before.
    keys = question + generated / 2
    per_token = rows * (flops.target + flops.head + flops.score * flops.decoder_layers * keys)
    evaluate = Work((methods + 1) * math.ceil(tests / rows) * generated, per_token, step_kernels(shape, "generate"),
                    flops.decoder_weights * gpu.bytes_per_parameter(cfg))
    return {"weigh": (warmup, epochs), "difficulty": (difficulty,), "distill": (distill,), "evaluate": (evaluate,)}


def step_seconds(work: Work, gpu: GPU, cfg: KPODConfig, assume: Assumptions) -> tuple[float, str]:
    """(seconds per step, what binds it): the longest of arithmetic, launches and weight reads."""
    times = {"MFU": work.flops / (gpu.peak_tflops(cfg) * 1e12 * assume.mfu),
             "launches": work.kernels * assume.kernel_seconds,
             "bandwidth": work.bytes / (gpu.bandwidth_gb_s * 1e9)}
    bound = max(times, key=times.get)
    return times[bound], bound


def fixed_seconds(parameters: int, model_type: str, methods: int = 2) -> float:
    """Install, one download, and a load per stage: weigh, difficulty, each distillation, each evaluation."""
    checkpoint = parameters * CHECKPOINT_BYTES_PER_PARAMETER.get(model_type, 4)
    loads = 2 + methods + (methods + 1)
    return INSTALL_SECONDS + checkpoint / DOWNLOAD_BYTES_PER_SECOND + loads * checkpoint / LOAD_BYTES_PER_SECOND


def estimate_hours(cfg: KPODConfig, parameters: int, data: DataShape, gpu: GPU, methods: int = 2,
                   model_config=None) -> dict:
    """Estimated hours on `gpu` for KPOD and plain CoT (`methods` = 2): per stage and `"total"` at
    `CENTRAL`, `"low"` / `"high"` in all at `LOW` / `HIGH`, `"ranges"` per stage (low, high),
    `"bound"` per stage (what binds it at `CENTRAL`: "MFU", "launches" or "bandwidth") and
    `"dominant"`, the one that binds most of the central hours.

    `model_config`: the student's config, whose parameters split into encoder, decoder and lm_head
    (default: the published architecture of `cfg.student`, else its config.json via
    `memory.load_model_config`). `parameters` sizes the checkpoint to download and load.
    """
    if model_config is None:
        from kpod_lite.memory import load_model_config
        from kpod_lite.models.published import PUBLISHED, published_config

        model_config = (published_config(cfg.student) if cfg.student in PUBLISHED
                        else load_model_config(cfg.student, cfg.trust_remote_code))
    shape = model_shape(model_config)
    stages = stage_work(cfg, shape, data, gpu, methods)
    fixed = fixed_seconds(parameters, model_config.model_type, methods) / 3600

    def hours(stage: str, assume: Assumptions) -> tuple[float, dict[str, float]]:
        by_bound: dict[str, float] = {}
        for work in stages[stage]:
            seconds, bound = step_seconds(work, gpu, cfg, assume)
            by_bound[bound] = by_bound.get(bound, 0.0) + work.steps * seconds / 3600
        return sum(by_bound.values()), by_bound

    out, ranges, bounds, binding = {}, {}, {}, {}
    for stage in stages:
        out[stage], by_bound = hours(stage, CENTRAL)
        bounds[stage] = max(by_bound, key=by_bound.get) if by_bound else "MFU"
        for bound, h in by_bound.items():
            binding[bound] = binding.get(bound, 0.0) + h
        ranges[stage] = (hours(stage, LOW)[0], hours(stage, HIGH)[0])
    out["fixed"] = fixed
    ranges["fixed"] = (fixed, fixed)
    return {**out, "total": sum(out.values()), "low": sum(low for low, _ in ranges.values()),
            "high": sum(high for _, high in ranges.values()), "ranges": ranges, "bound": bounds,
            "dominant": max(binding, key=binding.get)}
