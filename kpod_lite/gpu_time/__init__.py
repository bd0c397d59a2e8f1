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
from kpod_lite.gpu_time.counts import (  # re-exported: kpod_lite.gpu_time.X as before the split
    DataShape,
    expected_longest,
    forward_flops,
    GSM8K,
    KERNELS,
    Kernels,
    PROMPT_TOKENS,
    RATIONALE_SIGMA,
    step_kernels,
    SVAMP,
    SVAMP_RATIONALE_WORDS,
    token_flops,
    TokenFlops,
    TOKENS_PER_WORD,
    training_passes,
)
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


# Before a run: what it needs and what it costs, per GPU (imported last: it reads the names above).
from kpod_lite.gpu_time.plan import check_ready, needs, run_plan  # noqa: E402
