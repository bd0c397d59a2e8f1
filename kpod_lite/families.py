"""Seq2seq or causal: the one seam where the two kinds of student differ (App. A).

KPOD distils into FlanT5 (an encoder-decoder, "seq2seq") and into LLaMA-7B (a decoder only,
"causal"). Everything the method does is the same for both: the same prompt, the same
rationale tokens r_j, the same losses (Eq. 5, 8, 15). Four things are not, and they live here:

- **the model class**: `AutoModelForSeq2SeqLM` or `AutoModelForCausalLM`, and peft's task type;
- **the LoRA targets** (App. A trains LoRA adapters): the attention query and value projections,
  named per architecture (`LORA_TARGET_MODULES`, keyed by the model config's `model_type`);
- **how a prompt and a target are joined** (`StudentFamily.join`): a seq2seq student reads the
  prompt with its encoder and learns the target as decoder labels; a causal student reads one
  sequence "prompt target", whose prompt part is masked out of the labels (-100);
- **label alignment** (`StudentFamily.forward`, `StudentFamily.align`): a causal model's logits
  at position t predict token t + 1, so its labels are shifted by one before any loss or
  log-prob (or, on request, its last logits dropped); a seq2seq decoder's logits already line
  up with its labels.

Which family a student is follows from its model config (`is_encoder_decoder`), never from its
name (`family_of`). Adding an architecture (Qwen2, Mistral: both causal) is one line in
`LORA_TARGET_MODULES`.

>>> family_of({"is_encoder_decoder": True}).name, family_of({"model_type": "llama"}).name
('seq2seq', 'causal')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from kpod_lite.errors import ConfigError

__all__ = ["StudentFamily", "SEQ2SEQ", "CAUSAL", "family_of", "LORA_TARGET_MODULES", "lora_target_modules"]

# The attention query and value projections, as in the LoRA paper (Hu et al., 2021) and
# peft's defaults; the config's `lora_target_modules` widens them (e.g. T5's k, o, wi_0, wi_1,
# wo or LLaMA's k_proj, o_proj, gate_proj, up_proj, down_proj).
LORA_TARGET_MODULES = {
    "t5": ("q", "v"),
    "llama": ("q_proj", "v_proj"),
    "mistral": ("q_proj", "v_proj"),
    "qwen2": ("q_proj", "v_proj"),
}


@dataclass(frozen=True)
class StudentFamily:
    """What differs between a seq2seq and a causal student (module docstring)."""

    name: str  # "seq2seq" or "causal"
    seq2seq: bool

    @property
    def model_class(self):
        """The `transformers` auto class that loads a student of this family."""
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

        return AutoModelForSeq2SeqLM if self.seq2seq else AutoModelForCausalLM

    @property
    def lora_task_type(self):
        from peft import TaskType

        return TaskType.SEQ_2_SEQ_LM if self.seq2seq else TaskType.CAUSAL_LM

    @property
    def generation_padding_side(self) -> str:
        """Where a batch of prompts is padded for `generate`: a causal model continues the last
        position of each row, so its prompts must end together (left padding)."""
        return "right" if self.seq2seq else "left"

    def generated_tokens(self, generated, prompt_width: int):
        """The new tokens of a `generate` output: a causal model echoes its (left-padded)
        prompt in the first `prompt_width` columns, a seq2seq decoder writes only new ones."""
        return generated if self.seq2seq else generated[:, prompt_width:]

    def prepare_tokenizer(self, tokenizer):
        """Give a causal tokenizer without a pad token (LLaMA's) `eos` as pad; in place."""
        if not self.seq2seq and tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        return tokenizer

    def prompt_ids(self, tokenizer, prompt: str) -> list[int]:
        """The prompt x with the tokenizer's own special tokens.

        A seq2seq encoder reads it as in pretraining (T5: "... </s>"). A causal model keeps
        a leading `<s>` but never an end-of-sequence token, since the target continues it.
        """
        ids = list(tokenizer(prompt, add_special_tokens=True)["input_ids"])
        if not self.seq2seq and ids and tokenizer.eos_token_id is not None and ids[-1] == tokenizer.eos_token_id:
            ids = ids[:-1]
        return ids

    @staticmethod
    def cut_prompt(tokenizer, ids: list[int], max_length: int) -> list[int]:
        """`prompt_ids` cut to `max_length` tokens by dropping the prompt's opening, not its end
        (ours): the end holds the c_i(t) given steps that the target continues (Eq. 14), <p>,
        and the question's last sentence, which asks what to find. Special tokens at either
        end (`<s>`, `</s>`) stay."""
        if len(ids) <= max_length:
            return list(ids)
        special = set(tokenizer.all_special_ids)
        head = int(ids[0] in special)
        tail = int(ids[-1] in special)
        kept = max_length - head - tail
        if kept < 1:  # no room for text between the special tokens: keep the last ones
            return list(ids[-max_length:])
        return list(ids[:head]) + list(ids[len(ids) - tail - kept:])

    def join(self, prompt_ids: list[int], target_ids: list[int]) -> tuple[list[int], list[int]]:
        """(model input ids, labels) for one (prompt, target) pair.

        Seq2seq: the prompt is the encoder input and the target the decoder labels. Causal:
        one sequence "prompt target"; the prompt is read, not learned (label -100).
        """
        if self.seq2seq:
            return list(prompt_ids), list(target_ids)
        return list(prompt_ids) + list(target_ids), [-100] * len(prompt_ids) + list(target_ids)

    def join_embeddings(self, prompt_embeds, target_ids, table):
        """`join` for a prompt given as embeddings (the masked rationales of Eq. 5 are mixed
        embeddings, not ids): (input embeddings, labels). `table` embeds the target ids."""
        if self.seq2seq:
            return prompt_embeds, target_ids
        import torch

        ignored = torch.full((len(prompt_embeds),), -100, dtype=target_ids.dtype, device=target_ids.device)
        return torch.cat([prompt_embeds, table(target_ids)]), torch.cat([ignored, target_ids])

    def forward(self, model, labels, *, slice_logits: bool = False, **inputs):
        """(model outputs, labels aligned with `outputs.logits`): logits[b, t] predicts labels[b, t].

        `inputs` are the model's inputs (`input_ids` or `inputs_embeds`, `attention_mask`);
        `labels` come from `join`, padded with -100. A seq2seq model gets the labels (it shifts
        them right into its decoder inputs, and turns -100 into pad there); a causal model
        does not need them, and its labels are shifted instead (`align`). `slice_logits` drops
        a causal model's last logits instead: equal in exact arithmetic, but the gradients
        differ in their last bits (kpod_lite.weighting keeps the slice it was calibrated with).
        """
        if self.seq2seq:
            return model(**inputs, labels=labels), labels
        outputs = model(**inputs)
        if slice_logits:
            outputs.logits = outputs.logits[:, :-1]
            return outputs, labels[:, 1:]
        return outputs, self.align(labels, -100)

    def label_logits(self, model, labels, **inputs):
        """(logits, labels) at the labelled positions only, flattened: (N, vocab) and (N,).

        The same predictions as `forward`, without a logit for every position of every row: a
        causal model runs its body and applies its output layer to the positions that predict
        a label; a seq2seq model's decoder reads the labels alone anyway. For a 7B predictor
        scoring a few answer tokens after a long row (Eq. 5) the full logits would be most of
        the memory (kpod_lite.memory)."""
        if self.seq2seq:
            outputs = model(**inputs, labels=labels)
            keep = labels != -100
            return outputs.logits[keep], labels[keep]
        body = model.get_base_model() if hasattr(model, "get_base_model") else model
        hidden = body.get_decoder()(**inputs).last_hidden_state[:, :-1]
        targets = labels[:, 1:]  # position t predicts token t + 1
        keep = targets != -100
        return body.get_output_embeddings()(hidden[keep]), targets[keep]

    def align(self, per_label, fill):
        """A (batch, length) tensor of one value per label (the labels, their weights) aligned
        with the logits. A causal model's logits at position t predict token t + 1, so the
        values move left by one and the last position gets `fill` (no target). The labels
        move rather than the logits: slicing the (much larger) logits would copy them."""
        if self.seq2seq:
            return per_label
        from torch.nn import functional as F

        return F.pad(per_label[:, 1:], (0, 1), value=fill)


SEQ2SEQ = StudentFamily("seq2seq", seq2seq=True)
CAUSAL = StudentFamily("causal", seq2seq=False)


def _read(model_config: Any, key: str, default=None):
    if isinstance(model_config, Mapping):
        return model_config.get(key, default)
    return getattr(model_config, key, default)


def family_of(model_config: Any) -> StudentFamily:
    """The family of a model, from its config (a `PretrainedConfig`, a model, or a dict):
    seq2seq if `is_encoder_decoder`, else causal."""
    model_config = getattr(model_config, "config", model_config)  # a model: read its config
    return SEQ2SEQ if _read(model_config, "is_encoder_decoder", False) else CAUSAL


def lora_target_modules(model_config: Any, override: tuple[str, ...] | None = None) -> list[str]:
    """The modules LoRA adapts (App. A): `override` if given, else `LORA_TARGET_MODULES` for
    the config's `model_type`. An architecture not in the table must name its modules."""
    if override:
        return list(override)
    model_type = _read(getattr(model_config, "config", model_config), "model_type")
    if model_type not in LORA_TARGET_MODULES:
        raise ConfigError(f"no LoRA target modules known for model_type {model_type!r}; set lora_target_modules "
                          f"(e.g. --set lora_target_modules='[\"q_proj\", \"v_proj\"]') or add it to "
                          f"kpod_lite.families.LORA_TARGET_MODULES")
    return list(LORA_TARGET_MODULES[model_type])
