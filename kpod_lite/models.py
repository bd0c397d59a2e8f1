"""Students and their tokenizers: loading them, building the tiny local ones, and LoRA (App. A).

KPOD distils a teacher's rationales into a small student: FlanT5-Large/XL (a seq2seq model)
or LLaMA-7B (a causal model), trained with LoRA (Feng et al., ICML 2024, App. A: rank 128
for FlanT5, 64 for LLaMA-7B). The student is needed twice before distillation starts:

- its **input embedding layer** initialises the token weighting module of §3.3 ("the input
  embedding layer in this module aligns with the pretrained student model's input embedding
  layer for the consistency of tokenizer", App. A), see `student_input_embeddings`;
- the **pre-trained student before distillation** scores how hard each rationale step is
  (Eq. 8, d_k = -sum_j w^_j log P(r_j | r_<j, x; theta^s)). A randomly initialised model would
  make every step equally (and meaninglessly) hard, so the tiny students are pretrained.

Big students come from the model hub (or a local folder) through `from_pretrained`. No hub is
reachable from a laptop course or from CI, so the `tiny` preset uses two students this module
builds itself, once, and caches in the user's cache folder:

- a byte-level BPE tokenizer trained on synthetic problems, with digits split one by one
  (numbers are composed from digit tokens, as in LLaMA's tokenizer);
- `tiny-t5`: a `T5ForConditionalGeneration` shaped like FlanT5 (gated-GELU feed-forward,
  untied output layer), pretrained with T5's span-corruption objective;
- `tiny-llama`: a `LlamaForCausalLM`, pretrained with next-token prediction.

Both are pretrained on questions and on teacher-style rationales as *separate* documents:
they learn the language of the problems, never the question -> rationale mapping, which is
what distillation teaches them later. Each build is seeded and deterministic on a given CPU,
takes about a minute for both on 2 CPU cores, and is saved with `save_pretrained` (safetensors) into
a folder named by a hash of everything that determines the weights. `tiny_model_path` gives
that folder, so the tiny path is the very same `from_pretrained` path the big models take.

>>> from kpod_lite.config import preset
>>> model, tokenizer = load_student(preset("tiny"))          # doctest: +SKIP
>>> model = apply_lora(model, preset("tiny", lora_rank=8))   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import math
import os
import random
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from filelock import FileLock

from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.families import StudentFamily, family_of, lora_target_modules
from kpod_lite.templates import build_prompt, format_rationale_target

log = logging.getLogger(__name__)

# Bump whenever the build code changes what weights a given TinySpec produces.
BUILD_VERSION = 2

CACHE_ENV = "KPOD_CACHE"

# --- where things are cached ---------------------------------------------------------------


def cache_root() -> Path:
    """The user's kpod-lite cache folder: `$KPOD_CACHE`, else `$XDG_CACHE_HOME/kpod-lite`,
    else `~/.cache/kpod-lite` (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "kpod-lite"
    return Path.home() / ".cache" / "kpod-lite"


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

    def replace(self, **changes) -> "TinySpec":
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown tiny-model setting(s) {sorted(unknown)}")
        return dataclasses.replace(self, **changes)


TINY_SPECS: dict[str, TinySpec] = {
    "tiny-t5": TinySpec(model_type="t5", layers=2, d_ff=384),
    "tiny-llama": TinySpec(model_type="llama", layers=2, d_ff=344),  # LLaMA's 8/3 x d_model
}

# One vocabulary for both: pad, eos, unk and bos first (T5 wants pad = 0 as its decoder
# start token), then T5's sentinels.
PAD, EOS, UNK, BOS = "<pad>", "</s>", "<unk>", "<s>"


def sentinel_tokens(n: int) -> list[str]:
    """T5's span-corruption sentinels `<extra_id_0>`, `<extra_id_1>`, ..."""
    return [f"<extra_id_{i}>" for i in range(n)]


# --- the pretraining corpus ------------------------------------------------------------------


def pretraining_corpus(seed: int, size: int, exclude: frozenset[str] = frozenset()) -> list[str]:
    """Plain-text documents from `size` synthetic problems drawn from `seed`.

    Each problem gives two documents: its question as the student reads it (the §3.1
    template "Q: <x>\\nA: Let's think step by step.") and, on its own, a teacher-style
    rationale with its answer sentence, "<r> Therefore, the answer is <y>." Problems whose
    question document is in `exclude` are skipped (held-out text must be unseen).
    """
    # Imported here: the synthetic generator is needed only to build the tiny students.
    from kpod_lite.synthetic import generate_dataset

    documents = []
    for problem in generate_dataset(size, seed=seed, prefix="pretrain"):
        question = build_prompt(problem.question)
        if question not in exclude:
            documents += [question, format_rationale_target(problem.rationale, problem.answer)]
    return documents


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


# --- the tokenizer ---------------------------------------------------------------------------


def train_tokenizer(texts, vocab_size: int = 1024, sentinels: int = 16):
    """A byte-level BPE `tokenizers.Tokenizer` trained on `texts`, digits split one by one.

    Digits are pre-split so that "123" is always "1", "2", "3": a number's tokens then spell
    its digits, as in LLaMA's tokenizer, and the student must compose numbers digit by digit
    rather than memorise them. Byte-level BPE (GPT-2's scheme) starts from all 256 bytes, so:

    - decode(encode(text)) == text exactly, for any text (spaces and punctuation included);
    - a character never seen in training is written as its UTF-8 bytes, one token per byte
      ("é" becomes two byte tokens), so nothing is ever unknown; `<unk>` exists only because
      `transformers` expects one, and encoding never produces it.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False),  # no invented space: exact round trip
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, EOS, UNK, BOS] + sentinel_tokens(sentinels),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def wrap_tokenizer(tokenizer, model_type: str, model_max_length: int = 512):
    """The trained tokenizer as a `PreTrainedTokenizerFast` that behaves like its family's.

    Like FlanT5's, the T5 variant appends `</s>` to every sequence and pads with `<pad>`.
    Like LLaMA's, the LLaMA variant prepends `<s>` and has no pad token (`load_tokenizer`
    gives it one). Decoding never cleans up spaces, which would break the round trip.
    """
    from tokenizers import Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer.from_str(tokenizer.to_str())  # a copy: the two families differ
    ids = {token: tokenizer.token_to_id(token) for token in (PAD, EOS, BOS)}
    if model_type == "t5":
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"$A {EOS}", pair=f"$A {EOS} $B {EOS}", special_tokens=[(EOS, ids[EOS])])
        specials = dict(pad_token=PAD, eos_token=EOS, unk_token=UNK,
                        extra_special_tokens=sentinel_tokens(_sentinel_count(tokenizer)))
    else:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, ids[BOS])])
        specials = dict(bos_token=BOS, eos_token=EOS, unk_token=UNK)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, clean_up_tokenization_spaces=False,
                                   model_max_length=model_max_length, **specials)


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


def span_corrupt(ids: list[int], rng: random.Random, sentinel_ids: list[int], eos_id: int,
                 noise_density: float = 0.15, mean_span_length: float = 3.0) -> tuple[list[int], list[int]]:
    """T5's span-corruption pair (Raffel et al., 2020, §3.1.4) for one document.

    About 15% of the tokens, in spans of 3 on average, are cut out; the input keeps the rest
    with a sentinel where each span was, the target lists each sentinel and its span:

        ids    : Ana has 1 2 eggs .       input : Ana <extra_id_0> eggs . </s>
                                          target: <extra_id_0> has 1 2 </s>
    """
    n = len(ids)
    if n < 2:
        raise ValueError(f"span corruption needs a document of at least 2 tokens, got {n}")
    n_noise = min(max(1, round(n * noise_density)), n - 1)
    n_spans = max(1, min(round(n_noise / mean_span_length), len(sentinel_ids), n - n_noise))
    noise_lengths = _random_partition(n_noise, n_spans, rng)
    keep_lengths = _random_partition(n - n_noise, n_spans, rng)  # the document starts with kept text
    inputs, targets, position = [], [], 0
    for sentinel, keep, noise in zip(sentinel_ids, keep_lengths, noise_lengths):
        inputs += ids[position:position + keep] + [sentinel]
        position += keep
        targets += [sentinel] + ids[position:position + noise]
        position += noise
    return inputs + [eos_id], targets + [eos_id]


def _random_partition(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` split into `parts` positive lengths, uniformly at random."""
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0] + cuts, cuts + [total])]


