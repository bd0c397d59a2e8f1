"""Loading students (hub id, local folder or a tiny build) with their tokenizers and dtype, and
LoRA (App. A) with the helpers distillation needs from a loaded student."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from pathlib import Path

import torch

from kpod_lite.config import ConfigError, KPODConfig
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


def _hub_refusal(error: BaseException) -> str | None:
    """Why the Hugging Face Hub would not hand a model over, read off `error` and what caused it
    (transformers re-raises the Hub's errors as an OSError `from` them), or None for any other error."""
    from huggingface_hub.utils import (GatedRepoError, LocalEntryNotFoundError, OfflineModeIsEnabled,
                                       RepositoryNotFoundError)

    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    text = "\n".join(map(str, chain))
    if any(isinstance(e, GatedRepoError) for e in chain) or "gated repo" in text:
        return "it is gated: the Hub hands it only to a logged-in account that has accepted its licence"
    if any(isinstance(e, RepositoryNotFoundError) for e in chain) or "is not a local folder" in text or "401" in text:
        return ("it is neither a local folder nor a model the Hub shows you (a typo, or a private or gated model "
                "that needs a login)")
    if any(isinstance(e, (LocalEntryNotFoundError, OfflineModeIsEnabled)) for e in chain) or "couldn't connect" in text:
        return "it is not in the Hugging Face cache and the Hub cannot be reached (no internet, or HF_HUB_OFFLINE=1)"
    return None


@contextmanager
def hub_errors(name: str, setting: str = "student"):
    """Load `name` (the value of `setting`) inside this: a model the Hub refuses (gated, 401, not
    found, offline) becomes a `ConfigError` that names it and says what to do; other errors pass."""
    try:
        yield
    except OSError as error:
        reason = _hub_refusal(error)
        if reason is None:
            raise
        raise ConfigError(
            f"cannot load {setting} {name!r}: {reason}. Log in to the Hugging Face Hub (`hf auth login`, "
            f"`huggingface-cli login` with an older huggingface_hub, or set HF_TOKEN to a token from "
            f"https://huggingface.co/settings/tokens), accept the licence on https://huggingface.co/{name} if "
            f"the model is gated (LLaMA is), or point {setting} at a local folder that holds the model "
            f"(--set {setting}='\"/path/to/folder\"'; in a notebook cfg.replace({setting}=\"/path/to/folder\"))"
        ) from error


def require_safetensors(location: str, family: StudentFamily, setting: str = "student") -> None:
    """Refuse a local folder without safetensors weights, naming it and saying how to convert it.

    Students load with `use_safetensors=True` only: a pickled `pytorch_model.bin` can run code
    when it is loaded. A hub id is left to `from_pretrained` (`hub_errors` words its refusal).
    """
    folder = Path(location)
    if not folder.is_dir() or any((folder / name).is_file() for name in ("model.safetensors",
                                                                         "model.safetensors.index.json")):
        return
    pickled = [name for name in ("pytorch_model.bin", "pytorch_model.bin.index.json") if (folder / name).is_file()]
    loader = family.model_class.__name__
    convert = (f"python -c \"from transformers import {loader}; {loader}.from_pretrained('{folder}', dtype='auto')"
               f".save_pretrained('{folder}', safe_serialization=True)\"")
    if pickled:
        raise ConfigError(
            f"{setting} folder {folder} holds its weights as {pickled[0]} only, and kpod-lite loads safetensors "
            f"only (a pickled .bin file can run code when it is loaded). If you trust the file, convert it once: "
            f"{convert}, then delete the .bin files; or use a checkpoint that ships model.safetensors")
    raise ConfigError(f"{setting} folder {folder} holds no model weights (model.safetensors): point {setting} at "
                      f"a folder written by save_pretrained, or at a hub id")


def student_family(config: KPODConfig) -> StudentFamily:
    """Seq2seq or causal, read from the student's own model config (`kpod_lite.families`)."""
    from transformers import AutoConfig

    with hub_errors(config.student):
        model_config = AutoConfig.from_pretrained(_model_location(config), trust_remote_code=config.trust_remote_code)
    return family_of(model_config)


def load_tokenizer(config: KPODConfig):
    """The student's tokenizer, ready for batching.

    Causal (LLaMA-family) tokenizers often have no pad token; they get `eos` as pad
    (`StudentFamily.prepare_tokenizer`). Two consequences for callers: mask labels with the
    attention mask, not by `pad_token_id` (which would also hide the real `</s>` the student
    must learn to emit), and pad prompts for a batched `generate` on the family's
    `generation_padding_side`. Padding stays on the right here, which is what training wants.
    """
    from transformers import AutoTokenizer

    with hub_errors(config.student):
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


def _no_cuda() -> str:
    """Why torch sees no CUDA GPU, in words."""
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is built without CUDA"
    return (f"torch {torch.__version__} (CUDA {torch.version.cuda}) finds no GPU (none attached, no driver, or "
            f"CUDA_VISIBLE_DEVICES hides it)")


def student_device(config: KPODConfig) -> torch.device:
    """Where the students of `config` run: `config.device`, "auto" meaning the GPU when there is one.

    Without a GPU, "auto" runs only the local builds (`is_local_build`: the tiny and rehearsal
    students, made for a CPU); any other student is refused, since on a CPU it would run every
    stage in float32 for hours or days. So is "cuda" without one. "cpu" insists on the CPU.
    """
    if config.device == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if config.device == "cuda":
        raise ConfigError(f"device 'cuda' is set, but {_no_cuda()}. Run on a GPU machine, or set device to 'auto' "
                          f"or 'cpu' (kpod-lite ... --device cpu)")
    big = [name for name in (config.student, config.weighting_predictor) if name and not is_local_build(name)]
    if big:
        raise ConfigError(
            f"preset {config.name!r} runs {big[0]!r}, a model for a GPU, but {_no_cuda()}: on a CPU every stage "
            f"would run in float32, for hours or days. Run it on a GPU (Colab: Runtime > Change runtime type > "
            f"GPU), or insist on the CPU: kpod-lite run --device cpu (in a notebook: "
            f"cfg = cfg.replace(device=\"cpu\"))")
    return torch.device("cpu")


def describe_device(config: KPODConfig, device: torch.device | None = None) -> str:
    """One line, printed when a run starts: where the students run (`student_device`), the GPU's
    name and memory, the dtype of their weights (`student_dtype`), and the GPUs left unused."""
    device = device if device is not None else student_device(config)
    dtype = str(student_dtype(config, device)).removeprefix("torch.")
    if device.type != "cuda":
        return f"device: cpu ({torch.get_num_threads()} threads), {dtype}"
    index = device.index if device.index is not None else torch.cuda.current_device()
    properties = torch.cuda.get_device_properties(index)
    line = f"device: cuda:{index} ({properties.name}, {properties.total_memory / 2 ** 30:.1f} GiB), {dtype}"
    unused = torch.cuda.device_count() - 1
    return line + (f"; {unused} more GPU(s) visible and unused (one GPU per run)" if unused else "")


def model_cuda_devices(model) -> list[int]:
    """The CUDA devices that hold `model`'s parameters, for `torch.random.fork_rng(devices=...)`
    and the CUDA random states a checkpoint keeps: asking every visible GPU instead would create
    a CUDA context (hundreds of MiB) on each."""
    return sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})


def load_student(config: KPODConfig, device: str | torch.device | None = None):
    """`(model, tokenizer)` for `config.student`, on `device` (default: `student_device(config)`,
    which refuses a GPU student on a machine without one; a device given here is taken as asked).

    A hub id or a local folder loads with `from_pretrained` (FlanT5 as a seq2seq model, LLaMA
    as a causal one), with `trust_remote_code` from the config (off by default) and safetensors
    only. `tiny-t5` / `tiny-llama` load the same way from their cached build. LoRA is not
    applied here: Eq. 8 scores steps with the plain pre-trained student; call `apply_lora`
    before distillation.
    """
    device = torch.device(device) if device is not None else student_device(config)
    location, family = _model_location(config), student_family(config)
    require_safetensors(location, family)
    with hub_errors(config.student):
        model = family.model_class.from_pretrained(
            location,
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
