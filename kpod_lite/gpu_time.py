"""Hours a run takes on a GPU, estimated from its arithmetic before it starts (issue 13).

A transformer's forward pass costs about 2 FLOPs per parameter per token (Kaplan et al., 2020,
§2.1), so every stage is a count of tokens through the student times 2P:

    distill     epochs x training rationales x (prompt + target) tokens, x 2 (forward and the
                backward to the activations; LoRA's frozen weights get no gradient) + 1 more
                forward under gradient checkpointing; a full fine-tune's backward costs 2.
    weigh       Eq. 5's rows: the warm-up's unmasked rationales, then per epoch and rationale
                one row per step boundary (prefix_mode "steps"; "all": one per token), each the
                question + half a rationale on average, trained like distill.
    difficulty  one forward per rationale (Eq. 8).
    evaluate    generation is bound by memory bandwidth, not arithmetic: each new token reads
                the weights once per batch, so batches x generated tokens x weight bytes /
                bandwidth, plus a fixed per-step overhead of `generate` (ours: 20 ms).

A seq2seq student sends the prompt through its encoder and the target through its decoder,
each about half of P; the estimate counts both halves as P / 2.

Time = FLOPs / (peak x `MFU`). `MFU` (model FLOPs utilisation) is an assumption, not a
measurement: 0.3 is typical of Hugging Face training at small batches on one GPU; no session has
had a GPU to measure it for these presets. Token counts come from the data's mean lengths
(`DataShape`, measured on real records in docs/REAL_DATA.md), padded by `PADDING` (batches pad
to their longest member). Every figure this gives is an estimate and is labelled so.
"""

from __future__ import annotations

from dataclasses import dataclass

from kpod_lite.config import KPODConfig
from kpod_lite.weighting.sizes import weighting_batch_size

MFU = 0.3  # ours, assumed (module docstring)
PADDING = 1.3  # ours: a batch padded to its longest member holds ~30% padding at these lengths
GENERATE_STEP_OVERHEAD_S = 0.02  # ours: Python and kernel launches per generated token and batch


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


@dataclass(frozen=True)
class DataShape:
    """Mean token counts a run's data has, and how many records: what its arithmetic scales with."""

    train_questions: int
    test_questions: int
    question_tokens: float
    rationale_tokens: float
    steps_per_rationale: float
    kept_per_question: float = 0.8  # rationales kept per question and sample (§3.1 filtering)


# Means from docs/REAL_DATA.md, "Lengths" (words x 1.3): SVAMP's released GPT-3.5 rationales
# average 67.5 words (88 tokens) and 8.3 lines; GSM8K's GPT-3.5 ones are not stored, so a guess:
# 1.7x SVAMP's, as GSM8K's questions are ~1.7x longer. Splits: Table 4.
SVAMP = DataShape(train_questions=700, test_questions=150, question_tokens=40, rationale_tokens=88,
                  steps_per_rationale=6)
GSM8K = DataShape(train_questions=7473, test_questions=659, question_tokens=70, rationale_tokens=150,
                  steps_per_rationale=8)

TEMPLATE_TOKENS = 15  # "Q: ... A: Let's think step by step." and "Therefore, the answer is y."


def stage_flops(cfg: KPODConfig, parameters: int, data: DataShape, methods: int = 2) -> dict[str, float]:
    """FLOPs of the arithmetic-bound stages for `methods` students (module docstring)."""
    questions = data.train_questions if cfg.train_size is None else min(cfg.train_size, data.train_questions)
    rationales = questions * cfg.teacher_samples * data.kept_per_question
    example = PADDING * (data.question_tokens + TEMPLATE_TOKENS + min(data.rationale_tokens, cfg.max_target_length))
    passes = (2 if cfg.lora else 3) + int(cfg.gradient_checkpointing)
    forward = 2 * parameters
    distill = methods * cfg.epochs * rationales * example * forward * passes
    rows = {"steps": data.steps_per_rationale, "all": data.rationale_tokens, "sampled": 0}[cfg.prefix_mode]
    row = PADDING * (data.question_tokens + data.rationale_tokens / 2 + TEMPLATE_TOKENS)
    weigh_rows = cfg.weighting_epochs * rationales * (rows + cfg.weighting_sampled_prefixes)
    warmup_rows = cfg.weighting_predictor_warmup_steps * weighting_batch_size(cfg)
    weigh = (weigh_rows * row + warmup_rows * example) * forward * passes
    return {"weigh": weigh, "difficulty": rationales * example * forward, "distill": distill}


def evaluate_seconds(cfg: KPODConfig, parameters: int, data: DataShape, gpu: GPU, evaluations: int = 3) -> float:
    """Greedy generation over the test set, `evaluations` times (before, and each method)."""
    questions = data.test_questions if cfg.test_size is None else min(cfg.test_size, data.test_questions)
    batches = -(-questions // cfg.generation_batch_size)
    generated = min(cfg.max_new_tokens, PADDING * data.rationale_tokens + TEMPLATE_TOKENS)
    weight_bytes = parameters * gpu.bytes_per_parameter(cfg)
    per_step = weight_bytes / (gpu.bandwidth_gb_s * 1e9) + GENERATE_STEP_OVERHEAD_S
    return evaluations * batches * generated * per_step


def estimate_hours(cfg: KPODConfig, parameters: int, data: DataShape, gpu: GPU, methods: int = 2) -> dict:
    """Estimated hours per stage and in all on `gpu`, for KPOD and plain CoT (`methods` = 2)."""
    peak = gpu.peak_tflops(cfg)
    seconds = {stage: flops / (peak * 1e12 * MFU) for stage, flops in stage_flops(cfg, parameters, data, methods).items()}
    seconds["evaluate"] = evaluate_seconds(cfg, parameters, data, gpu, evaluations=methods + 1)
    hours = {stage: s / 3600 for stage, s in seconds.items()}
    return {**hours, "total": sum(hours.values())}
