"""The tiny local students: their recipe (`TinySpec`), their corpora, their build, and the
folder each build lives in (under `models.cache.cache_root`), named by a hash of everything
that sets its weights. How they are pretrained, and on what text, is `models.pretraining`."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock

from kpod_lite.config import ConfigError
from kpod_lite.families import family_of
from kpod_lite.models.cache import cache_root
from kpod_lite.models.pretraining import _encode, _pretrain, pretraining_corpus, pretraining_loss
from kpod_lite.models.tokenizer import train_tokenizer, wrap_tokenizer

log = logging.getLogger(__name__)

# Bump whenever the build code changes what weights a given TinySpec produces.
BUILD_VERSION = 2

# --- the tiny students' recipe ---------------------------------------------------------------


@dataclass(frozen=True)
class TinySpec:
    """Everything that determines a tiny student's weights, apart from the build code itself.

    Sizes follow FlanT5 and LLaMA in shape, not in scale. `layers` counts the encoder and the
    decoder stack separately for T5 (2 + 2), the decoder blocks for LLaMA (2). The sizes and
    steps keep both builds together within about a minute on 2 CPU cores. The corpus seeds
    start at 10_000, far from the shipped synthetic splits (seeds from 0), so pretraining
    never sees a test question.
    """

    model_type: str  # "t5" (seq2seq, like FlanT5) or "llama" (causal, like LLaMA)
    d_model: int = 128
    layers: int = 2
    heads: int = 4
    d_ff: int = 384
    vocab_size: int = 1024  # an upper bound: BPE stops early once every word is one token
    sentinels: int = 16  # T5's <extra_id_i> tokens for span corruption
    corpus_seed: int = 10_000
    corpus_size: int = 2000  # synthetic problems; each gives two documents
    heldout_seed: int = 10_001
    heldout_size: int = 100
    max_length: int = 192  # tokens per pretraining document (the longest is about 160)
    steps: int = 300
    batch_size: int = 16
    learning_rate: float = 3e-3
    seed: int = 0
    # "bpe": the project's byte-level BPE (`models.tokenizer`); "spm": the SentencePiece
    # stand-in for the family's real tokenizer (`models.standins`), whose size is its own
    # (`vocab_size` and `sentinels` above then do not apply).
    tokenizer: str = "bpe"

    def replace(self, **changes) -> "TinySpec":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown tiny-model setting(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)


TINY_SPECS: dict[str, TinySpec] = {
    "tiny-t5": TinySpec(model_type="t5", layers=2, d_ff=384),
    "tiny-llama": TinySpec(model_type="llama", layers=2, d_ff=344),  # LLaMA's 8/3 x d_model
    # The same students on SentencePiece tokenizers built like FlanT5's and LLaMA's: what the
    # real students' "▁" pieces, <unk> and special tokens do to Eq. 3, 8 and 15, on a CPU.
    "tiny-t5-spm": TinySpec(model_type="t5", layers=2, d_ff=384, tokenizer="spm"),
    "tiny-llama-spm": TinySpec(model_type="llama", layers=2, d_ff=344, tokenizer="spm"),
}


# --- the corpora (`pretraining.pretraining_corpus`) ----------------------------------------------


@functools.lru_cache(maxsize=8)
def _corpora(spec: TinySpec) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training documents, held-out documents) of a spec, computed once per process."""
    train = pretraining_corpus(spec.corpus_seed, spec.corpus_size)
    heldout = pretraining_corpus(spec.heldout_seed, spec.heldout_size, exclude=frozenset(train[0::2]))
    return tuple(train), tuple(heldout)


def heldout_corpus(name_or_spec: str | TinySpec) -> list[str]:
    """Synthetic text the tiny student never saw during pretraining (for checking it)."""
    spec = TINY_SPECS[name_or_spec] if isinstance(name_or_spec, str) else name_or_spec
    return list(_corpora(spec)[1])


# --- the tiny models -------------------------------------------------------------------------


def tiny_model_config(spec: TinySpec, vocab_size: int, tokenizer):
    """The `T5Config` or `LlamaConfig` of a tiny student (randomly initialised from it)."""
    from transformers import LlamaConfig, T5Config

    if spec.model_type == "t5":
        return T5Config(
            vocab_size=vocab_size, d_model=spec.d_model, d_kv=spec.d_model // spec.heads,
            d_ff=spec.d_ff, num_layers=spec.layers, num_decoder_layers=spec.layers,
            num_heads=spec.heads, feed_forward_proj="gated-gelu",  # FlanT5 (T5 v1.1) style
            # No dropout: a few hundred steps on this corpus do not overfit, and it slows them.
            tie_word_embeddings=False, dropout_rate=0.0,
            pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
            decoder_start_token_id=tokenizer.pad_token_id,
        )
    if spec.model_type == "llama":
        return LlamaConfig(
            vocab_size=vocab_size, hidden_size=spec.d_model, intermediate_size=spec.d_ff,
            num_hidden_layers=spec.layers, num_attention_heads=spec.heads,
            num_key_value_heads=spec.heads, max_position_embeddings=512, rms_norm_eps=1e-6,
            tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=None,
        )
    raise ConfigError(f"tiny model_type must be 't5' or 'llama', got {spec.model_type!r}")


