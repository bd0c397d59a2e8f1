r"""Evaluation: greedy generation, answer extraction, accuracy (§4.1), and OOD tests (§4.4).

The paper measures a student by accuracy (%): for each test question the student writes a
rationale and an answer from the question alone, the answer is read off the text, and it
counts when it equals the gold answer (§4.1, "Following previous works (Fu et al., 2023),
we use the accuracy (%) metric"). Here, one test question x:

    prompt     = "Q: <x>\nA: Let's think step by step."           (§3.1; `templates.student_prompt`)
    generated  = greedy decoding, at most `config.max_new_tokens` new tokens
    prediction = `kpod_lite.data.extract_answer(generated, kind)`  (the number / option after
                 the last "Therefore, the answer is", else the last one in the text)
    correct    = `kpod_lite.data.answers_match(prediction, y, kind)`

Generation is batched, questions sorted by length so a batch pads little. Causal students
(LLaMA) are padded on the **left**: every prompt then ends where generation starts, and the
new tokens of all rows are the columns after the prompt width. Seq2seq students (FlanT5)
pad the encoder input on the right as usual; their output is the decoder sequence.

Predictions are written as JSON Lines, one `{"id", "question", "answer", "prediction",
"generated", "correct"}` per question, so a notebook can look at the mistakes.

Out-of-distribution evaluation (§4.4, Table 3): train on GSM8K, test the same student on
ASDiv and SVAMP. `evaluate_datasets(model, tokenizer, {"gsm8k": ..., "asdiv": ...,
"svamp": ...}, config)` returns one accuracy per dataset.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from kpod_lite.config import KPODConfig
from kpod_lite.data import DataFormatError, Example, answers_match, extract_answer, load_examples, write_jsonl
from kpod_lite.families import StudentFamily, family_of
from kpod_lite.models import load_student, pad_right, student_dtype
from kpod_lite.models.loading import student_device
from kpod_lite.templates import ZERO_SHOT_COT_PROMPT, encode_student_example, student_prompt

__all__ = [
    "prompts_for",
    "encode_prompts",
    "generate",
    "score",
    "accuracy",
    "cut_prompts",
    "evaluate_examples",
    "evaluate_datasets",
    "load_trained",
    "evaluate_file",
]

Generator = Callable[[list[str]], list[str]]

log = logging.getLogger("kpod_lite.evaluate")


def prompts_for(examples: Sequence[Example], cot_prompt: str = ZERO_SHOT_COT_PROMPT) -> list[str]:
    """The student's input for each test question: the §3.1 template, no rationale steps given."""
    return [student_prompt(e.question, e.choices, cot_prompt=cot_prompt) for e in examples]


