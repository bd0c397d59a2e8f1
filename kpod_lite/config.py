"""One dataclass holding every KPOD knob, with the paper's defaults (App. A), and the presets.

Every field is typed and says where its default comes from: "App. A" for the paper's
implementation details, an equation number for a quantity the paper defines, "ours" for a
choice the paper leaves open (each of those is explained where it is used). A config is frozen
and holds only immutable values, so a preset cannot be changed through a config it returned;
`replace`, `preset(name, **changes)` and `with_settings` (the command line's `--set KEY=JSON`)
make changed copies, checked field by field (`kpod_lite.settings`): an unknown key is an error
that names the closest field, a value of the wrong type or out of range is an error that says
what the field takes.

>>> cfg = preset("tiny")
>>> cfg.alpha, cfg.beta, cfg.p, cfg.n_clusters
(0.5, 12.0, 0.5, 5)
>>> preset("tiny", weighting_predictor_warmup=10)
Traceback (most recent call last):
...
kpod_lite.errors.ConfigError: unknown setting 'weighting_predictor_warmup' for preset 'tiny'; did you mean 'weighting_predictor_warmup_steps'?
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass
from pathlib import Path

from kpod_lite.errors import ConfigError
from kpod_lite.methods import METHODS, Method
from kpod_lite.settings import REMOVED_SETTINGS, check_config, check_keys, parse_setting
from kpod_lite.synthetic import SyntheticConfig
from kpod_lite.templates import ZERO_SHOT_COT_PROMPT

__all__ = ["ConfigError", "OODSet", "SyntheticOverrides", "KPODConfig", "PRESETS", "PRESET_ENV", "preset",
           "with_settings"]

PRESET_ENV = "KPOD_PRESET"
_REPOSITORY = Path(__file__).resolve().parents[1]  # the rehearsal presets read its data_samples/

# Changes to the run's synthetic task: every `SyntheticConfig` knob, None meaning "as the run's".
# Made from SyntheticConfig's own fields, so the generator's knobs are declared once.
SyntheticOverrides = dataclasses.make_dataclass(
    "SyntheticOverrides",
    [(f.name, typing.Optional[typing.get_type_hints(SyntheticConfig)[f.name]], None)
     for f in dataclasses.fields(SyntheticConfig)],
    frozen=True)
SyntheticOverrides.__module__ = __name__  # make_dataclass(module=) exists from Python 3.12 on
SyntheticOverrides.__doc__ = "Changes to the run's `synthetic` task (None: as the run's); see `SyntheticConfig`."


@dataclass(frozen=True)
class OODSet:
    """An out-of-distribution test set (in the spirit of Table 3): the run's synthetic task with
    some knobs changed (`synthetic`), or a question file (`file`, in `format`)."""

    name: str
    size: int = 100  # synthetic questions to draw (a file is read whole)
    synthetic: SyntheticOverrides | None = None
    file: str | None = None
    format: str = "kpod"

    def __post_init__(self) -> None:
        if (self.synthetic is None) == (self.file is None):
            raise ConfigError(f"OOD set {self.name!r}: give exactly one of 'synthetic' (generator knobs) or 'file'")
        if self.size < 1:
            raise ConfigError(f"OOD set {self.name!r}: size must be >= 1, got {self.size}")

    def task(self, base: SyntheticConfig) -> SyntheticConfig:
        """The generator's knobs for this set: `base` (the run's task) with `synthetic`'s changes."""
        changes = {k: v for k, v in dataclasses.asdict(self.synthetic).items() if v is not None}
        try:
            return dataclasses.replace(base, **changes)
        except ValueError as error:
            raise ConfigError(f"OOD set {self.name!r}: {error}") from None


