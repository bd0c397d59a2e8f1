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
reachable from a laptop course or from CI, so the `tiny` preset uses two students this package
builds itself, once, and caches in the user's cache folder:

- a byte-level BPE tokenizer trained on synthetic problems, with digits split one by one
  (numbers are composed from digit tokens, as in LLaMA's tokenizer);
- `tiny-t5`: a `T5ForConditionalGeneration` shaped like FlanT5 (gated-GELU feed-forward,
  untied output layer), pretrained with T5's span-corruption objective;
- `tiny-llama`: a `LlamaForCausalLM`, pretrained with next-token prediction.

`tiny-t5-spm` and `tiny-llama-spm` are the same two students on SentencePiece tokenizers built
like FlanT5's and LLaMA's (`kpod_lite.models.standins`: unigram with `<unk>`, BPE with byte
fallback), so the real students' tokenisation is tested on a CPU too.

All four are pretrained on questions and on teacher-style rationales as *separate* documents:
they learn the language of the problems, never the question -> rationale mapping, which is
what distillation teaches them later. Each build is seeded and deterministic on a given CPU,
takes about a minute for both on 2 CPU cores, and is saved with `save_pretrained` (safetensors) into
a folder named by a hash of everything that determines the weights. `tiny_model_path` gives
that folder, so the tiny path is the very same `from_pretrained` path the big models take.

>>> from kpod_lite.config import preset
>>> model, tokenizer = load_student(preset("tiny"))          # doctest: +SKIP
>>> model = apply_lora(model, preset("tiny", lora_rank=8))   # doctest: +SKIP
"""


# A package along the sections the old module had: `cache` (the cache folder), `tiny` (recipe,
# build), `tokenizer`, `pretraining` (corpus, span corruption, batches, loss, loop) and `loading`
# (students and LoRA); they import one another one way only (tests/test_model_imports.py).
# Everything public is re-exported here: `from kpod_lite.models import X` and `models.X` keep
# working.
from kpod_lite.models.cache import CACHE_ENV, cache_root
from kpod_lite.models.loading import (
    apply_lora,
    bf16_supported,
    is_local_build,
    load_student,
    load_tokenizer,
    student_dtype,
    student_family,
    student_input_embeddings,
    trainable_parameters,
)
from kpod_lite.models.pretraining import pad_right, pretraining_corpus, pretraining_loss, span_corrupt
from kpod_lite.models.standins import build_llama_standin_tokenizer, build_t5_standin_tokenizer
from kpod_lite.models.tiny import (
    BUILD_VERSION,
    TINY_SPECS,
    TinySpec,
    build_tiny_model,
    heldout_corpus,
    tiny_model_config,
    tiny_model_key,
    tiny_model_path,
    tiny_spec,
)
from kpod_lite.models.tokenizer import BOS, EOS, PAD, UNK, sentinel_tokens, train_tokenizer, wrap_tokenizer

__all__ = [
    "BOS", "BUILD_VERSION", "CACHE_ENV", "EOS", "PAD", "TINY_SPECS", "UNK", "TinySpec", "apply_lora",
    "bf16_supported", "build_llama_standin_tokenizer", "is_local_build", "build_t5_standin_tokenizer", "build_tiny_model", "cache_root", "heldout_corpus", "load_student", "load_tokenizer",
    "pad_right", "pretraining_corpus", "pretraining_loss", "sentinel_tokens", "span_corrupt", "student_dtype",
    "student_family", "student_input_embeddings", "tiny_model_config", "tiny_model_key", "tiny_model_path",
    "tiny_spec", "train_tokenizer", "trainable_parameters", "wrap_tokenizer",
]
