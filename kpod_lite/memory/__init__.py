"""Peak GPU memory of each stage, estimated before a run starts (docs/GPU.md).

The stages that put the student on the GPU are `weigh` (§3.3: the TokenWeighter and the Eq. 5
answer predictor, trained together), `difficulty` (Eq. 8: one no-grad forward per rationale
batch), `distill` (Eq. 15: a Trainer step, LoRA per App. A) and `evaluate` (§4: greedy
generation). For each, `estimate_memory` adds up, in bytes (P = parameters, B = bytes of the
student's dtype: 2 for bfloat16 where the GPU has it, else 4, as `models.student_dtype`):

    weights      P x B (every stage), plus the TokenWeighter (float32) in `weigh`
    training     LoRA: 16 bytes per adapter parameter (float32 weight, gradient, two AdamW
                 moments; peft keeps adapters in float32); full fine-tune: 3 x P x B more
                 (gradient and two moments in the parameter's dtype, torch.optim.AdamW)
    activations  tokens x layers x a(layer), a = the bytes autograd saves per token and layer
                 (`_saved_per_token`), counted like Korthikanti et al. 2022 (§4.1, Eq. 1:
                 sbh(34 + 5as/h) for a GPT layer in 16-bit) but for these layers: RMS norms,
                 frozen linears (which save no input), LoRA's dropout mask and input, SDPA's
                 q, k, v and output (no s x s matrix; eager attention adds it), the gated MLP
                 (SiLU: 3 d_ff; T5's tanh-GELU: 6 d_ff), T5's dropout masks. Seq2seq: the
                 encoder at the source length, the decoder at the target length with
                 cross-attention to the source; causal: source + target in one sequence.
                 Gradient checkpointing keeps each layer's input (h x B per token) and one
                 layer recomputed at a time.
    logits       positions x vocabulary x (12 + B) bytes in training: the float32 copy the loss
                 takes, its saved log-softmax and the gradient in backward (forward-only: 8 + B)
    kv_cache     generation: 2 x layers x rows x (source + max_new_tokens) x d_kv_total x B
                 (seq2seq: self-attention over new tokens, cross-attention over the source)

Weighting rows (§3.3, `weighting.losses.answer_prediction_loss`): one row per prefix k of each
rationale, `weighting_batch_size x (prefixes + weighting_sampled_prefixes)`; prefixes are the
step ends in prefix_mode "steps" (`steps_per_rationale`, ours: 8, a long GSM8K rationale) or
every token in "all". A row is padded to question + `weighting_max_tokens` + trigger tokens
(`max_source_length` bounds the question: an upper bound).

Slack (ours): the total is multiplied by 1.10 for the caching allocator's fragmentation, plus
512 MiB for cuBLAS/cuDNN workspaces and kernels. The CUDA context itself is already outside
`torch.cuda.mem_get_info`'s free memory once torch has touched the GPU. Every GPU figure from
here is an estimate; `benchmarks/memory_per_layer.py` checks the per-layer terms on CPU.

While a run goes (`pipeline.run`), each stage's own peak is measured (`reset_gpu_peak`,
`gpu_peak_mb`) and written next to its estimate in the run summary, and the memory a stage's
student held is given back when the stage ends (`release`), before the next stage loads one.
"""

from __future__ import annotations

import logging

import torch

from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.memory.estimate import (
    ANSWER_TOKENS,
    GPU_STAGES,
    SLACK_BYTES,
    SLACK_FACTOR,
    STEPS_PER_RATIONALE,
    TRIGGER_TOKENS,
    GiB,
    MiB,
    ModelShape,
    StageEstimate,
    estimate_memory,
    model_shape,
)
from kpod_lite.memory.release import gpu_peak_mb, plain_forward, release, reset_gpu_peak
from kpod_lite.weighting.sizes import weighting_batch_size, weighting_max_tokens

log = logging.getLogger(__name__)

__all__ = ["StageEstimate", "ModelShape", "model_shape", "estimate_memory", "check_fits", "preflight",
           "load_model_config", "format_estimates", "separate_predictor", "reset_gpu_peak", "gpu_peak_mb",
           "plain_forward", "release", "GPU_STAGES", "SLACK_FACTOR", "SLACK_BYTES", "GiB", "MiB",
           "STEPS_PER_RATIONALE", "TRIGGER_TOKENS", "ANSWER_TOKENS"]


# --- before a run: print the estimate, refuse what cannot fit -------------------------------------------


def separate_predictor(cfg: KPODConfig) -> str | None:
    """The name of Eq. 5's answer predictor when it is a model other than the student (§3.3: the
    flan-t5-xl preset's FlanT5-Large), else None: a copy of the student."""
    return cfg.weighting_predictor if cfg.weighting_predictor not in (None, cfg.student) else None


