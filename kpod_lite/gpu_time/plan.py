"""Before a GPU run starts: what it still needs from you, and what it will cost, estimated.

`needs(cfg)` says what the run has and what is missing (questions from a data source, a teacher,
the teacher's API key); `check_ready(cfg)` refuses a run that misses something, naming what to
set. `run_plan(cfg, gpus)` gives on each GPU the hours of KPOD and plain CoT, one seed each
(`estimate_hours`: a range from `LOW` to `HIGH`), the largest stage's peak memory
(`memory.estimate_memory`, in bfloat16 only where the GPU has it natively) and whether it fits,
and the checkpoint the run downloads once. Printed, a `RunPlan` is the summary notebook 06 shows
under its config cell. Every figure is an estimate: no GPU has measured it.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass

from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.gpu_time import CHECKPOINT_BYTES_PER_PARAMETER, GPUS, GSM8K, SVAMP, DataShape, estimate_hours
from kpod_lite.memory import GiB, estimate_memory, load_model_config, model_shape

CONTEXT_BYTES = GiB // 2  # ours: what the CUDA context takes of nvidia-smi's total
DEFAULT_GPUS = ("T4", "L4", "A100")


def needs(cfg: KPODConfig) -> tuple[list[str], list[str]]:
    """(what the run has, what it still needs from you): its questions, its teacher and the
    teacher's key, each as a sentence; a need names the setting to change."""
    have, need = [], []
    if cfg.dataset == "synthetic":
        have.append("questions: synthetic, generated here")
    elif cfg.train_file is None:
        need.append(f"DATASET: preset {cfg.name!r} is set up for {cfg.dataset} but names no files; set e.g. "
                    "DATASET = 'mcckd-gsm8k' (Table 4's split, with released GPT-3.5 rationales) or 'gsm8k' "
                    "(with worked solutions); `kpod-lite fetch` lists the sources, each downloaded once")
    else:
        have.append(f"questions: {cfg.train_file} and {cfg.test_file}, downloaded once into the data cache")
    # MCC-KD's splits (fetched as "mcckd-*", or a file in their instruction format) ship rationales.
    released_data = str(cfg.train_file).startswith("mcckd-") or cfg.data_format == "instruction"
    if cfg.teacher == "template":
        have.append("teacher: template, written from the synthetic programs (offline)")
    elif cfg.teacher == "released" and (released_data or cfg.train_file is None):
        have.append("teacher: released, MCC-KD's GPT-3.5 rationales shipped with the data (offline, no API key)")
    elif cfg.teacher == "released":
        need.append("TEACHER = 'released' reads the rationales shipped with MCC-KD's splits: "
                    "DATASET = 'mcckd-gsm8k', 'mcckd-svamp', ...")
    elif cfg.teacher == "openai":
        server = os.environ.get("OPENAI_API_KEY") or cfg.teacher_base_url or os.environ.get("OPENAI_BASE_URL")
        model = cfg.teacher_model or os.environ.get("KPOD_TEACHER_MODEL")
        if server and model:
            have.append(f"teacher: openai, model {model} (the key is read from the environment, never stored)")
        else:
            need.append("TEACHER: 'openai' needs OPENAI_API_KEY (or OPENAI_BASE_URL for a server of your own) and "
                        "KPOD_TEACHER_MODEL in the environment; without a key: TEACHER = 'released' with an "
                        "'mcckd-*' DATASET (what the colab preset does), or TEACHER = 'gold' with DATASET = 'gsm8k'")
    elif cfg.teacher == "hf" and not cfg.teacher_model:
        need.append("TEACHER = 'hf' needs teacher_model: a local folder or a hub id")
    else:
        have.append(f"teacher: {cfg.teacher}")
    return have, need


def check_ready(cfg: KPODConfig) -> None:
    """Raise `ConfigError` listing what `needs` says is missing, before anything is downloaded."""
    _, need = needs(cfg)
    if need:
        raise ConfigError(f"preset {cfg.name!r} cannot start yet; set in the config cell:\n  - " + "\n  - ".join(need))


def data_shape(cfg: KPODConfig) -> DataShape:
    """The lengths the hours are counted at: SVAMP's for an SVAMP run, GSM8K's otherwise."""
    return SVAMP if cfg.dataset == "svamp" else GSM8K


def gpu_key(device_name: str) -> str | None:
    """The `GPUS` key of a CUDA device name ("Tesla T4", "NVIDIA A100-SXM4-40GB"), or None."""
    name = device_name.replace("RTX ", "RTX")
    return next((key for key in GPUS if re.search(rf"(?<![0-9A-Za-z]){key}(?![0-9])", name)), None)