def _pretraining_batch(documents: list[list[int]], model_type: str, tokenizer, rng: random.Random) -> dict:
    """Token ids of a few documents as a padded batch with labels (-100 where nothing to predict).

    T5: a span-corruption pair per document. LLaMA: "<s> text </s>", next-token prediction;
    LLaMA has no pad token, so padding repeats `</s>` and is masked by the attention mask.
    """
    if model_type == "t5":
        sentinels = tokenizer.convert_tokens_to_ids(sentinel_tokens(_sentinel_count(tokenizer)))
        pairs = [span_corrupt(ids, rng, sentinels, tokenizer.eos_token_id) for ids in documents]
        inputs, mask = pad_right([p[0] for p in pairs], tokenizer.pad_token_id)
        labels, _ = pad_right([p[1] for p in pairs], -100)
        return {"input_ids": inputs, "attention_mask": mask, "labels": labels}
    sequences = [[tokenizer.bos_token_id] + ids + [tokenizer.eos_token_id] for ids in documents]
    inputs, mask = pad_right(sequences, tokenizer.eos_token_id)
    return {"input_ids": inputs, "attention_mask": mask, "labels": inputs.masked_fill(mask == 0, -100)}


def _sentinel_count(tokenizer) -> int:
    """How many `<extra_id_i>` a tokenizer (ours or a `transformers` one) has."""
    return sum(1 for token in tokenizer.get_vocab() if token.startswith("<extra_id_"))


