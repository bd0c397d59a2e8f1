"""Rehearsal students: the GPU presets' students (App. A: FlanT5-Large, LLaMA-7B) at a size a
CPU trains in seconds, built here with random weights, so the GPU presets' code path can be
rehearsed where no model can be downloaded (a laptop, CI).

A rehearsal student is what a hub checkpoint is to `models.load_student`: a folder holding
`config.json`, `model.safetensors` and the tokenizer's files, loaded with `from_pretrained` as
the published class (`T5ForConditionalGeneration`, `LlamaForCausalLM`). What is kept from the
real student and what is cut:

| student                   | kept                                               | cut                      |
|---------------------------|----------------------------------------------------|--------------------------|
| `rehearsal-flan-t5-large` | FlanT5-Large's published config: width 1024, d_ff 2816, 16 heads, gated-GELU, the untied 32128-row head, dropout 0.1 | depth: 1 encoder + 1 decoder layer (of 24 + 24) |
| `rehearsal-llama-7b`      | LLaMA-7B's config: head size 128, SiLU gate, RMS norm, RoPE, the untied 32000-row head, no pad token | width 512 (4 heads, d_ff 1376, of 4096, 32, 11008) and depth 2 (of 32) |

Both carry their family's SentencePiece stand-in tokenizer (`models.standins`: T5's unigram
with `<unk>`, LLaMA's BPE with byte fallback), whose ids index the published tables. LLaMA-7B
is cut in width too because at full width one layer is ~0.5B parameters, tens of seconds a
training step on 2 cores; its family's code (causal labels, left padding for generation, a
pad token borrowed from `</s>`, LoRA on q_proj/v_proj) does not depend on the width.

Weights are random, so a rehearsal says nothing about accuracy: it proves that every stage
runs, on the tokenizers, classes, LoRA targets, gradient checkpointing and dtypes of the real
students. Each build is seeded, takes a few seconds, and is cached under the user's cache
folder (`models.cache_root`), named by a hash of its config and tokenizer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from kpod_lite.errors import ConfigError

__all__ = ["RehearsalSpec", "REHEARSAL_STUDENTS", "is_rehearsal_student", "rehearsal_model_config",
           "rehearsal_model_path"]

REHEARSAL_PREFIX = "rehearsal-"
REHEARSAL_BUILD_VERSION = 1  # bump when the build changes what weights a spec gives


@dataclass(frozen=True)
class RehearsalSpec:
    """A published architecture (`models.published.PUBLISHED`) at `depth` layers per stack,
    with some config fields changed (`shape`: the width of LLaMA's twin)."""

    published: str
    depth: int
    shape: dict = field(default_factory=dict)
    seed: int = 0


REHEARSAL_STUDENTS: dict[str, RehearsalSpec] = {
    "rehearsal-flan-t5-large": RehearsalSpec("google/flan-t5-large", depth=1),
    "rehearsal-llama-7b": RehearsalSpec("huggyllama/llama-7b", depth=2, shape={
        "hidden_size": 512, "intermediate_size": 1376, "num_attention_heads": 4, "num_key_value_heads": 4,
        "head_dim": 128}),
}


def is_rehearsal_student(name: str) -> bool:
    return name in REHEARSAL_STUDENTS


def rehearsal_model_config(name: str):
    """The model config of a rehearsal student, without building it."""
    from kpod_lite.models.published import published_config

    if name not in REHEARSAL_STUDENTS:
        raise ConfigError(f"unknown rehearsal student {name!r}; choose one of {sorted(REHEARSAL_STUDENTS)}")
    spec = REHEARSAL_STUDENTS[name]
    config = published_config(spec.published, spec.depth)
    for key, value in spec.shape.items():
        setattr(config, key, value)
    return config


def _key(name: str, tokenizer_folder: Path) -> str:
    import torch
    import transformers

    identity = {"version": REHEARSAL_BUILD_VERSION, "config": rehearsal_model_config(name).to_dict(),
                "seed": REHEARSAL_STUDENTS[name].seed, "tokenizer": tokenizer_folder.name,
                "torch": torch.__version__, "transformers": transformers.__version__}
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def _build(name: str, tokenizer_folder: Path, out: Path) -> None:
    import torch

    from kpod_lite.families import family_of
    from kpod_lite.models.published import untie_head

    config = rehearsal_model_config(name)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(REHEARSAL_STUDENTS[name].seed)
        model = family_of(config).model_class.from_config(config)
    untie_head(model)  # as the released checkpoints hold it (models.published)
    model.save_pretrained(out, safe_serialization=True)
    for item in tokenizer_folder.iterdir():
        if item.is_file() and not item.name.endswith(".lock"):
            shutil.copy2(item, out / item.name)
    (out / "build.json").write_text(json.dumps({"student": name, "published": REHEARSAL_STUDENTS[name].published},
                                               indent=1) + "\n", encoding="utf-8")


def rehearsal_model_path(name: str) -> Path:
    """The cached folder of a rehearsal student, built first if needed (seconds, once; safe when
    several processes ask at once: one builds under a file lock, into a folder renamed into place)."""
    from kpod_lite.models import cache_root
    from kpod_lite.models.standins import standin_tokenizer_path

    config = rehearsal_model_config(name)
    tokenizer_folder = standin_tokenizer_path(config.model_type)
    folder = cache_root() / "models" / f"{name}-{_key(name, tokenizer_folder)}"
    if (folder / "build.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / "build.json").is_file():
            return folder
        if folder.exists():
            shutil.rmtree(folder)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        try:
            _build(name, tokenizer_folder, scratch)
            os.replace(scratch, folder)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return folder
