"""One dataclass holding every KPOD knob, with the paper's defaults (App. A), and the presets.

Every field says where its default comes from: "App. A" for the paper's implementation
details, an equation number for a quantity the paper defines, "ours" for a choice the paper
leaves open (each of those is explained where it is used).

>>> cfg = preset("tiny")
>>> cfg.alpha, cfg.beta, cfg.p, cfg.n_clusters
(0.5, 12.0, 0.5, 5)
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field

PRESET_ENV = "KPOD_PRESET"


class ConfigError(ValueError):
    """A preset name or a hyper-parameter value that KPOD cannot run with."""


@dataclass(frozen=True)
class KPODConfig:
    # --- identity -----------------------------------------------------------------------
    name: str = "custom"  # ours: the preset name, also the default run folder
    seed: int = 0  # ours: every random choice (data, masks, init) derives from it

    # --- data and teacher (§3.1) ----------------------------------------------------------
    dataset: str = "synthetic"  # §4.1: gsm8k, asdiv, svamp, csqa; synthetic is ours
    data_format: str = "kpod"  # loader name in kpod_lite.data.load_examples
    train_file: str | None = None  # None: the shipped synthetic train split (tiny preset)
    test_file: str | None = None  # None: the shipped synthetic test split (tiny preset)
    teacher: str = "template"  # §4.1 uses GPT-3.5-Turbo; template is the offline default
    teacher_model: str | None = None  # OpenAI model name or local HF path for the teacher
    cot_prompt: str = "Let's think step by step."  # §3.1, zero-shot CoT (Kojima et al., 2022)
    teacher_samples: int = 1  # ours: rationales per question (>1 for diverse reasoning)
    teacher_temperature: float = 0.0  # ours: 0 is greedy; >0 needed for several samples
    filter_correct: bool = True  # §3.1 / Ho et al. 2023: keep rationales with the right answer

    # --- student (App. A) -----------------------------------------------------------------
    student: str = "tiny-t5"  # App. A: google/flan-t5-large, flan-t5-xl, LLaMA-7B
    student_family: str = "t5"  # "t5" (seq2seq) or "llama" (causal)
    trust_remote_code: bool = False  # house rule: off unless the user asks
    max_source_length: int = 256  # ours: question + c_i(t) input steps
    max_target_length: int = 256  # ours: remaining steps + "Therefore, the answer is y"

    # --- rationale token weighting (§3.3, Eq. 2-7) -----------------------------------------
    alpha: float = 0.5  # App. A: weight of the mask-ratio loss L_m in L_k = L_p + alpha L_m (Eq. 7)
    gumbel_temperature: float = 0.5  # ours: temperature of the binary Concrete sample (Eq. 4)
    weighting_epochs: int = 10  # ours: the paper does not state it
    weighting_lr: float = 1e-4  # ours
    prefix_mode: str = "steps"  # ours: "all" prefixes (Eq. 5 exactly) or "steps" boundaries

    # --- step difficulty (Eq. 8) -------------------------------------------------------------
    weighted_difficulty: bool = True  # Eq. 8; False is the paper's KPOD-w.o.-sig-dif ablation
    difficulty_temperature: float = 1.0  # ours: softmax(w / tau) in Eq. 8; 1 is the paper's softmax(w)

    # --- progressive schedule (Eq. 9-13) -----------------------------------------------------
    epochs: int = 100  # App. A: 100 for FlanT5, 20 (GSM8K, CSQA) or 40 (ASDiv, SVAMP) for LLaMA
    T: int | None = None  # App. A: stage of maximum difficulty = half the epochs (None: derive)
    p: float = 0.5  # App. A: exponent of the growth rate dD/dt = u t^p (Eq. 10)
    c0_fraction: float = 0.3  # App. A: C_0 = 30% of the maximum difficulty B (Eq. 10)
    delta_s: int = 1  # Eq. 11: input steps removed from a selected question per stage (ours: 1)
    beta: float = 12.0  # App. A: weight of the diversity term (Eq. 12)
    n_clusters: int = 5  # App. A: K-means clusters of questions (Eq. 12)
    ftgp_eps: float = 0.1  # Prop. 3.1: FTGP's epsilon, (1/2 - eps) guarantee
    progressive: bool = True  # False is KPOD-w.o.-prog
    diversity: bool = True  # False is KPOD-w.o.-div (beta = 0)
    token_weights: bool = True  # Eq. 15; False is KPOD-w.o.-sig
    # A student too small to write fluently needs a floor (docs/RESULTS.md, "Calibration"):
    token_weight_floor: float = 0.0  # ours: Eq. 15 trains token j on λ + (1 - λ) w_j; 0 is the paper's w_j

    # --- distillation (App. A) ---------------------------------------------------------------
    learning_rate: float = 5e-5  # App. A: 5e-5 for FlanT5, 1e-5 for LLaMA-7B (Adam)
    batch_size: int = 4  # App. A
    lora: bool = True  # App. A: LoRA for every student
    lora_rank: int = 128  # App. A: 128 for FlanT5, 64 for LLaMA-7B
    lora_alpha: int = 256  # ours: 2 x rank, the common peft choice
    lora_dropout: float = 0.05  # ours
    bf16: bool = False  # ours: on for GPUs that support it
    gradient_checkpointing: bool = False  # ours: trade compute for memory on small GPUs

    # --- evaluation (§4) ---------------------------------------------------------------------
    max_new_tokens: int = 256  # ours: long enough for a GSM8K rationale

    # Extra, free-form settings for a preset (e.g. tiny model sizes); never a hyper-parameter
    # that the paper names.
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        problems = []
        if not self.p > 0:
            problems.append(f"p must be > 0 (Eq. 10 needs a growing D(t)), got {self.p}")
        if self.epochs < 1:
            problems.append(f"epochs must be >= 1, got {self.epochs}")
        if self.T is not None and self.T < 1:
            problems.append(f"T must be >= 1 (D(T) = B in Eq. 10), got {self.T}")
        if self.T is not None and self.T > self.epochs:
            problems.append(f"T must be <= epochs ({self.epochs}), got {self.T}")
        if not 0.0 <= self.c0_fraction <= 1.0:
            problems.append(f"c0_fraction (C_0 as a fraction of B) must lie in [0, 1], got {self.c0_fraction}")
        if self.alpha < 0:
            problems.append(f"alpha must be >= 0 (Eq. 7), got {self.alpha}")
        if self.beta < 0:
            problems.append(f"beta must be >= 0 (Eq. 12), got {self.beta}")
        if not self.gumbel_temperature > 0:
            problems.append(f"gumbel_temperature must be > 0 (Eq. 4), got {self.gumbel_temperature}")
        if not self.difficulty_temperature > 0:
            problems.append(f"difficulty_temperature must be > 0 (Eq. 8), got {self.difficulty_temperature}")
        if self.teacher_temperature < 0:
            problems.append(f"teacher_temperature must be >= 0, got {self.teacher_temperature}")
        if self.teacher_samples < 1:
            problems.append(f"teacher_samples must be >= 1, got {self.teacher_samples}")
        if self.delta_s < 1:
            problems.append(f"delta_s must be >= 1 (Eq. 11), got {self.delta_s}")
        if self.n_clusters < 1:
            problems.append(f"n_clusters must be >= 1, got {self.n_clusters}")
        if not 0 < self.ftgp_eps < 0.5:
            problems.append(f"ftgp_eps must lie in (0, 0.5) for a (1/2 - eps) guarantee, got {self.ftgp_eps}")
        if self.prefix_mode not in ("all", "steps"):
            problems.append(f"prefix_mode must be 'all' or 'steps', got {self.prefix_mode!r}")
        if self.student_family not in ("t5", "llama"):
            problems.append(f"student_family must be 't5' or 'llama', got {self.student_family!r}")
        for name in ("learning_rate", "weighting_lr"):
            if not getattr(self, name) > 0 or not math.isfinite(getattr(self, name)):
                problems.append(f"{name} must be a positive number, got {getattr(self, name)}")
        if not 0.0 <= self.token_weight_floor < 1.0:
            problems.append(f"token_weight_floor must lie in [0, 1), got {self.token_weight_floor}")
        if self.batch_size < 1:
            problems.append(f"batch_size must be >= 1, got {self.batch_size}")
        if problems:
            raise ConfigError(f"invalid KPODConfig '{self.name}': " + "; ".join(problems))

    @property
    def stage_T(self) -> int:
        """The stage of maximum difficulty: T if set, else half the epochs (App. A), at least 1."""
        return self.T if self.T is not None else max(1, self.epochs // 2)

    def replace(self, **changes) -> "KPODConfig":
        """A copy with some fields changed, validated again."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