def encode_prompts(tokenizer, prompts: list[str], family: StudentFamily, max_length: int) -> dict[str, torch.Tensor]:
    """A padded batch of prompts, each tokenised as in training (`templates.encode_student_example`):
    padded on the left for a causal model, on the right for a seq2seq one
    (`StudentFamily.generation_padding_side`)."""
    rows = [encode_student_example(tokenizer, family, prompt, max_source_length=max_length).input_ids
            for prompt in prompts]
    if family.generation_padding_side == "right":
        ids, mask = pad_right(rows, tokenizer.pad_token_id)
    else:  # left padding: pad the reversed rows on the right, and turn them back
        ids, mask = (t.flip(1) for t in pad_right([row[::-1] for row in rows], tokenizer.pad_token_id))
    return {"input_ids": ids, "attention_mask": mask}


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], config: KPODConfig, batch_size: int | None = None,
             progress: bool = False) -> list[str]:
    """Greedy continuations of `prompts` (the new text only, special tokens removed), in order.

    `batch_size` defaults to `config.eval_batch_size`, else twice `config.batch_size`;
    `progress`: a progress bar with an ETA (tqdm).
    """
    batch_size = batch_size or config.generation_batch_size
    family = family_of(model)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    # Longest first, so the first batch shows at once whether memory suffices.
    order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
    outputs: list[str] = [""] * len(prompts)
    try:
        for start in tqdm(range(0, len(order), batch_size), desc="generating", unit="batch", disable=not progress):
            rows = order[start:start + batch_size]
            batch = encode_prompts(tokenizer, [prompts[i] for i in rows], family, config.max_source_length)
            batch = {key: value.to(device) for key, value in batch.items()}
            generated = model.generate(
                **batch,
                max_new_tokens=config.max_new_tokens,
                do_sample=False,
                num_beams=1,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
            generated = family.generated_tokens(generated, batch["input_ids"].shape[1])
            texts = tokenizer.batch_decode(generated, skip_special_tokens=True)
            for i, text in zip(rows, texts):
                outputs[i] = text.strip()
    finally:
        model.train(was_training)
    return outputs


def cut_prompts(tokenizer, family: StudentFamily, prompts: Sequence[str], max_source_length: int) -> int:
    """How many prompts are longer than `max_source_length` tokens and are cut to it, with a
    warning saying so: the student then answers a question it read only the start of, and an
    accuracy that counts those answers should say how many there were."""
    cut = sum(encode_student_example(tokenizer, family, prompt, max_source_length=max_source_length).truncated[0]
              for prompt in prompts)
    if cut:
        log.warning("%d of %d question(s) are longer than max_source_length=%d tokens and are cut to it: the "
                    "student reads only their start (raise it with --set max_source_length=N to keep them whole)",
                    cut, len(prompts), max_source_length)
    return cut


def score(examples: Sequence[Example], generations: Sequence[str]) -> list[dict]:
    """Prediction records `{"id", "question", "answer", "prediction", "generated", "correct"}`:
    the answer read off each generation (`extract_answer`) compared with the gold one
    (`answers_match`); multiple-choice questions read only their own option letters."""
    if len(examples) != len(generations):
        raise ValueError(f"{len(examples)} questions but {len(generations)} generations")
    records = []
    for example, text in zip(examples, generations):
        kind = example.answer_kind
        prediction = extract_answer(text, kind, labels=example.choices if example.choices else None)
        records.append({
            "id": example.id,
            "question": example.question,
            "answer": example.answer,
            "prediction": prediction,
            "generated": text,
            "correct": answers_match(prediction, example.answer, kind),
        })
    return records


def accuracy(records: Sequence[Mapping]) -> float:
    """The share of correct predictions (§4.1); 0 for no records."""
    return sum(bool(r["correct"]) for r in records) / len(records) if records else 0.0


def evaluate_examples(model, tokenizer, examples: Sequence[Example], config: KPODConfig,
                      out_path: Path | str | None = None, generate_fn: Generator | None = None,
                      progress: bool = False) -> dict:
    """Accuracy of the student on `examples`; predictions to `out_path` (JSON Lines) if given.

    `generate_fn(prompts) -> texts` replaces the model's greedy generation (e.g. a fixed list
    of texts in a test, or another decoding strategy). Returns a summary: accuracy, counts,
    how many generations had no readable answer, how many questions were cut to
    `config.max_source_length` (`cut_prompts`, which warns), seconds.
    """
    started = time.perf_counter()
    prompts = prompts_for(examples, config.cot_prompt)
    cut = cut_prompts(tokenizer, family_of(model), prompts, config.max_source_length) if model is not None else 0
    texts = generate_fn(prompts) if generate_fn else generate(model, tokenizer, prompts, config, progress=progress)
    records = score(examples, texts)
    if out_path is not None:
        write_jsonl(out_path, records)
    return {
        "accuracy": accuracy(records),
        "questions": len(records),
        "correct": sum(bool(r["correct"]) for r in records),
        "no_answer": sum(r["prediction"] is None for r in records),
        "truncated_questions": cut,
        "seconds": round(time.perf_counter() - started, 1),
        "predictions": str(out_path) if out_path is not None else None,
    }


def evaluate_datasets(model, tokenizer, datasets: Mapping[str, Sequence[Example]], config: KPODConfig,
                      out_dir: Path | str | None = None, generate_fn: Generator | None = None) -> dict[str, float]:
    """{dataset name: accuracy} for one student on several test sets, e.g. the OOD setting of
    §4.4 / Table 3 (trained on GSM8K, tested on GSM8K, ASDiv and SVAMP). With `out_dir`,
    each dataset's predictions go to `<out_dir>/<name>.predictions.jsonl`."""
    results = {}
    for name, examples in datasets.items():
        out_path = Path(out_dir) / f"{name}.predictions.jsonl" if out_dir is not None else None
        results[name] = evaluate_examples(model, tokenizer, examples, config, out_path, generate_fn)["accuracy"]
    return results


def load_trained(model_dir: Path | str, config: KPODConfig, device: str | torch.device | None = None):
    """`(model, tokenizer)` of a distilled student saved by `kpod_lite.distill` (`<run>/model`).

    A full model loads with `from_pretrained` (safetensors only); a LoRA adapter
    (`adapter_config.json`) is put on the base student of `config` (`models.load_student`).
    """
    from transformers import AutoConfig, AutoTokenizer

    model_dir = Path(model_dir)
    if not model_dir.is_dir():  # a distilled student is a local folder, never a hub id to look up
        raise FileNotFoundError(f"no saved student at {model_dir}: give the model/ folder that kpod-lite distill wrote")
    device = torch.device(device) if device else student_device(config)  # config.device, as every stage
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base, _ = load_student(config.replace(gradient_checkpointing=False), device)
        with warnings.catch_warnings():
            # peft asks transformers 5 a question it has renamed (as in models.apply_lora).
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = PeftModel.from_pretrained(base, str(model_dir))
    else:
        family = family_of(AutoConfig.from_pretrained(model_dir, trust_remote_code=config.trust_remote_code))
        model = family.model_class.from_pretrained(model_dir, use_safetensors=True, dtype=student_dtype(config, device),
                                                   trust_remote_code=config.trust_remote_code)
        model.to(device)
    tokenizer = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=config.trust_remote_code)
    family_of(model).prepare_tokenizer(tokenizer)  # LLaMA-family tokenizers pad with </s>
    model.eval()
    return model, tokenizer


def evaluate_file(model_dir: Path | str, questions_path: Path | str, fmt: str, out_path: Path | str,
                  config: KPODConfig) -> dict:
    """Evaluate a saved student on a question file in any `load_examples` format; the
    `kpod-lite evaluate` step. Predictions go to `out_path`; returns the summary."""
    examples = load_examples(questions_path, fmt)
    if not examples:  # an accuracy of 0.0 on nothing would read as a result
        raise DataFormatError(questions_path, None, None, "no questions to evaluate: the file holds no records")
    model, tokenizer = load_trained(model_dir, config)
    summary = evaluate_examples(model, tokenizer, examples, config, out_path)
    summary.update({"model": str(model_dir), "questions_file": str(questions_path), "format": fmt})
    return summary