def _student_tokenizer(spec: TinySpec, train_texts):
    """The tokenizer a tiny student is built with: byte-level BPE trained on its corpus, or the
    cached SentencePiece stand-in of its family (`spec.tokenizer`)."""
    if spec.tokenizer == "bpe":
        return wrap_tokenizer(train_tokenizer(train_texts, spec.vocab_size, spec.sentinels), spec.model_type)
    if spec.tokenizer == "spm":
        from transformers import AutoTokenizer

        from kpod_lite.models.standins import standin_tokenizer_path

        return AutoTokenizer.from_pretrained(standin_tokenizer_path(spec.model_type))
    raise ConfigError(f"tiny tokenizer must be 'bpe' or 'spm', got {spec.tokenizer!r}")


def build_tiny_model(spec: TinySpec, out_dir: Path | str) -> dict:
    """Train the tokenizer, initialise the model from its config, pretrain it, save both.

    Deterministic: the same spec gives the same weights on every run on a given CPU (the
    seeds are fixed, torch's global random state is forked and restored, and the thread
    count is pinned during the build, since it can change the order of float sums).
    Returns the build record also written to `build.json`.
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    train_texts, heldout_texts = _corpora(spec)
    tokenizer = _student_tokenizer(spec, train_texts)
    vocab_size = len(tokenizer)
    config = tiny_model_config(spec, vocab_size, tokenizer)
    model_class = family_of(config).model_class
    threads = torch.get_num_threads()
    # One thread: matrices this small gain little from more, the weights then do not depend
    # on the machine's core count, and two notebooks building at once do not fight.
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(spec.seed)
            model = model_class.from_config(config)
            if spec.model_type == "t5":
                # T5 draws its untied output layer with std 1, so the first logits are huge
                # (loss ~40, not log V) and a short pretraining spends its first third on that.
                torch.nn.init.normal_(model.lm_head.weight, std=spec.d_model ** -0.5)
            documents = _encode(tokenizer, train_texts, spec.max_length)
            curve = _pretrain(model, tokenizer, documents, spec.model_type, steps=spec.steps,
                              batch_size=spec.batch_size, learning_rate=spec.learning_rate, seed=spec.seed)
            heldout = pretraining_loss(model, tokenizer, heldout_texts, spec.model_type, seed=spec.seed)
    finally:
        torch.set_num_threads(threads)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    record = {
        "spec": dataclasses.asdict(spec),
        "vocab_size": vocab_size,
        "parameters": sum(p.numel() for p in model.parameters()),
        "loss_curve": curve,
        "heldout_loss": round(heldout, 4),
        "random_loss": round(math.log(vocab_size), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    # Written last: a folder with build.json is a finished build.
    (out_dir / "build.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return record


def tiny_spec(name: str, **overrides) -> TinySpec:
    """The recipe of a tiny student (`TINY_SPECS`: `tiny-t5`, `tiny-llama` and their `-spm`
    twins), with settings changed (e.g. smaller for tests)."""
    if name not in TINY_SPECS:
        raise ConfigError(f"unknown tiny model {name!r}; choose one of {sorted(TINY_SPECS)}")
    return TINY_SPECS[name].replace(**overrides)


def tiny_model_key(spec: TinySpec) -> str:
    """A hash of everything that determines a tiny build's weights: the recipe, the corpus
    text itself (so a change in the synthetic generator or the template rebuilds), the build
    code version, and the library versions that initialise and train the model."""
    import tokenizers
    import transformers

    corpus = hashlib.sha256("\n\x00".join(_corpora(spec)[0]).encode("utf-8")).hexdigest()
    recipe = dataclasses.asdict(spec)
    if spec.tokenizer == "bpe":
        # Left out when it is the default, so the builds cached before the field existed stay valid.
        del recipe["tokenizer"]
    identity = {
        "build_version": BUILD_VERSION,
        "spec": recipe,
        "corpus": corpus,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }
    if spec.tokenizer == "spm":
        from kpod_lite.models.standins import standin_corpus, standin_key

        identity["standin"] = standin_key(spec.model_type, standin_corpus())
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def tiny_model_path(name: str, **overrides) -> Path:
    """The cached folder of a tiny student, built first if needed (about a minute, once).

    `from_pretrained(tiny_model_path("tiny-t5"))` loads it like any hub model. Safe when
    several processes ask at once: one builds, under a file lock, into a temporary folder
    that is renamed into place when complete; the others wait and then read it.
    """
    from kpod_lite import models  # the package, see build_tiny_model below

    spec = tiny_spec(name, **overrides)
    folder = cache_root() / "models" / f"{name}-{tiny_model_key(spec)}"
    if (folder / "build.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if (folder / "build.json").is_file():  # another process built it while we waited
            return folder
        for leftover in folder.parent.glob(f".{folder.name}.tmp-*"):  # from a killed build
            shutil.rmtree(leftover, ignore_errors=True)
        if folder.exists():  # incomplete, e.g. a user deleted files by hand
            shutil.rmtree(folder)
        log.info("building %s into %s (first use only)", name, folder)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
        try:
            # Looked up on the package, the name callers see: replacing `models.build_tiny_model`
            # (as a test does, to crash a build) reaches this call.
            record = models.build_tiny_model(spec, scratch)
            os.replace(scratch, folder)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    log.info("built %s in %.0f s: held-out loss %.3f (random: %.3f)", name, record["seconds"],
             record["heldout_loss"], record["random_loss"])
    return folder