def load_model_config(name: str, trust_remote_code: bool = False, setting: str = "student"):
    """A student's model config without its weights. A tiny student's comes from its recipe
    (`models.tiny_model_config`) with the recipe's vocabulary bound (its BPE may stop below it:
    an upper bound), a rehearsal student's from its spec (`models.rehearsal`), so nothing is
    built; anything else from `AutoConfig.from_pretrained` (a hub id reads config.json only, a
    local folder its own).

    A model the Hub refuses (gated, 401, not found, offline) or a config transformers cannot read
    is a `ConfigError` naming `setting` (`models.loading.hub_errors`), before any stage starts.
    """
    from types import SimpleNamespace

    from transformers import AutoConfig

    from kpod_lite.models import TINY_SPECS, tiny_model_config
    from kpod_lite.models.loading import hub_errors
    from kpod_lite.models.rehearsal import is_rehearsal_student, rehearsal_model_config

    if name in TINY_SPECS:  # the special-token ids do not change any size
        ids = SimpleNamespace(pad_token_id=0, eos_token_id=1, bos_token_id=2)
        return tiny_model_config(TINY_SPECS[name], TINY_SPECS[name].vocab_size, ids)
    if is_rehearsal_student(name):
        return rehearsal_model_config(name)
    with hub_errors(name, setting):
        try:
            return AutoConfig.from_pretrained(name, trust_remote_code=trust_remote_code)
        except ValueError as error:  # an unknown model_type, or remote code not trusted
            if isinstance(error, ConfigError):
                raise
            raise ConfigError(f"cannot read the model config of {setting} {name!r}: {error}") from error


def _advice(stage: str, cfg: KPODConfig) -> str:
    tips = [f"a smaller batch_size (now {cfg.batch_size})" if stage != "evaluate" else
            f"a smaller eval_batch_size (now {cfg.generation_batch_size})",
            f"shorter max_source_length/max_target_length (now {cfg.max_source_length}/{cfg.max_target_length})"]
    if stage == "weigh":
        tips[0] = f"a smaller weighting_batch_size (now {weighting_batch_size(cfg)})"
        tips.append(f"a smaller weighting_max_tokens (now {weighting_max_tokens(cfg)})")
    if stage in ("weigh", "distill") and not cfg.gradient_checkpointing:
        tips.append("gradient_checkpointing=true")
    if stage in ("weigh", "distill") and not cfg.lora:
        tips.append("lora=true")
    return "; ".join(tips + ["a smaller student", "or a GPU with more memory"])


def check_fits(estimates: dict[str, StageEstimate], free: int, total: int, cfg: KPODConfig) -> None:
    """Raise `ConfigError` for the first stage whose estimate exceeds `free` GPU bytes, naming
    the stage, its estimate, the GPU's free and total memory, and what to change."""
    for stage, estimate in estimates.items():
        if estimate.total > free:
            raise ConfigError(
                f"stage {stage!r} of preset {cfg.name!r} needs about {estimate.total / GiB:.1f} GiB of GPU memory "
                f"(estimated: {', '.join(f'{k} {v / GiB:.2f}' for k, v in estimate.parts.items())} GiB, x"
                f"{SLACK_FACTOR} + {SLACK_BYTES / GiB:.1f} GiB slack), but the GPU has {free / GiB:.1f} GiB free of "
                f"{total / GiB:.1f} GiB. Try {_advice(stage, cfg)}. (kpod_lite.memory; the estimate can be "
                f"checked with benchmarks/memory_per_layer.py)")


def format_estimates(estimates: dict[str, StageEstimate]) -> str:
    """One line per stage: "estimated peak GPU memory by stage" with its largest parts."""
    lines = ["estimated peak GPU memory by stage (kpod_lite.memory):"]
    for stage, e in estimates.items():
        top = sorted(e.parts.items(), key=lambda kv: -kv[1])[:3]
        lines.append(f"  {stage:<10} {e.total / GiB:7.2f} GiB  ({', '.join(f'{k} {v / GiB:.2f}' for k, v in top)})")
    return "\n".join(lines)


def _checked_config(cfg: KPODConfig, name: str, setting: str):
    """`load_model_config` of `name`, with a local folder's weights checked too (safetensors only)."""
    from kpod_lite.families import family_of
    from kpod_lite.models.loading import require_safetensors

    model_config = load_model_config(name, cfg.trust_remote_code, setting)
    require_safetensors(name, family_of(model_config), setting)
    return model_config


def preflight(cfg: KPODConfig, stages=GPU_STAGES, gpu: tuple[int, int] | None = None, echo=print) -> dict | None:
    """Check what the GPU stages in `stages` need before any of them starts, and refuse what cannot
    work: a GPU student without a GPU (`models.loading.student_device`), a student (or
    `weighting_predictor`) that cannot be loaded (`load_model_config`; a local folder must hold
    safetensors weights), and a stage whose estimate does not fit (`check_fits`).

    `gpu`: (free, total) bytes (None: `torch.cuda.mem_get_info()` when the students run on a GPU,
    else no GPU: the estimate is logged only, never refused). Returns the estimates as dicts, or
    None when no GPU stage is asked for or the memory model does not know the architecture.
    """
    from kpod_lite.models.loading import student_device

    wanted = [s for s in GPU_STAGES if s in stages]
    if not wanted:
        return None
    device = student_device(cfg)
    model_config = _checked_config(cfg, cfg.student, "student")
    other = separate_predictor(cfg)
    predictor_config = _checked_config(cfg, other, "weighting_predictor") if other else None
    if gpu is None and device.type == "cuda":
        gpu = torch.cuda.mem_get_info()
    try:
        estimates = estimate_memory(cfg, model_config, predictor_config=predictor_config)
    except ValueError as error:  # an architecture the memory model does not know: no estimate
        log.warning("no GPU memory estimate for %s: %s", cfg.student, error)
        return None
    estimates = {s: estimates[s] for s in wanted}
    text = format_estimates(estimates)
    if gpu is None:
        log.info("%s\n  (no GPU: nothing refused)", text)
    else:
        echo(text + f"\n  GPU: {gpu[0] / GiB:.1f} GiB free of {gpu[1] / GiB:.1f} GiB")
        check_fits(estimates, gpu[0], gpu[1], cfg)
    return {s: e.to_dict() for s, e in estimates.items()}