def format_span(low: float, high: float) -> str:
    """Hours as a range the way the README writes them: 23-56 min, 40 min-1.5 h, 9-34 h."""
    if high < 1:
        return f"{low * 60:.0f}-{high * 60:.0f} min"
    if low < 1:
        return f"{low * 60:.0f} min-{high:.1f} h"
    digits = 1 if high < 10 else 0
    return f"{low:.{digits}f}-{high:.{digits}f} h"


@dataclass(frozen=True)
class GPUPlan:
    """One GPU's estimate: hours (low, high), the largest stage's peak bytes, whether it fits."""

    key: str
    name: str
    hours: tuple[float, float]
    peak_bytes: float
    peak_stage: str
    fits: bool
    precision: str  # "bf16" or "float32"


@dataclass(frozen=True)
class RunPlan:
    """What `run_plan` estimates for one config (module docstring)."""

    preset: str
    student: str
    parameters: int
    train_questions: int
    test_questions: int
    lengths: str
    epochs: int
    lora_rank: int | None
    attention: str
    download_bytes: float
    gpus: tuple[GPUPlan, ...]

    def on(self, key: str) -> GPUPlan:
        return next(g for g in self.gpus if g.key == key)

    def __str__(self) -> str:
        download = f"a {self.download_bytes / 1e9:.1f} GB download" if self.download_bytes else "built here"
        lines = [f"{self.preset}: {self.student} ({self.parameters / 1e6:.0f}M parameters, {download}), "
                 f"{self.train_questions} training questions at "
                 f"{self.lengths} lengths, {self.epochs} epochs, LoRA r = {self.lora_rank or '-'}, "
                 f"{self.attention} attention; KPOD and plain CoT, one seed each, estimated:"]
        for g in self.gpus:
            lines.append(f"  {g.name:<15} {format_span(*g.hours):>12}, peak {g.peak_bytes / GiB:5.1f} GiB "
                         f"({g.peak_stage}){'' if g.fits else ': does not fit'}, {g.precision}")
        return "\n".join(lines)


def run_plan(cfg: KPODConfig, gpus=DEFAULT_GPUS, model_config=None) -> RunPlan:
    """Hours and peak memory of `cfg`'s run (KPOD and plain CoT) on each of `gpus` (`GPUS` keys).

    `model_config`: the student's config (default: `memory.load_model_config`, which knows the
    published FlanT5 and LLaMA shapes, the tiny and rehearsal students, and otherwise reads
    config.json alone)."""
    from kpod_lite.models import is_local_build
    from kpod_lite.models.published import PUBLISHED, published_config

    if model_config is None:
        model_config = (published_config(cfg.student) if cfg.student in PUBLISHED
                        else load_model_config(cfg.student, cfg.trust_remote_code))
    shape = model_shape(model_config)
    data = data_shape(cfg)
    rows = []
    for key in dict.fromkeys(gpus):
        gpu = GPUS[key]
        bf16 = gpu.bf16_tflops is not None
        memory = estimate_memory(cfg, model_config, bf16=bf16)
        peak = max(memory.values(), key=lambda e: e.total)
        hours = estimate_hours(cfg, shape.parameters, data, gpu, model_config=model_config)
        rows.append(GPUPlan(key, gpu.name, (hours["low"], hours["high"]), peak.total, peak.stage,
                            peak.total <= gpu.memory_mib * 2 ** 20 - CONTEXT_BYTES,
                            "bf16" if bf16 and cfg.bf16 else "float32"))
    # A tiny or rehearsal student is built here, not downloaded.
    download = 0 if is_local_build(cfg.student) else \
        shape.parameters * CHECKPOINT_BYTES_PER_PARAMETER.get(model_config.model_type, 4)
    return RunPlan(cfg.name, cfg.student, shape.parameters,
                   min(cfg.train_size or data.train_questions, data.train_questions),
                   min(cfg.test_size or data.test_questions, data.test_questions),
                   "SVAMP's" if data is SVAMP else "GSM8K's", cfg.epochs, cfg.lora_rank if cfg.lora else None,
                   "eager" if shape.eager_attention else "SDPA", download, tuple(rows))


def accuracy_noise(questions: int) -> tuple[float, float]:
    """(one accuracy's, a difference of two's) binomial standard error at p = 1/2, the largest
    it can be, for one seed on `questions` test questions, in points: √(p(1 − p)/n)."""
    one = 100 * math.sqrt(0.25 / questions)
    return one, one * math.sqrt(2)