def pad_right(sequences: list[list[int]], value: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids, attention mask) of token-id rows padded on the right with `value`; shared by every
    module that batches token ids by hand (pretraining, weighting, difficulty)."""
    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), value, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, :len(sequence)] = 1
    return ids, mask


def _encode(tokenizer, texts, max_length: int) -> list[list[int]]:
    # Special tokens are added per objective in _pretraining_batch; leave room for two.
    encoded = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    return [ids[:max_length - 2] for ids in encoded]


@torch.no_grad()
def pretraining_loss(model, tokenizer, texts, model_type: str, seed: int = 0, batch_size: int = 32) -> float:
    """Mean per-token cross-entropy (nats) of a tiny student's pretraining objective on `texts`.

    Span corruption for T5, next-token prediction for LLaMA; a random model scores about
    log(vocabulary size). The T5 corruption is drawn from `seed`, so the value is repeatable.
    """
    was_training = model.training
    model.eval()
    rng = random.Random(seed)
    documents = _encode(tokenizer, texts, tokenizer.model_max_length)
    total, count = 0.0, 0
    for start in range(0, len(documents), batch_size):
        batch = _pretraining_batch(documents[start:start + batch_size], model_type, tokenizer, rng)
        batch = {key: value.to(model.device) for key, value in batch.items()}
        outputs, labels = family_of(model).forward(model, batch["labels"], input_ids=batch["input_ids"],
                                                   attention_mask=batch["attention_mask"])
        logits = outputs.logits
        total += torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                   ignore_index=-100, reduction="sum").item()
        count += int((labels != -100).sum())
    model.train(was_training)
    return total / count


def _length_bucketed_batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """One shuffled pass over the documents, as batches of documents of similar length.

    Questions are about half as long as rationales; batching them apart roughly halves the
    padding, and so a third of the compute of a CPU build.
    """
    order = rng.sample(range(len(lengths)), len(lengths))
    window = batch_size * 16
    batches = []
    for start in range(0, len(order), window):
        bucket = sorted(order[start:start + window], key=lengths.__getitem__)
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    rng.shuffle(batches)
    return batches


def _pretrain(model, tokenizer, documents: list[list[int]], spec: TinySpec) -> list[list[float]]:
    """AdamW with warm-up and cosine decay; returns the loss curve [[step, mean loss], ...]."""
    rng = random.Random(spec.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.learning_rate, weight_decay=0.01)
    warmup = max(1, spec.steps // 20)

    def learning_rate_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, spec.steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate_factor)
    log_every = max(1, spec.steps // 20)
    curve, window = [], []
    batches: list[list[int]] = []
    model.train()
    for step in range(spec.steps):
        if not batches:
            batches = _length_bucketed_batches([len(ids) for ids in documents], spec.batch_size, rng)
        batch = _pretraining_batch([documents[i] for i in batches.pop()], spec.model_type, tokenizer, rng)
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        window.append(loss.item())
        if (step + 1) % log_every == 0 or step + 1 == spec.steps:
            curve.append([step + 1, round(sum(window) / len(window), 4)])
            log.info("pretraining %s: step %d/%d, loss %.3f", spec.model_type, step + 1, spec.steps, curve[-1][1])
            window = []
    model.eval()
    return curve


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
    tokenizer = wrap_tokenizer(train_tokenizer(train_texts, spec.vocab_size, spec.sentinels), spec.model_type)
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
            curve = _pretrain(model, tokenizer, documents, spec)
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
    """The recipe of `tiny-t5` or `tiny-llama`, with settings changed (e.g. smaller for tests)."""
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
    identity = {
        "build_version": BUILD_VERSION,
        "spec": dataclasses.asdict(spec),
        "corpus": corpus,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def tiny_model_path(name: str, **overrides) -> Path:
    """The cached folder of a tiny student, built first if needed (about a minute, once).

    `from_pretrained(tiny_model_path("tiny-t5"))` loads it like any hub model. Safe when
    several processes ask at once: one builds, under a file lock, into a temporary folder
    that is renamed into place when complete; the others wait and then read it.
    """
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
            record = build_tiny_model(spec, scratch)
            os.replace(scratch, folder)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    log.info("built %s in %.0f s: held-out loss %.3f (random: %.3f)", name, record["seconds"],
             record["heldout_loss"], record["random_loss"])
    return folder


# --- loading students --------------------------------------------------------------------------


def _model_location(config: KPODConfig) -> str:
    """A hub id or a folder for `config.student`; the tiny names resolve to their cached build."""
    if config.student in TINY_SPECS:
        return str(tiny_model_path(config.student))
    return config.student


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
        model.gradient_checkpointing_enable()
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