@dataclass(frozen=True)
class KPODConfig:
    # --- identity -----------------------------------------------------------------------
    name: str = "custom"  # ours: the preset name, also the default run folder
    seed: int = 0  # ours: every random choice (data, masks, init) derives from it

    # --- data (§4.1) ----------------------------------------------------------------------
    dataset: str = "synthetic"  # §4.1: gsm8k, asdiv, svamp, csqa; synthetic is ours
    data_format: str = "kpod"  # loader name in kpod_lite.data.load_examples
    train_file: str | None = None  # None: synthetic splits drawn with `synthetic`
    test_file: str | None = None  # None: the synthetic test split
    train_size: int | None = None  # ours: training questions; synthetic: drawn (None: synthetic.DEFAULT_SIZES); train_file: a seeded subset (None: all)
    validation_size: int | None = None  # ours: synthetic validation questions (None: the default)
    test_size: int | None = None  # ours: test questions; synthetic: drawn (None: the default); test_file: a seeded subset (None: all)
    synthetic: SyntheticConfig = SyntheticConfig()  # ours: the generator's knobs for synthetic splits
    ood: tuple[OODSet, ...] = ()  # ours: out-of-distribution test sets, as in Table 3

    # --- teacher (§3.1) --------------------------------------------------------------------
    teacher: str = "template"  # §4.1 uses GPT-3.5-Turbo (released: MCC-KD's GPT-3.5 rationales); template is the offline default
    teacher_model: str | None = None  # OpenAI model name or local HF path for the teacher
    teacher_base_url: str | None = None  # ours: an OpenAI-compatible server (None: $OPENAI_BASE_URL, else OpenAI's)
    teacher_replay_from: str | None = None  # ours: the cache file the replay teacher reads its answers from
    teacher_max_tokens: int = 256  # ours: longest rationale a teacher may write, in its tokens
    teacher_concurrency: int = 8  # ours: requests in flight (openai) or batch size (hf)
    teacher_timeout: float = 120.0  # ours: seconds an OpenAI-compatible request may take
    teacher_max_attempts: int = 6  # ours: tries per OpenAI-compatible request, backing off with jitter
    cot_prompt: str = ZERO_SHOT_COT_PROMPT  # §3.1, zero-shot CoT (Kojima et al., 2022): "Let's think step by step."
    teacher_samples: int = 1  # ours: rationales per question (>1 for diverse reasoning)
    teacher_temperature: float = 0.0  # ours: 0 is greedy; >0 needed for several samples
    filter_correct: bool = True  # Ho et al. 2023's practice (§3.1 follows their collection; it does not say it filters)
    normalize_symbols: bool = True  # ours: symbols the student's tokenizer cannot write become ASCII (÷ -> /; kpod_lite.symbols)
    evaluate_teacher: bool | None = None  # ours: score the teacher on the test sets (None: offline teachers only)

    # --- student (App. A) -----------------------------------------------------------------
    student: str = "tiny-t5"  # App. A: google/flan-t5-large, flan-t5-xl, LLaMA-7B; seq2seq or causal
    trust_remote_code: bool = False  # house rule: off unless the user asks
    # "auto": the GPU when there is one; without one only the local builds (tiny, rehearsal) run,
    # on the CPU, and anything else is refused (models.loading.student_device); "cuda"/"cpu" insist.
    device: str = "auto"  # ours: where the students run (kpod-lite ... --device cpu)
    max_source_length: int = 256  # ours: question + c_i(t) input steps
    max_target_length: int = 256  # ours: remaining steps + "Therefore, the answer is y"

    # --- rationale token weighting (§3.3, Eq. 2-7) -----------------------------------------
    alpha: float = 0.5  # App. A: weight of the mask-ratio loss L_m in L_k = L_p + alpha L_m (Eq. 7)
    gumbel_temperature: float = 0.5  # ours: temperature of the binary Concrete sample (Eq. 4)
    weighting_epochs: int = 10  # ours: the paper does not state it
    weighting_lr: float = 1e-4  # ours
    prefix_mode: str = "steps"  # ours: "all" prefixes (Eq. 5 exactly), "steps" boundaries, or "sampled"
    weighting_predictor: str | None = None  # §3.3: the answer predictor of Eq. 5 (None: a copy of the student)
    weighting_predictor_warmup_steps: int = 400  # ours: unmasked answer-reading steps before mask learning
    weighting_batch_size: int | None = None  # ours: rationales per step (None: batch_size)
    weighting_max_tokens: int | None = None  # ours: rationale tokens read in training (None: max_target_length)
    weighting_sampled_prefixes: int = 0  # ours: random prefixes per rationale, extra in "steps", all of "sampled" (Eq. 5)
    weighting_hard: bool = False  # ours: straight-through binary masks (Eq. 4)
    weighting_positions: bool = False  # ours: position codes in Att (Eq. 2 has none)
    weighting_train_embeddings: bool = False  # ours: train Emb (Eq. 2) instead of keeping it frozen

    # --- step difficulty (Eq. 8) -------------------------------------------------------------
    difficulty_temperature: float = 1.0  # ours: softmax(w / tau) in Eq. 8; 1 is the paper's softmax(w)

    # --- progressive schedule (Eq. 9-13) -----------------------------------------------------
    epochs: int = 100  # App. A: 100 for FlanT5, 20 (GSM8K, CSQA) or 40 (ASDiv, SVAMP) for LLaMA
    T: int | None = None  # App. A: stage of maximum difficulty = half the epochs (None: derive)
    p: float = 0.5  # App. A: exponent of the growth rate dD/dt = u t^p (Eq. 10)
    c0_fraction: float = 0.3  # App. A: C_0 = 30% of the maximum difficulty B (Eq. 10)
    delta_s: int = 1  # Eq. 11: input steps removed from a selected question per stage (ours: 1)
    beta: float = 12.0  # App. A: weight of the diversity term (Eq. 12)
    n_clusters: int = 5  # App. A: K-means clusters of questions (Eq. 12)
    glove_file: str | None = None  # §3.4: K-means on mean GloVe word vectors, from this file; None: TF-IDF (ours, offline)
    ftgp_eps: float = 0.1  # Prop. 3.1: FTGP's epsilon, (1/2 - eps) guarantee

    # --- distillation (Eq. 15, App. A) -------------------------------------------------------
    method: str = "kpod"  # Table 2: kpod, an ablation, or plain-cot (kpod_lite.methods)
    # A student too small to write fluently needs a floor (docs/RESULTS.md, "Calibration"):
    token_weight_floor: float = 0.0  # ours: Eq. 15 trains token j on λ + (1 - λ) w_j; 0 is the paper's w_j
    learning_rate: float = 5e-5  # App. A: 5e-5 for FlanT5, 1e-5 for LLaMA-7B (Adam)
    batch_size: int = 4  # App. A
    lora: bool = True  # App. A: LoRA for every student
    lora_rank: int = 128  # App. A: 128 for FlanT5-XL (ours: FlanT5-Large too; the paper gives none), 64 for LLaMA-7B
    lora_alpha: int = 256  # ours: 2 x rank, the common peft choice
    lora_dropout: float = 0.05  # ours
    lora_target_modules: tuple[str, ...] | None = None  # ours: None = q and v (kpod_lite.families)
    bf16: bool = False  # ours: on for GPUs that support it
    gradient_checkpointing: bool = False  # ours: trade compute for memory on small GPUs
    # The Trainer's own knobs (kpod_lite.distill.KPODTrainingArguments), at its defaults:
    gradient_accumulation_steps: int = 1  # ours
    lr_scheduler_type: str = "linear"  # ours: the Trainer's default
    warmup_ratio: float = 0.0  # ours
    weight_decay: float = 0.0  # ours: plain Adam, as App. A names
    max_grad_norm: float = 1.0  # ours: the Trainer's default clipping
    save_total_limit: int | None = 2  # ours: epoch checkpoints kept (resume needs the last)

    # --- evaluation (§4) ---------------------------------------------------------------------
    max_new_tokens: int = 256  # ours: long enough for a GSM8K rationale
    eval_batch_size: int | None = None  # ours: prompts per generate() call (None: 2 x batch_size)
    epoch_eval_size: int = 0  # ours: accuracy on the first N questions of epoch_eval_split after every epoch (0: off)
    # "validation" chooses N_e on a curve that never sees the test set (synthetic runs write that split).
    epoch_eval_split: str = "test"  # ours: the split epoch_eval_size reads, "test" or "validation"

    def __post_init__(self) -> None:
        check_config(self)

    @property
    def stage_T(self) -> int:
        """The stage of maximum difficulty: T if set, else half the epochs (App. A), at least 1."""
        return self.T if self.T is not None else max(1, self.epochs // 2)

    @property
    def generation_batch_size(self) -> int:
        """Prompts per generate() call: `eval_batch_size`, else twice the training batch size."""
        return self.eval_batch_size or 2 * self.batch_size

    @property
    def switches(self) -> Method:
        """What `method` switches on and off: token weights, weighted difficulty, diversity,
        progressive inputs (`kpod_lite.methods`)."""
        return METHODS[self.method]

    def replace(self, **changes) -> "KPODConfig":
        """A copy with some fields changed, checked again (an unknown field names the closest)."""
        check_keys(changes, KPODConfig, f"KPODConfig {self.name!r}", REMOVED_SETTINGS)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """Plain JSON-ready values; `KPODConfig(**d)` reads them back."""
        return dataclasses.asdict(self)


# The tiny task (ours): an easier synthetic task than the shipped splits (2-3 steps of + and -
# on numbers up to 9, no distractors), so the tiny student ends between 20% and 80%.
_TINY_TASK = SyntheticConfig(min_steps=2, max_steps=3, ops=("+", "-"), max_operand=9, distractor_rate=0.0)

PRESETS: dict[str, KPODConfig] = {
    # CPU, offline, minutes: synthetic problems, template teacher, locally built tiny models.
    "tiny": KPODConfig(
        name="tiny",
        # ours: the tiny LLaMA (causal, like the paper's LLaMA-7B rows) learns to read the
        # question within a CPU budget; the tiny T5 does not (docs/RESULTS.md, "Calibration").
        student="tiny-llama",
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
        synthetic=_TINY_TASK,
        train_size=800,
        test_size=100,
        # Out-of-distribution test sets in the spirit of Table 3: the same stories with
        # irrelevant numbers (as SVAMP varies GSM8K-style questions), and longer chains.
        ood=(OODSet("distractors", size=100, synthetic=SyntheticOverrides(distractor_rate=1.0)),
             OODSet("four-steps", size=100, synthetic=SyntheticOverrides(min_steps=4, max_steps=4))),
        # The tiny T5 cannot learn to read answers off rationales on a CPU budget; the tiny
        # LLaMA can, so it predicts the answer in Eq. 5 (docs/WEIGHTING.md).
        weighting_predictor="tiny-llama",
        weighting_batch_size=16,
        # ours: TF-IDF clusters. The synthetic stories use about a hundred distinct words, and
        # GloVe is not shipped (nothing downloads here); §3.4's GloVe clusters are for real questions.
        glove_file=None,
        # Greedy generation of a tiny model is bound by per-step overhead, not arithmetic:
        # 64 prompts a batch generate 1.8x faster than 16, with the same text (BENCHMARKS.md).
        eval_batch_size=64,
    ),
}

# The GPU presets share the paper's setting for GSM8K with a GPT-3.5-class teacher (§4.1).
# Lengths (ours; the paper gives none): GPT-3.5 rationales reach ~290 tokens at p99 on the
# released SVAMP ones, estimated from 119 of them, and the input holds the question plus up to a
# whole rationale (Eq. 14); with 1.5x headroom, 512 for inputs, targets and generation
# (docs/REAL_DATA.md, "Lengths"). The run summary says how much any stage still cut.
# Clusters (§3.4): TF-IDF until you give GloVe vectors, which nothing here downloads. For the
# paper's, fetch glove.6B.zip from https://nlp.stanford.edu/projects/glove/ and set
# glove_file='"glove.6B.300d.txt"' (--set, or cfg.replace(glove_file=...)).
_GSM8K = KPODConfig(name="gsm8k", dataset="gsm8k", data_format="gsm8k", teacher="openai", bf16=True,
                    max_source_length=512, max_target_length=512, max_new_tokens=512)

# App. A, FlanT5 rows: lr 5e-5, batch 4, 100 epochs (the KPODConfig defaults); LoRA r = 128 is App. A's
# value for FlanT5-XL, which the paper does not give for FlanT5-Large (ours: the same).
# Gradient checkpointing (ours): Eq. 5's prefix rows need ~69 GiB of activations without it in
# bf16, 7 GiB with it; ~12 GiB in float32, so a T4 holds every stage (kpod_lite.memory, docs/GPU.md).
PRESETS["flan-t5-large"] = _GSM8K.replace(name="flan-t5-large", student="google/flan-t5-large",
                                          gradient_checkpointing=True)
# §3.3 initialises Eq. 5's answer predictor from FlanT5-Large, whatever the student: the XL
# student's weighting reads FlanT5-Large (same T5 vocabulary, so Eq. 4's masks apply to its tokens).
PRESETS["flan-t5-xl"] = _GSM8K.replace(name="flan-t5-xl", student="google/flan-t5-xl",
                                       gradient_checkpointing=True, weighting_predictor="google/flan-t5-large")
# App. A, LLaMA-7B rows: LoRA r = 64, lr 1e-5, batch 4, 20 epochs on GSM8K. The user names the
# checkpoint (LLaMA weights are gated): set `student` to a local folder or a hub id (for a hub id, log in
# first: `hf auth login` or HF_TOKEN; a refused download stops the run before its first stage).
PRESETS["llama-7b"] = _GSM8K.replace(
    name="llama-7b", student="huggyllama/llama-7b", epochs=20,
    lora_rank=64, lora_alpha=128, learning_rate=1e-5, gradient_checkpointing=True,
    # ours: one rationale's prefix rows per mask-learning step, so mask learning fits the paper's
    # 24 GB RTX 3090 in bf16 (estimated 20.8 GiB; with 4 rationales a step, 33 GiB; docs/GPU.md).
    weighting_batch_size=1,
)

# ours: KPOD and plain CoT on a Colab T4 in under an hour (estimated 23-56 min: kpod_lite.gpu_time,
# README "Which preset on which GPU"): FlanT5-Large on Table 4's SVAMP split with the released
# GPT-3.5 rationales (no API key), 200 of its 700 training questions, 6 epochs (T = 3), a short
# mask learning; 384-token limits cover the SVAMP rationales measured (p99 ~290 tokens). bf16
# where the GPU has it, float32 on a T4 (models.student_dtype); gradient checkpointing keeps
# every stage under a T4's 16 GB in float32 (docs/GPU.md).
PRESETS["colab"] = PRESETS["flan-t5-large"].replace(
    name="colab", dataset="svamp", data_format="instruction", train_file="mcckd-svamp:train",
    test_file="mcckd-svamp:test", teacher="released", train_size=200, epochs=6, weighting_epochs=3,
    weighting_predictor_warmup_steps=50, max_source_length=384, max_target_length=384, max_new_tokens=384,
    eval_batch_size=16,
)

# ours: rehearsals of the GPU presets on a CPU, in minutes, for CI and for a reader without a GPU.
# Each runs its GPU preset's code path unchanged (the published family and class, loaded with
# from_pretrained; its SentencePiece stand-in tokenizer; the released teacher on MCC-KD-format
# data; LoRA at the preset's rank; gradient checkpointing; float32, as on a T4) and changes only
# sizes: the student (`kpod_lite.models.rehearsal`: random weights, FlanT5-Large at depth 1,
# LLaMA-7B at reduced width and depth), the data (the repository's MCC-KD-format sample: 12
# training and 8 test questions, written by the project), 2 epochs (T = 1) and a short mask
# learning. A rehearsal's accuracy means nothing: its weights are random.
_SAMPLE_MCCKD = _REPOSITORY / "data_samples" / "formats"
_REHEARSAL = dict(dataset="svamp", data_format="instruction", teacher="released",
                  train_file=str(_SAMPLE_MCCKD / "mcckd_train.json"), test_file=str(_SAMPLE_MCCKD / "mcckd_test.json"),
                  train_size=None, epochs=2, weighting_epochs=1, weighting_predictor_warmup_steps=4,
                  max_source_length=256, max_target_length=256, max_new_tokens=48, eval_batch_size=8)
PRESETS["colab-rehearsal"] = PRESETS["colab"].replace(name="colab-rehearsal", student="rehearsal-flan-t5-large",
                                                      **_REHEARSAL)
PRESETS["llama-7b-rehearsal"] = PRESETS["llama-7b"].replace(name="llama-7b-rehearsal", student="rehearsal-llama-7b",
                                                            **_REHEARSAL)


def with_settings(cfg: KPODConfig, settings: list[str]) -> KPODConfig:
    """`cfg` changed by command-line settings "KEY=JSON" (e.g. `token_weight_floor=0`,
    `weighting_predictor='"tiny-llama"'`, `synthetic.max_steps=4`), applied in order.

    KEY names a field, or a field of a group field after a dot; a value that is not JSON, an
    unknown key, a wrong type or a bad value is a `ConfigError` that names the setting.
    """
    for item in settings:
        cfg = parse_setting(cfg, item)
    return cfg


def preset(name: str | None = None, **overrides) -> KPODConfig:
    """The named preset (default: `$KPOD_PRESET`, else `tiny`), with `overrides` applied.

    An unknown name, an unknown field or a bad value raises `ConfigError` naming the problem.
    """
    name = name or os.environ.get(PRESET_ENV, "tiny")
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    check_keys(overrides, KPODConfig, f"preset {name!r}", REMOVED_SETTINGS)
    return dataclasses.replace(PRESETS[name], **overrides) if overrides else PRESETS[name]
