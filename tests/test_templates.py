"""Tests for kpod_lite.templates and kpod_lite.families: the one prompt/target join.

The point of having one join: the token weights (Eq. 3-5), the step difficulty (Eq. 8) and
distillation (Eq. 15) must see the same rationale tokens r_j, for both families of student and
for the tokenizers real students have, SentencePiece's "▁" word marker included.
"""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, decoders, pre_tokenizers, trainers
from tokenizers import models as tokenizer_models
from torch.nn import functional as F

from kpod_lite import difficulty, distill, models
from kpod_lite.config import preset
from kpod_lite.families import CAUSAL, SEQ2SEQ, family_of, lora_target_modules
from kpod_lite.templates import (
    build_prompt,
    encode_student_example,
    format_rationale_target,
    rationale_tokens,
    student_prompt,
)

RATIONALE = "Mary has 12 apples. She eats 5 of them, so 12 - 5 = 7 are left."
QUESTION = "Mary has 12 apples and eats 5. How many are left?"


def sentencepiece_style(model_type: str):
    """A Unigram tokenizer with SentencePiece's Metaspace ("▁" marks a word start, one is
    prepended to every text), as FlanT5's and LLaMA's tokenizers are, wrapped like theirs."""
    tokenizer = Tokenizer(tokenizer_models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    texts = [RATIONALE, QUESTION, build_prompt(QUESTION), format_rationale_target(RATIONALE, "7")] * 20
    tokenizer.train_from_iterator(texts, trainers.UnigramTrainer(
        vocab_size=120, special_tokens=[models.PAD, models.EOS, models.UNK, models.BOS], unk_token=models.UNK))
    return models.wrap_tokenizer(tokenizer, model_type)


@pytest.fixture(scope="module", params=["byte-bpe-t5", "byte-bpe-llama", "sentencepiece-t5", "sentencepiece-llama"])
def tokenizer(request):
    kind, model_type = request.param.rsplit("-", 1)
    if kind == "sentencepiece":
        return sentencepiece_style(model_type)
    return models.load_tokenizer(preset("tiny", student=f"tiny-{model_type}"))


@pytest.mark.parametrize("family", [SEQ2SEQ, CAUSAL], ids=["seq2seq", "causal"])
def test_eq8_and_eq15_targets_start_with_the_same_rationale_tokens(tokenizer, family):
    ids, _ = rationale_tokens(tokenizer, RATIONALE)
    prompt = build_prompt(QUESTION)
    scored = encode_student_example(tokenizer, family, prompt, RATIONALE, end_of_sequence=False)  # Eq. 8
    trained = encode_student_example(tokenizer, family, prompt, format_rationale_target(RATIONALE, "7"))  # Eq. 15
    assert scored.target_ids == ids
    assert trained.target_ids[:len(ids)] == ids and trained.target_ids[-1] == tokenizer.eos_token_id
    # A target that starts with a space (as a teacher's continuation often does) is the same target.
    assert encode_student_example(tokenizer, family, prompt, "  " + RATIONALE, end_of_sequence=False).target_ids == ids
    # Offsets index the stripped target, whatever space it came with.
    spaced = encode_student_example(tokenizer, family, prompt, " " + RATIONALE, end_of_sequence=False)
    assert spaced.target_offsets == scored.target_offsets
    assert RATIONALE[slice(*scored.target_offsets[2])] in tokenizer.decode(ids[2:3])


def test_the_families_join_the_same_ids_differently(tokenizer):
    prompt, target = build_prompt(QUESTION), format_rationale_target(RATIONALE, "7")
    seq2seq = encode_student_example(tokenizer, SEQ2SEQ, prompt, target)
    causal = encode_student_example(tokenizer, CAUSAL, prompt, target)
    assert seq2seq.target_ids == causal.target_ids
    assert seq2seq.labels == seq2seq.target_ids and seq2seq.input_ids == seq2seq.prompt_ids
    assert causal.input_ids == causal.prompt_ids + causal.target_ids
    assert causal.labels == [-100] * len(causal.prompt_ids) + causal.target_ids
    assert causal.prompt_ids[-1] != tokenizer.eos_token_id, "a causal prompt is continued, never closed"


def test_sentencepiece_marks_the_first_target_word_as_running_text_would():
    tokenizer = sentencepiece_style("llama")
    causal = encode_student_example(tokenizer, CAUSAL, build_prompt(QUESTION), RATIONALE, end_of_sequence=False)
    assert tokenizer.convert_ids_to_tokens(causal.target_ids)[0].startswith("▁")
    # So the joined ids read back as the prompt, a space and the target.
    assert tokenizer.decode(causal.input_ids, skip_special_tokens=True) == build_prompt(QUESTION) + " " + RATIONALE


def test_limits_cut_the_prompt_and_the_target_and_say_so(tokenizer):
    full = encode_student_example(tokenizer, CAUSAL, build_prompt(QUESTION), RATIONALE)
    cut = encode_student_example(tokenizer, CAUSAL, build_prompt(QUESTION), RATIONALE,
                                 max_source_length=5, max_target_length=6)
    assert len(cut.prompt_ids) == 5 and len(cut.target_ids) == 6 and cut.truncated == (True, True)
    assert cut.target_ids[-1] == tokenizer.eos_token_id and cut.target_ids[:5] == full.target_ids[:5]
    assert full.truncated == (False, False)


@pytest.mark.parametrize("family", [SEQ2SEQ, CAUSAL])
def test_a_cut_prompt_keeps_the_given_steps_next_to_the_target(family):
    """Eq. 14: the target continues the last given steps, so a long prompt loses its opening;
    the special tokens at its ends (<s>, </s>) stay where the family puts them."""
    tokenizer = sentencepiece_style("t5" if family is SEQ2SEQ else "llama")
    prompt = student_prompt(QUESTION, given_steps="Mary has 12 apples. She eats 5 of them.")
    full = encode_student_example(tokenizer, family, prompt, RATIONALE)
    cut = encode_student_example(tokenizer, family, prompt, RATIONALE, max_source_length=12)
    assert len(cut.prompt_ids) == 12 and cut.truncated == (True, False)
    if family is SEQ2SEQ:  # "... </s>"
        assert cut.prompt_ids == full.prompt_ids[-12:] and cut.prompt_ids[-1] == tokenizer.eos_token_id
    else:  # "<s> ..."
        assert cut.prompt_ids[0] == tokenizer.bos_token_id and cut.prompt_ids[1:] == full.prompt_ids[-11:]
    kept = tokenizer.decode(cut.prompt_ids, skip_special_tokens=True)
    assert kept.endswith("5 of them.") and prompt.endswith(kept)
    assert cut.target_ids == full.target_ids


@pytest.mark.parametrize("name", ["tiny-t5", "tiny-llama"])
def test_eq8_scores_exactly_what_eq15_trains(name):
    """The difficulty's log P(r_j | r_<j, x) equals the log-probability that the distillation
    forward pass gives the same target positions, for both families."""
    cfg = preset("tiny", student=name)
    model, tokenizer = models.load_student(cfg, device="cpu")
    family = family_of(model)
    record = {"id": "q", "question": QUESTION, "answer": "7", "rationale": RATIONALE}
    (scored,) = difficulty.token_logprobs(model, tokenizer, [QUESTION], [RATIONALE])
    (example,) = distill.stage_examples([record], None, {"q": 0}, tokenizer, cfg, family)
    labels = torch.tensor([example["labels"]])
    with torch.no_grad():
        outputs, aligned = family.forward(model.eval(), labels, input_ids=torch.tensor([example["input_ids"]]),
                                          attention_mask=torch.tensor([example["attention_mask"]]))
    logprobs = F.log_softmax(outputs.logits.float(), -1)[0]
    positions = (aligned[0] != -100).nonzero()[:, 0]
    trained = logprobs[positions, aligned[0, positions]]
    n = len(rationale_tokens(tokenizer, RATIONALE)[0])
    assert len(scored) == n and torch.allclose(trained[:n], scored, atol=1e-5)
    assert student_prompt(QUESTION) == build_prompt(QUESTION)


def test_the_family_comes_from_the_model_config_and_names_its_lora_targets():
    assert family_of({"is_encoder_decoder": True}) is SEQ2SEQ and family_of({"model_type": "qwen2"}) is CAUSAL
    assert lora_target_modules({"model_type": "t5"}) == ["q", "v"]
    assert lora_target_modules({"model_type": "mistral"}) == ["q_proj", "v_proj"]
    assert lora_target_modules({"model_type": "gpt2"}, override=("c_attn",)) == ["c_attn"]
    with pytest.raises(ValueError, match="lora_target_modules"):
        lora_target_modules({"model_type": "gpt2"})