PRESETS: dict[str, KPODConfig] = {
    # CPU, offline, minutes: synthetic problems, template teacher, locally built tiny models.
    "tiny": KPODConfig(
        name="tiny",
        # ours: the tiny LLaMA (causal, like the paper's LLaMA-7B rows) learns to read the
        # question within a CPU budget; the tiny T5 does not (docs/RESULTS.md, "Calibration").
        student="tiny-llama",
        student_family="llama",
        epochs=8,  # T = 4: four stages of shrinking input steps, then four of whole rationales
        lora=False,  # ours: the tiny model is small enough to fine-tune fully
        learning_rate=2e-3,
        batch_size=8,
        # ours: with the paper's plain w_j the tiny student gets 6% (plain CoT: 28%), since the
        # learned weights leave connecting words near 0 and it never learns to write sentences.
        token_weight_floor=0.2,
        max_source_length=160,
        max_target_length=160,
        max_new_tokens=128,
        weighting_epochs=4,
        weighting_lr=1e-3,
        extra={
            # ours: an easier synthetic task than the shipped splits (2-3 steps of + and - on
            # numbers up to 9, no distractors), so the tiny student ends between 20% and 80%.
            "synthetic": {"min_steps": 2, "max_steps": 3, "ops": ["+", "-"], "max_operand": 9,
                          "distractor_rate": 0.0},
            "train_size": 800, "test_size": 100,
            # Out-of-distribution test sets in the spirit of Table 3: the same stories with
            # irrelevant numbers (as SVAMP varies GSM8K-style questions), and longer chains.
            "ood": {"distractors": {"synthetic": {"distractor_rate": 1.0}, "size": 100},
                    "four-steps": {"synthetic": {"min_steps": 4, "max_steps": 4}, "size": 100}},
            # The tiny T5 cannot learn to read answers off rationales on a CPU budget; the tiny
            # LLaMA can, so it predicts the answer in Eq. 5 (docs/WEIGHTING.md).
            "weighting_predictor": "tiny-llama",
            "weighting_batch_size": 16,
            # Greedy generation of a tiny model is bound by per-step overhead, not arithmetic:
            # 64 prompts a batch generate 1.8x faster than 16, with the same text (BENCHMARKS.md).
            "eval_batch_size": 64,
        },
    ),
}

