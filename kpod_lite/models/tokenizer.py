"""The tiny students' tokenizer: one byte-level BPE vocabulary for both, digits split one by
one, wrapped to behave like FlanT5's or LLaMA's (special tokens and T5's sentinels included)."""

from __future__ import annotations

# One vocabulary for both: pad, eos, unk and bos first (T5 wants pad = 0 as its decoder
# start token), then T5's sentinels.
PAD, EOS, UNK, BOS = "<pad>", "</s>", "<unk>", "<s>"


def sentinel_tokens(n: int) -> list[str]:
    """T5's span-corruption sentinels `<extra_id_0>`, `<extra_id_1>`, ..."""
    return [f"<extra_id_{i}>" for i in range(n)]


def _sentinel_count(tokenizer) -> int:
    """How many `<extra_id_i>` a tokenizer (ours or a `transformers` one) has."""
    return sum(1 for token in tokenizer.get_vocab() if token.startswith("<extra_id_"))


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


def _extra_special_tokens_name() -> str:
    """transformers 5 calls a tokenizer's list of extra special tokens `extra_special_tokens`;
    4.x calls it `additional_special_tokens` (and keeps `extra_special_tokens` for a dict)."""
    from kpod_lite.versions import transformers_major

    return "extra_special_tokens" if transformers_major() >= 5 else "additional_special_tokens"


_EXTRA_SPECIAL_TOKENS = _extra_special_tokens_name()


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
        specials = {"pad_token": PAD, "eos_token": EOS, "unk_token": UNK,
                    _EXTRA_SPECIAL_TOKENS: sentinel_tokens(_sentinel_count(tokenizer))}
    else:
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, ids[BOS])])
        specials = dict(bos_token=BOS, eos_token=EOS, unk_token=UNK)
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, clean_up_tokenization_spaces=False,
                                   model_max_length=model_max_length, **specials)
