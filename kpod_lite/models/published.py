"""The published students' architectures as `transformers` configs, written from their
published numbers, with random weights (no download): FlanT5-Large/XL and LLaMA-7B (App. A).

No model hub is reachable from this course's CI, so the GPU presets' memory (and any code
path that depends only on shapes) is checked on architecture-identical models: full width,
optionally reduced depth (`depth`), randomly initialised. The numbers are those of the
released checkpoints' `config.json` files (google/flan-t5-large, google/flan-t5-xl: T5 v1.1
shapes, Chung et al. 2022; LLaMA-7B: Touvron et al. 2023, Table 2):

| model          | d_model | d_ff  | heads x d_kv | layers        | vocab | parameters |
|----------------|---------|-------|--------------|---------------|-------|------------|
| FlanT5-Large   | 1024    | 2816  | 16 x 64      | 24 enc + 24 dec | 32128 | ~783M      |
| FlanT5-XL      | 2048    | 5120  | 32 x 64      | 24 enc + 24 dec | 32128 | ~2.85B     |
| LLaMA-7B       | 4096    | 11008 | 32 x 128     | 32            | 32000 | ~6.74B     |

All three keep their lm_head apart from the input embeddings: FlanT5-Large's 783M counts two
32128 x 1024 tables. transformers 5 builds every T5 with its lm_head tied to the shared
embeddings (750M) and unties it when a checkpoint holds both tables with different values,
as the released one does; transformers 4 reads `tie_word_embeddings`. So what a run loads is
783M under both, and `held_parameters` counts that whatever the installed version builds from
a config; `build_published` unties the head (tests/test_memory.py).

>>> parameter_count(published_config("huggyllama/llama-7b")) // 10**6
6738
"""

from __future__ import annotations

import torch

from kpod_lite.errors import ConfigError
from kpod_lite.families import family_of

__all__ = ["PUBLISHED", "published_config", "build_published", "save_published", "parameter_count",
           "held_parameters", "declares_untied_head", "untie_head"]


def _flan_t5(d_model: int, d_ff: int, heads: int, depth: int):
    from transformers import T5Config

    return T5Config(vocab_size=32128, d_model=d_model, d_ff=d_ff, d_kv=64, num_layers=depth,
                    num_decoder_layers=depth, num_heads=heads, feed_forward_proj="gated-gelu",
                    tie_word_embeddings=False, dropout_rate=0.1, layer_norm_epsilon=1e-6,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128,
                    pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def _llama_7b(depth: int):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=depth,
                       num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=2048,
                       rms_norm_eps=1e-6, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                       pad_token_id=None)


# name -> (builder(depth), published depth). Keys are the presets' `student` ids.
PUBLISHED = {
    "google/flan-t5-large": (lambda depth: _flan_t5(1024, 2816, 16, depth), 24),
    "google/flan-t5-xl": (lambda depth: _flan_t5(2048, 5120, 32, depth), 24),
    "huggyllama/llama-7b": (_llama_7b, 32),
}


def published_config(name: str, depth: int | None = None):
    """The `PretrainedConfig` of a published student; `depth` layers per stack (None: as published)."""
    if name not in PUBLISHED:
        raise ConfigError(f"no published architecture named {name!r}; choose one of {sorted(PUBLISHED)}")
    builder, full_depth = PUBLISHED[name]
    depth = full_depth if depth is None else depth
    if depth < 1:
        raise ConfigError(f"depth must be >= 1, got {depth}")
    return builder(depth)


def build_published(name: str, depth: int | None = None, dtype: torch.dtype = torch.float32, seed: int = 0):
    """A randomly initialised model of a published architecture (full width, `depth` layers)."""
    config = published_config(name, depth)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = family_of(config).model_class.from_config(config, dtype=dtype)
        untie_head(model)
        return model


def untie_head(model) -> None:
    """Give a model that transformers 5 built with its lm_head tied to the input embeddings (every
    T5) a head of its own, as the released FlanT5 checkpoints have; a model already untied is
    left alone. The tie leaves its tie map too, which saving and loading follow. The head is
    drawn (at the embeddings' scale), not copied: a checkpoint whose two tables are equal is
    tied again on load. An explicit `model.tie_weights()` still ties it again under
    transformers 5, which rebuilds the map from a config that ties every T5: it does the same
    to the released FlanT5 loaded from the hub, and nothing in kpod_lite calls it."""
    if not _head_is_tied(model):
        return
    embeddings = model.get_input_embeddings().weight
    model.get_output_embeddings().weight = torch.nn.Parameter(torch.randn_like(embeddings) * embeddings.std())
    getattr(model, "all_tied_weights_keys", {}).pop("lm_head.weight", None)


def _head_is_tied(model) -> bool:
    head = model.get_output_embeddings()
    return head is not None and head.weight is model.get_input_embeddings().weight


def save_published(name: str, folder, depth: int | None = None, seed: int = 0, tokenizer=None):
    """Write a random-weight `build_published(name, depth)` to `folder` as a local student:
    `save_pretrained` in safetensors, plus a tokenizer's files (default: the family's SentencePiece
    stand-in, `kpod_lite.models.standins`), so `cfg.student = str(folder)` loads it with
    `models.load_student` as a hub checkpoint would. `tokenizer`: a folder of tokenizer files to
    copy instead. Returns the folder as a `Path`. The stand-ins' ids (~1,000 pieces) fit inside
    the published embedding tables (32128, 32000)."""
    import shutil
    from pathlib import Path

    from kpod_lite.models.standins import standin_tokenizer_path

    folder = Path(folder)
    model = build_published(name, depth, seed=seed)
    model.save_pretrained(folder, safe_serialization=True)
    source = Path(tokenizer) if tokenizer is not None else standin_tokenizer_path(model.config.model_type)
    del model
    for item in source.iterdir():
        if item.is_file() and not item.name.endswith(".lock"):
            shutil.copy2(item, folder / item.name)
    return folder


def declares_untied_head(model_config) -> bool:
    """Whether checkpoints of this architecture keep lm_head apart from the input embeddings:
    transformers 4 says so in `tie_word_embeddings`; transformers 5 sets that True for every T5
    and keeps what a T5 v1.1 config (FlanT5's) said in `scale_decoder_outputs`."""
    return (getattr(model_config, "tie_word_embeddings", True) is False
            or getattr(model_config, "scale_decoder_outputs", None) is False)


def held_parameters(model) -> int:
    """The values a released checkpoint of `model`'s architecture holds: shared tensors count
    once, except an lm_head that this transformers ties to the embeddings while the config
    declares it untied (the released checkpoint holds both tables, and loading it unties them).
    A T5 built from its config under transformers 5 and saved as built (the tiny T5) holds one
    table fewer than counted, so its memory estimate errs high by that table."""
    count = sum(p.numel() for p in model.parameters())
    if _head_is_tied(model) and declares_untied_head(model.config):
        count += model.get_output_embeddings().weight.numel()
    return count


def parameter_count(model_config) -> int:
    """`held_parameters` of a model built from `model_config` on the meta device (nothing is
    allocated, so a 7B model costs no memory)."""
    with torch.device("meta"):
        model = family_of(model_config).model_class.from_config(model_config)
    return held_parameters(model)
