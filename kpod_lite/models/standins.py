"""SentencePiece stand-ins for FlanT5's and LLaMA's tokenizers, built here because neither can
be downloaded where the course is tested (a laptop, CI).

The real students of App. A tokenise with SentencePiece models, not with the byte-level BPE
the tiny students use (`kpod_lite.models.tokenizer`), and three things the rest of KPOD relies
on behave differently with them: the "▁" word marker (a separate "▁" piece before a number
or an operator shares its character span with that piece, which decides whose weight a target
token gets in Eq. 15, `kpod_lite.distill.examples.target_token_weights`), `<unk>` (FlanT5 has
no piece for "{", "÷", "×", "−", ..., `kpod_lite.symbols`), and the special tokens each family
adds. The stand-ins reproduce those, on a vocabulary trained in seconds on the project's own
text (synthetic problems as the tiny students are pretrained on, plus the questions and gold
solutions of `data_samples/formats/`, all written by the project):

* **T5-like** (`build_t5_standin_tokenizer`): a unigram model with T5's `nmt_nfkc` normaliser,
  `<pad>` = 0, `</s>` = 1, `<unk>` = 2, no `<s>`, no byte fallback, `</s>` appended to every
  sequence, `<extra_id_i>` sentinels after the pieces. The characters FlanT5's vocabulary
  lacks (`T5_MISSING_CHARACTERS`: "{", "}", "<", "\\\\", "÷", "×", "−"; "\\n" is whitespace to it)
  are removed from its training text, so they become `<unk>` as they do for the real one.
* **LLaMA-like** (`build_llama_standin_tokenizer`): a BPE model with byte fallback (an unseen
  character becomes its UTF-8 byte pieces `<0xE2>` ..., never `<unk>`), digits split one by
  one, no normalisation, `<unk>` = 0, `<s>` = 1, `</s>` = 2, `<s>` prepended, a dummy "▁"
  prefix on the first word (`add_dummy_prefix`), and no pad token (`load_tokenizer` gives it `</s>`).

Both are loaded by the same classes as the real ones: the SentencePiece model is converted
by transformers' own converter (`T5Tokenizer.from_pretrained` on a folder holding
`spiece.model`, `LlamaTokenizer` on `tokenizer.model`; these *are* `T5TokenizerFast` and
`LlamaTokenizerFast` in transformers 5) and saved with `save_pretrained`, so the cached folder
holds `tokenizer.json` and `tokenizer_config.json` as a hub checkpoint does, and
`AutoTokenizer.from_pretrained(folder)` loads it. (Why an earlier `T5TokenizerFast(vocab_file=...)`
gave only `<unk>`: in transformers 5 the constructor takes a `vocab` list, not a file; the
`.model` file is read only by `from_pretrained`, which converts it. Called directly, the
unknown `vocab_file` keyword was ignored and the tokenizer had just its special pieces.)

What is *not* like the real ones: the vocabularies are small (about 1,000 pieces rather than
32,000) and know only this project's words, so real text splits into more, shorter pieces;
the T5 stand-in has 16 sentinels rather than 100 (what the tiny students' span corruption
uses), and its list of missing characters is the known short list, not the real vocabulary.

>>> from transformers import AutoTokenizer
>>> t5 = AutoTokenizer.from_pretrained(t5_standin_path())   # doctest: +SKIP
>>> t5.convert_ids_to_tokens(t5("3 + 4 ÷ 2").input_ids)     # doctest: +SKIP
['▁3', '▁', '+', '▁4', '▁', '<unk>', '▁2', '</s>']
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from filelock import FileLock

from kpod_lite.models.cache import cache_root

# Bump whenever the build code changes what a stand-in tokenizer encodes.
STANDIN_VERSION = 1

# Characters FlanT5's SentencePiece vocabulary has no piece for (they encode as <unk>, id 2).
T5_MISSING_CHARACTERS = frozenset("{}<\\÷×−")

STANDIN_VOCAB_SIZE = 2000  # an upper bound: the project's text supports fewer pieces
STANDIN_SENTINELS = 16  # as many <extra_id_i> as the tiny students' span corruption uses
STANDIN_CORPUS_SEED = 10_000  # the tiny students' pretraining corpus (`TinySpec.corpus_seed`)
STANDIN_CORPUS_SIZE = 2000

# The data-sample files and their formats (`kpod_lite.data.FORMATS`).
_SAMPLE_FORMATS = {"gsm8k.jsonl": "gsm8k", "svamp.json": "svamp", "asdiv.xml": "asdiv", "csqa.jsonl": "csqa",
                   "instruction.json": "instruction", "kpod.jsonl": "kpod"}


def _sample_texts() -> list[str]:
    """Questions and gold solutions of the repository's `data_samples/formats/` files (none
    when the package is installed without the repository)."""
    from kpod_lite.data import load_examples
    from kpod_lite.templates import pose_question

    folder = Path(__file__).resolve().parents[2] / "data_samples" / "formats"
    texts = []
    for name, data_format in _SAMPLE_FORMATS.items():
        if (folder / name).is_file():
            for example in load_examples(folder / name, data_format):
                texts.append(pose_question(example.question, example.choices))
                texts += [str(v) for k, v in example.meta.items() if k in ("solution", "output", "Formula", "Equation")]
    return texts


@functools.lru_cache(maxsize=1)
def _corpus() -> tuple[str, ...]:
    from kpod_lite.models.pretraining import pretraining_corpus

    # Every printable ASCII character once, as the real vocabularies hold them all (bar T5's
    # missing few), even those the project's own text never writes, such as '"'.
    ascii_line = " ".join(chr(code) for code in range(33, 127))
    return tuple(pretraining_corpus(STANDIN_CORPUS_SEED, STANDIN_CORPUS_SIZE) + _sample_texts() + [ascii_line])


def standin_corpus() -> list[str]:
    """The text both stand-ins are trained on: the tiny students' pretraining documents
    (questions in the §3.1 template, teacher-style rationales), the sample files' text and
    one line of every printable ASCII character;
    computed once per process."""
    return list(_corpus())


def _train_t5_like(texts: list[str], prefix: Path) -> None:
    import sentencepiece as spm

    # The real vocabulary has no piece for these: leave them out so that they stay <unk>.
    cleaned = ["".join(c for c in text if c not in T5_MISSING_CHARACTERS) for text in texts]
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(cleaned), model_prefix=str(prefix), model_type="unigram",
        vocab_size=STANDIN_VOCAB_SIZE, hard_vocab_limit=False, normalization_rule_name="nmt_nfkc",
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1, byte_fallback=False, character_coverage=1.0,
        num_threads=1, minloglevel=2)  # one thread: the same pieces on every machine


def _train_llama_like(texts: list[str], prefix: Path) -> None:
    import sentencepiece as spm

    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts), model_prefix=str(prefix), model_type="bpe",
        vocab_size=STANDIN_VOCAB_SIZE, hard_vocab_limit=False, normalization_rule_name="identity",
        remove_extra_whitespaces=False, add_dummy_prefix=True, split_digits=True, byte_fallback=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, character_coverage=1.0, num_threads=1, minloglevel=2)


def _build_t5(texts: list[str], out: Path) -> None:
    from transformers import T5Tokenizer

    _train_t5_like(texts, out / "spiece")
    tokenizer = T5Tokenizer.from_pretrained(out, extra_ids=STANDIN_SENTINELS, model_max_length=512)
    (out / "spiece.vocab").unlink()
    tokenizer.save_pretrained(out)


def _build_llama(texts: list[str], out: Path) -> None:
    from transformers import LlamaTokenizer

    _train_llama_like(texts, out / "tokenizer")
    tokenizer = LlamaTokenizer.from_pretrained(out, add_bos_token=True, add_eos_token=False,
                                               legacy=False, model_max_length=512)
    (out / "tokenizer.vocab").unlink()
    tokenizer.save_pretrained(out)


_BUILDERS = {"t5": _build_t5, "llama": _build_llama}


def standin_key(kind: str, texts: list[str]) -> str:
    """A hash of what sets a stand-in's pieces: its kind, the corpus text, the build version
    and the versions of the libraries that train and convert it."""
    import sentencepiece
    import tokenizers
    import transformers

    identity = {"kind": kind, "version": STANDIN_VERSION, "vocab": STANDIN_VOCAB_SIZE, "sentinels": STANDIN_SENTINELS,
                "corpus": hashlib.sha256("\n\x00".join(texts).encode("utf-8")).hexdigest(),
                "sentencepiece": sentencepiece.__version__, "tokenizers": tokenizers.__version__,
                "transformers": transformers.__version__}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def _build_standin(kind: str, cache_dir: Path | str | None) -> Path:
    """The cached folder of a stand-in, built first if needed (seconds, once); safe when several
    processes ask at once (one builds under a file lock into a temporary folder renamed into
    place when complete, as `tiny.tiny_model_path` does)."""
    texts = standin_corpus()
    root = Path(cache_dir) if cache_dir is not None else cache_root() / "tokenizers"
    folder = root / f"{kind}-standin-{standin_key(kind, texts)}"
    done = folder / "tokenizer.json"
    if done.is_file():
        return folder
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if done.is_file():  # another process built it while we waited
            return folder
        for leftover in root.glob(f".{folder.name}.tmp-*"):  # from a killed build
            shutil.rmtree(leftover, ignore_errors=True)
        if folder.exists():
            shutil.rmtree(folder)
        scratch = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=root))
        try:
            _BUILDERS[kind](texts, scratch)
            os.replace(scratch, folder)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
    return folder


def build_t5_standin_tokenizer(cache_dir: Path | str | None = None) -> Path:
    """The folder of the FlanT5-like SentencePiece tokenizer (module docstring); loads as
    `T5TokenizerFast` with `AutoTokenizer.from_pretrained`. Default cache: `<cache_root>/tokenizers`."""
    return _build_standin("t5", cache_dir)


def build_llama_standin_tokenizer(cache_dir: Path | str | None = None) -> Path:
    """The folder of the LLaMA-like SentencePiece tokenizer (module docstring); loads as
    `LlamaTokenizerFast` with `AutoTokenizer.from_pretrained`. Default cache: `<cache_root>/tokenizers`."""
    return _build_standin("llama", cache_dir)


def standin_tokenizer_path(model_type: str, cache_dir: Path | str | None = None) -> Path:
    """`build_t5_standin_tokenizer` or `build_llama_standin_tokenizer` by family ("t5" or "llama")."""
    if model_type not in _BUILDERS:
        raise ValueError(f"stand-in tokenizers exist for 't5' and 'llama', got {model_type!r}")
    return _build_standin(model_type, cache_dir)
