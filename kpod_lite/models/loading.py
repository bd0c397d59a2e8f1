"""Loading students (hub id, local folder or a tiny build) with their tokenizers and dtype, and
LoRA (App. A) with the helpers distillation needs from a loaded student."""

from __future__ import annotations

import warnings

import torch

from kpod_lite.config import KPODConfig
from kpod_lite.families import StudentFamily, family_of, lora_target_modules
from kpod_lite.models.rehearsal import is_rehearsal_student, rehearsal_model_path
from kpod_lite.models.tiny import TINY_SPECS, tiny_model_path

# --- loading students --------------------------------------------------------------------------


def _model_location(config: KPODConfig) -> str:
    """A hub id or a folder for `config.student`; the tiny and rehearsal names resolve to their
    cached build (`models.tiny`, `models.rehearsal`)."""
    if config.student in TINY_SPECS:
        return str(tiny_model_path(config.student))
    if is_rehearsal_student(config.student):
        return str(rehearsal_model_path(config.student))
    return config.student


def is_local_build(student: str) -> bool:
    """Whether `student` names one of the CPU-sized students this package builds itself (the
    tiny ones and the rehearsal ones), as opposed to a hub id or a folder of real weights."""
    return student in TINY_SPECS or is_rehearsal_student(student)


def student_family(config: KPODConfig) -> StudentFamily:
    """Seq2seq or causal, read from the student's own model config (`kpod_lite.families`)."""
    from transformers import AutoConfig

    return family_of(AutoConfig.from_pretrained(_model_location(config), trust_remote_code=config.trust_remote_code))


def load_tokenizer(config: KPODConfig):
    """The student's tokenizer, ready for batching.

    Causal (LLaMA-family) tokenizers often have no pad token; they get `eos` as pad
    (`StudentFamily.prepare_tokenizer`). Two consequences for callers: mask labels with the
    attention mask, not by `pad_token_id` (which would also hide the real `</s>` the student
    must learn to emit), and pad prompts for a batched `generate` on the family's
    `generation_padding_side`. Padding stays on the right here, which is what training wants.
    """
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(_model_location(config), trust_remote_code=config.trust_remote_code)
    return student_family(config).prepare_tokenizer(tokenizer)


def student_dtype(config: KPODConfig, device: torch.device) -> torch.dtype:
    """bfloat16 when `config.bf16` and the device is a GPU that supports it, else float32.

    CPUs keep float32: bfloat16 matrix products on most CPUs are slower, not faster.
    """
    if config.bf16 and device.type == "cuda" and bf16_supported():
        return torch.bfloat16
    return torch.float32


def bf16_supported() -> bool:
    """Whether the GPU computes in bfloat16 natively (Ampere or newer; not a T4).

    torch's own check counts emulated bfloat16 as support (a T4 says yes, then runs slowly);
    `including_emulation` exists from torch 2.3 on.
    """
    if not torch.cuda.is_available():
        return False
    try:
        return torch.cuda.is_bf16_supported(including_emulation=False)
    except TypeError:  # torch < 2.3
        return torch.cuda.is_bf16_supported()


def load_student(config: KPODConfig, device: str | torch.device | None = None):
    """`(model, tokenizer)` for `config.student`, on `device` (default: CUDA if present, else CPU).

    A hub id or a local folder loads with `from_pretrained` (FlanT5 as a seq2seq model, LLaMA
    as a causal one), with `trust_remote_code` from the config (off by default) and safetensors
    only. `tiny-t5` / `tiny-llama` load the same way from their cached build. LoRA is not
    applied here: Eq. 8 scores steps with the plain pre-trained student; call `apply_lora`
    before distillation.
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = student_family(config).model_class.from_pretrained(
        _model_location(config),
        trust_remote_code=config.trust_remote_code,
        use_safetensors=True,
        dtype=student_dtype(config, device),
    )
    model.to(device)
    if config.gradient_checkpointing:
        # transformers 5 renamed it (the old name warns and goes in v6); 4.x has the old name only.
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()
    tokenizer = load_tokenizer(config)
    # LLaMA-family checkpoints name no padding token; the tokenizer pads with </s>
    # (load_tokenizer), and the model must agree or every Trainer and generate() warns.
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
        if model.generation_config is not None:
            model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


# --- LoRA (App. A) -------------------------------------------------------------------------------

def apply_lora(model, config: KPODConfig):
    """The model wrapped as a peft `PeftModel` with LoRA adapters; only they are trainable.

    Rank, alpha and dropout come from the config (App. A: rank 128 for FlanT5, 64 for
    LLaMA-7B); target modules from the config's `lora_target_modules`, else the query and value
    projections of the model's architecture (`kpod_lite.families.LORA_TARGET_MODULES`).
    """
    from peft import LoraConfig, get_peft_model

    family = family_of(model)
    targets = lora_target_modules(model.config, config.lora_target_modules)
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(targets),
        task_type=family.lora_task_type,
    )
    if config.gradient_checkpointing:
        # Frozen embeddings give checkpointed blocks inputs without grad; LoRA needs them.
        model.enable_input_require_grads()
    with warnings.catch_warnings():
        # peft asks transformers 5 a question it has renamed; nothing for the user to act on.
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        return get_peft_model(model, lora)


def trainable_parameters(model) -> tuple[int, int]:
    """(trainable, total) parameter counts; shared (tied) tensors are counted once."""
    parameters = list(model.parameters())
    return sum(p.numel() for p in parameters if p.requires_grad), sum(p.numel() for p in parameters)


def student_input_embeddings(model) -> torch.nn.Embedding:
    """The student's pretrained input embedding layer, for the token weighting module (§3.3,
    Eq. 2: e = Att(Emb(r)); App. A: its embedding layer "aligns with the pretrained student
    model's input embedding layer for the consistency of tokenizer"). Works through peft."""
    embeddings = model.get_input_embeddings()
    if not isinstance(embeddings, torch.nn.Embedding):
        raise TypeError(f"expected the input embeddings to be an nn.Embedding, got {type(embeddings).__name__}")
    return embeddings