# The GPU presets share the paper's setting for GSM8K with a GPT-3.5-class teacher (§4.1).
_GSM8K = KPODConfig(name="gsm8k", dataset="gsm8k", data_format="gsm8k", teacher="openai", bf16=True)

# App. A, FlanT5 rows: LoRA r = 128, lr 5e-5, batch 4, 100 epochs (the KPODConfig defaults).
PRESETS["flan-t5-large"] = _GSM8K.replace(name="flan-t5-large", student="google/flan-t5-large")
PRESETS["flan-t5-xl"] = _GSM8K.replace(name="flan-t5-xl", student="google/flan-t5-xl",
                                       gradient_checkpointing=True)
# App. A, LLaMA-7B rows: LoRA r = 64, lr 1e-5, batch 4, 20 epochs on GSM8K. The user names the
# checkpoint (LLaMA weights are gated): set `student` to a local folder or a hub id.
PRESETS["llama-7b"] = _GSM8K.replace(
    name="llama-7b", student="huggyllama/llama-7b", student_family="llama", epochs=20,
    lora_rank=64, lora_alpha=128, learning_rate=1e-5, gradient_checkpointing=True,
    max_source_length=512, max_target_length=512,
)


def with_settings(cfg: KPODConfig, settings: list[str]) -> KPODConfig:
    """`cfg` changed by command-line settings "key=JSON" (e.g. `token_weight_floor=0`,
    `weighting_predictor='"tiny-llama"'`): a key naming a field sets it, any other key goes into
    `extra`. A value that is not JSON is an error naming it."""
    import json

    fields = {f.name for f in dataclasses.fields(KPODConfig)}
    changes, extra = {}, dict(cfg.extra)
    for item in settings:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"a setting is KEY=JSON, got {item!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ConfigError(f"setting {key!r}: {text!r} is not JSON ({error.msg}); quote strings: "
                              f"{key}='\"...\"'") from None
        if key in fields:
            changes[key] = value
        else:
            extra[key] = value
    return cfg.replace(**changes, extra=extra)


def preset(name: str | None = None, **overrides) -> KPODConfig:
    """The named preset (default: `$KPOD_PRESET`, else `tiny`), with `overrides` applied.

    An unknown name or a bad value raises `ConfigError` naming the problem.
    """
    name = name or os.environ.get(PRESET_ENV, "tiny")
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    unknown = set(overrides) - {f.name for f in dataclasses.fields(KPODConfig)}
    if unknown:
        raise ConfigError(f"unknown KPODConfig field(s) {sorted(unknown)} for preset {name!r}")
    return PRESETS[name].replace(**overrides) if overrides else PRESETS[name]
