"""KPOD training overhead: Eq. 15's weighted loss and KPOD's collation and curriculum against plain CE fine-tuning.

Two arms train the same student from the same initial weights on the same batches, in one
process, their repetitions interleaved (A B, B A, A B, ...: machine noise and drift hit both):

- **A, plain cross-entropy fine-tuning** -- what a user writes without KPOD: a stock
  `transformers.Trainer`, the model's own loss (labels only), `DataCollatorForSeq2Seq`
  (`label_pad_token_id=-100`) on examples without the weights column;
- **B, KPOD** -- the path `distill` takes: `KPODTrainer` (Eq. 15, `weighted_token_loss`),
  `pad_batch` with the weights column, `ProgressiveDataset` + `CurriculumCallback`.

Same data, seed, batch order, number of steps and `TrainingArguments` (`distill.training_arguments`
with checkpoints off and `max_steps`). B's examples change every epoch (Eq. 14: the stage's
c_i(t) input steps); A gets exactly the same tokenised examples, precomputed outside the timed
region and switched in by a one-line callback, so both learn the same tokens. B's time
includes its stage rebuilds (`ProgressiveDataset.set_stage` at every epoch start: tokenising the
examples whose c_i changed), a real cost of KPOD; each B repetition starts from a fresh
dataset (empty cache). Every run of both arms is checked to train on the very same batches
(input ids and labels of every step); a difference aborts the benchmark.

Times are read on two clocks: wall-clock, and the process's CPU time (`time.process_time`),
which on a CPU shared with other jobs is the steadier of the two (time the scheduler gives to
other processes is not counted). On a GPU read the wall-clock figures.

Also timed alone, so a reader sees where a difference comes from: the loss (everything
`KPODTrainer.compute_loss` does besides the model, against the model's own cross-entropy, on
the same logits; alone and together with the output layer's forward and backward), the
collation (`pad_batch` against the stock collator on the same examples) and the stage rebuilds.

Inputs, built offline: rationales from the template teacher (§3.1) on the shipped synthetic
train split; token weights seeded uniform in (0.05, 0.95) (this measures speed, not quality);
step difficulty = characters per step; TF-IDF clusters; the schedule of Eq. 9-13 over the
run's epochs (`schedule.build_schedule_from_config`, T = half the epochs).

    .venv/bin/python benchmarks/bench_distill_overhead.py                    # both tiny students, CPU, ~4 min
    .venv/bin/python benchmarks/bench_distill_overhead.py --model tiny-llama --repeats 9 --lora
    # on a GPU (random weights, the architectures of App. A's students):
    python benchmarks/bench_distill_overhead.py --device cuda --model flan-t5-large-arch --bf16 --lora \\
        --batch-size 4 --steps 40 --repeats 5
    python benchmarks/bench_distill_overhead.py --device cuda --model llama-7b-arch --bf16 --lora \\
        --batch-size 4 --steps 40 --repeats 5

Prints one JSON object. Per-token time ratio B/A = (B seconds / B tokens) / (A seconds / A
tokens); target tokens (labels != -100) are the same in both arms.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kpod_lite import distill as distillation  # noqa: E402
from kpod_lite import schedule as scheduling  # noqa: E402
from kpod_lite.config import preset  # noqa: E402
from kpod_lite.data import load_examples, rationale_key, split_steps  # noqa: E402
from kpod_lite.families import family_of  # noqa: E402
from kpod_lite.models import apply_lora, load_student, load_tokenizer  # noqa: E402
from kpod_lite.templates import rationale_tokens  # noqa: E402
from kpod_lite.teacher import TemplateTeacher, teach  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODELS = {  # name -> (student family, tiny tokenizer to use)
    "tiny-t5": ("t5", "tiny-t5"),
    "tiny-llama": ("llama", "tiny-llama"),
    "flan-t5-large-arch": ("t5", "tiny-t5"),
    "llama-7b-arch": ("llama", "tiny-llama"),
}


# --- inputs -------------------------------------------------------------------------------------


def rationale_records(n: int, workdir: Path) -> list[dict]:
    """Template-teacher rationales (§3.1) for the first n questions of the synthetic train split."""
    examples = load_examples(REPO / "data_samples/synthetic/train.jsonl", "kpod")[:n]
    out = workdir / "rationales.jsonl"
    teach(examples, TemplateTeacher(), out=out, progress=False)
    return [json.loads(line) for line in out.read_text().splitlines()]


def random_weight_records(records: list[dict], tokenizer, seed: int = 0) -> list[dict]:
    """Token weight records (the weighting module's format) with seeded weights in (0.05, 0.95)."""
    rng = random.Random(seed)
    out = []
    for record in records:
        ids, offsets = rationale_tokens(tokenizer, record["rationale"])
        out.append({"id": record["id"], "sample": record.get("sample", 0),
                    "tokens": tokenizer.convert_ids_to_tokens(ids), "offsets": [list(o) for o in offsets],
                    "weights": [rng.uniform(0.05, 0.95) for _ in ids]})
    return out


def make_schedule(records: list[dict], config) -> scheduling.Schedule:
    """Eq. 9-13 over config.epochs, difficulty = characters per step, TF-IDF clusters."""
    difficulties = {r["id"]: [float(len(s.text)) for s in split_steps(r["rationale"])] for r in records}
    embeddings, source = scheduling.embed_questions([r["question"] for r in records])
    clusters = scheduling.cluster_questions(embeddings, k=config.n_clusters, seed=config.seed)
    return scheduling.build_schedule_from_config(config, difficulties, dict(zip(difficulties, clusters.tolist())),
                                                 meta={"embeddings": source})


# --- students -----------------------------------------------------------------------------------------


def arch_config(name: str, tokenizer, **shrink):
    """The `T5Config` / `LlamaConfig` of App. A's students, FlanT5-Large or LLaMA-7B, for random
    initialisation; `shrink` overrides sizes (tests build a small copy)."""
    from transformers import LlamaConfig, T5Config

    if name == "flan-t5-large-arch":
        sizes = dict(vocab_size=32128, d_model=1024, num_layers=24, num_decoder_layers=24, num_heads=16,
                     d_kv=64, d_ff=2816)
        sizes.update(shrink)
        return T5Config(**sizes, feed_forward_proj="gated-gelu", tie_word_embeddings=False, dropout_rate=0.1,
                        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                        decoder_start_token_id=tokenizer.pad_token_id)
    if name == "llama-7b-arch":
        sizes = dict(vocab_size=32000, hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=32, intermediate_size=11008, max_position_embeddings=2048)
        sizes.update(shrink)
        return LlamaConfig(**sizes, rms_norm_eps=1e-6, tie_word_embeddings=False,
                           bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                           pad_token_id=None)
    raise ValueError(f"no architecture {name!r}; choose flan-t5-large-arch or llama-7b-arch")


def build_arch_model(name: str, tokenizer, device: str = "cpu", dtype: torch.dtype = torch.float32,
                     seed: int = 0, **shrink):
    """A randomly initialised (seeded: the same weights every call) model of `arch_config`,
    created directly on `device` in `dtype`. The tiny tokenizer's ids (< 1024) lie inside its vocabulary."""
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM

    config = arch_config(name, tokenizer, **shrink)
    if len(tokenizer) > config.vocab_size:
        raise ValueError(f"the tokenizer has {len(tokenizer)} ids, the {name} vocabulary only {config.vocab_size}")
    model_class = AutoModelForSeq2SeqLM if name.startswith("flan-t5") else AutoModelForCausalLM
    torch.manual_seed(seed)
    with torch.device(device):
        model = model_class.from_config(config, dtype=dtype)
    if name.startswith("flan-t5"):  # FlanT5's checkpoints hold their own lm_head: untie it like them
        from kpod_lite.models.published import untie_head

        untie_head(model)
    return model


def student_factory(name: str, config, device: str):
    """A function returning a fresh student with the same initial weights at every call (LoRA
    adapters included: seeded before `apply_lora`)."""
    from transformers import set_seed

    dtype = torch.bfloat16 if config.bf16 and device == "cuda" else torch.float32

    def make():
        if name.startswith("tiny-"):
            model, _ = load_student(config.replace(bf16=config.bf16 and device == "cuda"), device)
        else:
            model = build_arch_model(name, load_tokenizer(config), device, dtype, seed=config.seed)
        if config.lora:
            set_seed(config.seed)
            model = apply_lora(model, config)
        return model

    return make


# --- the two arms -----------------------------------------------------------------------------------


class _StageExamples(torch.utils.data.Dataset):
    """Arm A's dataset: fixed, pre-tokenised examples; `examples` is swapped between epochs."""

    def __init__(self, per_epoch: list[list[dict]]):
        self.per_epoch = per_epoch
        self.examples = per_epoch[0]

    def __len__(self):
        return len(self.examples)

    def __getitem__(self, index):
        return self.examples[index]


def _switch_callback(dataset: _StageExamples):
    """Arm A's only addition to a stock run: at epoch e, point the dataset at B's stage-e
    examples (precomputed; a list assignment), so that both arms learn the same tokens."""
    from transformers import TrainerCallback

    class Switch(TrainerCallback):
        def __init__(self):
            self.epoch = 0

        def on_epoch_begin(self, args, state, control, **kwargs):
            dataset.examples = dataset.per_epoch[min(self.epoch, len(dataset.per_epoch) - 1)]

        def on_epoch_end(self, args, state, control, **kwargs):
            self.epoch += 1

    return Switch()


class _TimedCurriculum(distillation.CurriculumCallback):
    """`CurriculumCallback`, unchanged, with the time spent in its stage rebuilds recorded
    (wall-clock and process CPU seconds)."""

    def __init__(self):
        super().__init__()
        self.rebuild_seconds = [0.0, 0.0]

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        super().on_epoch_begin(args, state, control, train_dataloader=train_dataloader, **kwargs)
        self.rebuild_seconds[0] += time.perf_counter() - wall
        self.rebuild_seconds[1] += time.process_time() - cpu


def _recording(collator, batches: list):
    """The collator, also keeping each batch's input ids and labels (a copy: microseconds, the
    same in both arms), to check that both arms train on the same batches."""
    def collate(features):
        batch = collator(features)
        batches.append((batch["input_ids"].clone(), batch["labels"].clone()))
        return batch
    return collate


def _quiet(trainer):
    from transformers.trainer_callback import PrinterCallback, ProgressCallback

    trainer.remove_callback(PrinterCallback)  # would print the per-epoch log dicts to stdout
    trainer.remove_callback(ProgressCallback)
    return trainer


def stock_collator(tokenizer):
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=-100, return_tensors="pt")


def plain_examples(examples: list[dict]) -> list[dict]:
    return [{k: e[k] for k in ("input_ids", "attention_mask", "labels")} for e in examples]


def train_plain(make_model, tokenizer, args, per_epoch_plain, record: list):
    """Arm A: a stock Trainer, the model's own cross-entropy. Returns ((wall, CPU seconds), trainer)."""
    from transformers import Trainer

    dataset = _StageExamples(per_epoch_plain)
    collator = stock_collator(tokenizer)
    trainer = _quiet(Trainer(model=make_model(), args=args, train_dataset=dataset,
                             data_collator=_recording(collator, record),
                             processing_class=tokenizer, callbacks=[_switch_callback(dataset)]))
    return _timed_train(trainer), trainer


def train_kpod(make_model, tokenizer, args, records, weights, plan, config, record: list):
    """Arm B: `distill`'s path. Returns ((wall, CPU seconds), (wall, CPU seconds) in stage rebuilds, trainer)."""
    model = make_model()
    dataset = distillation.ProgressiveDataset(records, weights, plan, tokenizer, config,
                                              family_of(model))  # stage 0: untimed
    curriculum = _TimedCurriculum()

    def collator(features):
        return distillation.pad_batch(features, tokenizer.pad_token_id)

    trainer = _quiet(distillation.KPODTrainer(
        model=model, args=args, train_dataset=dataset,
        data_collator=_recording(collator, record),
        processing_class=tokenizer, callbacks=[curriculum], family=family_of(model)))
    seconds = _timed_train(trainer)
    return seconds, curriculum.rebuild_seconds, trainer


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _timed_train(trainer) -> tuple[float, float]:
    """(wall-clock, process CPU) seconds of `trainer.train()`. On a CPU shared with other jobs the
    CPU seconds are the steadier measure (time the scheduler gives to others is not counted)."""
    gc.collect()
    _sync()
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.train()
    _sync()
    return time.perf_counter() - wall, time.process_time() - cpu


# --- micro-measurements -------------------------------------------------------------------------------


def _best_of(fn, repeats: int, inner: int, clock=time.perf_counter) -> float:
    """Median over `repeats` of the mean seconds of `inner` calls, read on `clock`."""
    times = []
    for _ in range(repeats):
        _sync()
        started = clock()
        for _ in range(inner):
            fn()
        _sync()
        times.append((clock() - started) / inner)
    return statistics.median(times)


def time_collation(batches_b: list[list[dict]], tokenizer, repeats: int, clock=time.perf_counter) -> dict:
    """Microseconds per batch: `pad_batch` (B) vs the stock collator (A) on the same examples."""
    stock = stock_collator(tokenizer)
    batches_a = [plain_examples(b) for b in batches_b]
    pad_id = tokenizer.pad_token_id

    def run_b():
        for b in batches_b:
            distillation.pad_batch(b, pad_id)

    def run_a():
        for b in batches_a:
            stock(b)

    a, b = [], []
    for _ in range(repeats):  # interleaved
        a.append(_best_of(run_a, 1, 3, clock) / len(batches_a))
        b.append(_best_of(run_b, 1, 3, clock) / len(batches_b))
    a, b = statistics.median(a), statistics.median(b)
    return {"stock_collator_us_per_batch": round(a * 1e6, 1), "pad_batch_us_per_batch": round(b * 1e6, 1),
            "ratio_b_over_a": round(b / a, 3)}


class _FixedLogits:
    """Stands in for the student inside `KPODTrainer.compute_loss`: returns `make_logits()`, and
    anything else (e.g. `prepare_decoder_input_ids_from_labels`) from the real model."""

    def __init__(self, make_logits, model):
        self._make_logits, self._model = make_logits, model

    def __call__(self, **inputs):
        return SimpleNamespace(logits=self._make_logits())

    def __getattr__(self, name):
        return getattr(self._model, name)


def time_loss(trainer_b, family: str, batch_b: list[dict], tokenizer, device: str, repeats: int,
              clock=time.perf_counter) -> dict:
    """Milliseconds per call on one batch, B = `KPODTrainer.compute_loss` itself (everything but
    the model: the causal shift and `weighted_token_loss`), A = the model's own cross-entropy (T5:
    `CrossEntropyLoss(ignore_index=-100)` on the flattened logits, as `T5ForConditionalGeneration`
    computes it; LLaMA: its `loss_function`, as the stock Trainer calls it with `num_items_in_batch`):

    - `forward`, `forward_backward`: the loss alone, on the same logits (a leaf tensor);
    - `with_output_layer`: the output layer (`lm_head`) forward, the loss, and the backward through
      both, from the same final hidden states: a loss that hands back a gradient in another
      memory layout also slows the output layer's backward."""
    model = trainer_b.model
    batch = {k: v.to(device) for k, v in distillation.pad_batch(batch_b, tokenizer.pad_token_id).items()}
    labels, weights = batch["labels"], batch["weights"]
    head = model.get_output_embeddings()
    length = labels.shape[1] if family == "t5" else batch["input_ids"].shape[1]
    generator = torch.Generator(device=device).manual_seed(0)
    hidden = torch.randn(labels.shape[0], length, head.in_features, device=device, generator=generator,
                         dtype=head.weight.dtype, requires_grad=True)
    with torch.no_grad():
        logits = head(hidden)
    vocab = logits.shape[-1]
    items = torch.tensor(int((labels != -100).sum()), device=device)
    own_loss = getattr(model, "loss_function", None)
    leaf = logits.detach().clone().requires_grad_(True)

    def model_ce(x):
        if family == "t5":
            return F.cross_entropy(x.view(-1, vocab), labels.view(-1), ignore_index=-100)
        return own_loss(x, labels, vocab_size=vocab, num_items_in_batch=items)

    def kpod(make_logits, batch_weights=weights):
        return trainer_b.compute_loss(_FixedLogits(make_logits, model), {**batch, "weights": batch_weights})

    def backward(fn):
        def run():
            leaf.grad = hidden.grad = None
            head.weight.grad = None
            fn().backward()
        return run

    cases = {
        "forward": (lambda: model_ce(leaf), lambda: kpod(lambda: leaf)),
        "forward_backward": (backward(lambda: model_ce(leaf)), backward(lambda: kpod(lambda: leaf))),
        "with_output_layer": (backward(lambda: model_ce(head(hidden))), backward(lambda: kpod(lambda: head(hidden)))),
    }
    out = {"logits_shape": list(logits.shape)}
    for label, (fa, fb) in cases.items():
        a, b = [], []
        for _ in range(repeats):  # interleaved
            a.append(_best_of(fa, 1, 10, clock))
            b.append(_best_of(fb, 1, 10, clock))
        a, b = statistics.median(a), statistics.median(b)
        out[label] = {"model_ce_ms": round(a * 1e3, 3), "kpod_compute_loss_ms": round(b * 1e3, 3),
                      "ratio_b_over_a": round(b / a, 3)}
    with torch.no_grad():  # sanity: with every weight 1, Eq. 15 is the model's own cross-entropy
        ones = kpod(lambda: leaf, torch.ones_like(weights))
        out["max_abs_diff_all_weights_1_vs_model_ce"] = float(abs(ones - model_ce(leaf)))
    return out


# --- one student ---------------------------------------------------------------------------------


def _summary(values: list[float], digits: int = 4) -> dict:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits)}


def bench_model(name: str, options, records: list[dict], workdir: Path) -> dict:
    family, tokenizer_name = MODELS[name]
    steps_per_epoch = math.ceil(len(records) / options.batch_size)
    epochs = math.ceil(options.steps / steps_per_epoch)
    config = preset("tiny", student=tokenizer_name, epochs=epochs,
                    batch_size=options.batch_size, lora=options.lora, bf16=options.bf16, seed=options.seed)
    if options.lora:
        rank = options.lora_rank or (128 if family == "t5" else 64)
        config = config.replace(lora_rank=rank, lora_alpha=2 * rank)
    tokenizer = load_tokenizer(config)
    weights = {rationale_key(r): r for r in random_weight_records(records, tokenizer, options.seed)}
    plan = make_schedule(records, config)
    make_model = student_factory(name, config, options.device)

    args = distillation.training_arguments(config, workdir / name, progress=False)
    args = dataclasses.replace(args, max_steps=options.steps, save_strategy="no",
                               use_cpu=options.device == "cpu", bf16=options.bf16 and options.device == "cuda")

    # Arm A's data: B's stage-e examples, tokenised once here (untimed), without the weights.
    scratch = distillation.ProgressiveDataset(records, weights, plan, tokenizer, config, family_of(make_model()))
    per_epoch_b, stage_stats = [], []
    for epoch in range(epochs):
        stage_stats.append(scratch.set_stage(epoch))
        per_epoch_b.append(list(scratch.examples))
    per_epoch_plain = [plain_examples(examples) for examples in per_epoch_b]

    def check(seen: list, arm: str):
        same = len(seen) == len(reference) == options.steps and all(
            torch.equal(ia, ib) and torch.equal(la, lb) for (ia, la), (ib, lb) in zip(seen, reference))
        if not same:
            raise RuntimeError(f"arm {arm} did not train on the reference batches: the comparison would be meaningless")

    # Warm-up (untimed): both arms once. A's batches are the reference every run is checked against.
    reference = []
    train_plain(make_model, tokenizer, args, per_epoch_plain, reference)
    seen = []
    _, _, trainer_b = train_kpod(make_model, tokenizer, args, records, weights, plan, config, seen)
    check(seen, "B")
    tokens = sum(int((labels != -100).sum()) for _, labels in reference)
    padded = sum(labels.numel() for _, labels in reference)

    times = {"A": [], "B": [], "rebuild": []}  # (wall, CPU) seconds per repetition
    for repetition in range(options.repeats):
        for arm in (("A", "B") if repetition % 2 == 0 else ("B", "A")):
            seen = []
            if arm == "A":  # the run's trainer (and model) is dropped at once, not kept until the next run
                seconds = train_plain(make_model, tokenizer, args, per_epoch_plain, seen)[0]
            else:
                seconds, rebuild = train_kpod(make_model, tokenizer, args, records, weights, plan, config, seen)[:2]
                times["rebuild"].append(rebuild)
            check(seen, arm)
            times[arm].append(seconds)
        (wall_a, cpu_a), (wall_b, cpu_b) = times["A"][-1], times["B"][-1]
        print(f"[{name}] repetition {repetition + 1}/{options.repeats}: wall A {wall_a:.3f} s, B {wall_b:.3f} s, "
              f"B/A {wall_b / wall_a:.4f}; CPU A {cpu_a:.3f} s, B {cpu_b:.3f} s, B/A {cpu_b / cpu_a:.4f}",
              file=sys.stderr)

    # Micro-measurements on B's batches of the first epoch.
    first_batches = [per_epoch_b[0][i:i + options.batch_size] for i in range(0, len(records), options.batch_size)]
    clock = time.process_time if options.device == "cpu" else time.perf_counter  # CPU: CPU seconds, as above
    collation = time_collation(first_batches, tokenizer, max(3, options.repeats), clock)
    loss = time_loss(trainer_b, family, first_batches[0], tokenizer, options.device, max(3, options.repeats), clock)
    clock = {"wall": 0, "cpu": 1}
    seconds = {arm: {c: [t[i] for t in times[arm]] for c, i in clock.items()} for arm in times}
    ratios = {c: [b / a for a, b in zip(seconds["A"][c], seconds["B"][c])] for c in clock}
    median = {arm: {c: statistics.median(seconds[arm][c]) for c in clock} for arm in times}

    def arm_summary(arm):
        return {"wall_seconds": _summary(seconds[arm]["wall"], 3), "cpu_seconds": _summary(seconds[arm]["cpu"], 3),
                "tokens_per_s": round(tokens / median[arm]["wall"], 1),
                "tokens_per_cpu_s": round(tokens / median[arm]["cpu"], 1),
                "cpu_ms_per_step": round(median[arm]["cpu"] / options.steps * 1e3, 2)}

    return {
        "model": name, "family": family,
        "trainable_parameters": sum(p.numel() for p in trainer_b.model.parameters() if p.requires_grad),
        "epochs": epochs, "steps": options.steps, "steps_per_epoch": steps_per_epoch,
        "target_tokens_per_run": tokens, "padded_label_positions_per_run": padded,
        "mean_input_steps_per_epoch": [s["mean_input_steps"] for s in stage_stats],
        "same_batches_checked": "every run of both arms (input ids and labels of every step)",
        "A_plain_ce": arm_summary("A"),
        "B_kpod": {**arm_summary("B"),
                   "stage_rebuild_cpu_seconds": _summary(seconds["rebuild"]["cpu"], 4),
                   "stage_rebuild_share_of_cpu_time": round(median["rebuild"]["cpu"] / median["B"]["cpu"], 4)},
        "per_token_time_ratio_b_over_a": {
            c: {**_summary(ratios[c], 4), "per_repetition": [round(r, 4) for r in ratios[c]]} for c in clock},
        "overhead_percent_median": {c: round(100 * (statistics.median(ratios[c]) - 1), 2) for c in clock},
        "micro": {"loss": loss, "collation": collation,
                  "b_minus_a_ms_per_step_from_micro": {
                      "loss_and_output_layer": round(loss["with_output_layer"]["kpod_compute_loss_ms"]
                                                     - loss["with_output_layer"]["model_ce_ms"], 3),
                      "collation": round((collation["pad_batch_us_per_batch"]
                                          - collation["stock_collator_us_per_batch"]) / 1e3, 3),
                      "stage_rebuilds": round(median["rebuild"]["cpu"] / options.steps * 1e3, 3)},
                  "b_minus_a_cpu_ms_per_step_measured": round(
                      (median["B"]["cpu"] - median["A"]["cpu"]) / options.steps * 1e3, 3)},
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", nargs="+", choices=sorted(MODELS), default=["tiny-t5", "tiny-llama"])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--train", type=int, default=32, help="questions (synthetic train split)")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the tiny preset's")
    parser.add_argument("--steps", type=int, default=None,
                        help="optimisation steps per repetition (default: the tiny preset's epochs, "
                             "ceil(train / batch size) steps each)")
    parser.add_argument("--repeats", type=int, default=7, help="timed repetitions per arm (after one warm-up)")
    parser.add_argument("--bf16", action="store_true", help="bf16 weights and mixed precision (cuda only)")
    parser.add_argument("--lora", action="store_true", help="LoRA adapters (kpod_lite.models.apply_lora)")
    parser.add_argument("--lora-rank", type=int, default=None, help="default: App. A's, 128 (T5) or 64 (LLaMA)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: steadier on a shared machine; 0: torch's default)")
    parser.add_argument("--seed", type=int, default=0)
    options = parser.parse_args(argv)
    if options.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device here")
    if options.threads:
        torch.set_num_threads(options.threads)
    tiny = preset("tiny")
    options.batch_size = options.batch_size or tiny.batch_size
    options.steps = options.steps or tiny.epochs * math.ceil(options.train / options.batch_size)
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="kpod-overhead-") as tmp:
        workdir = Path(tmp)
        records = rationale_records(options.train, workdir)
        results = {name: bench_model(name, options, records, workdir) for name in options.model}
    print(json.dumps({
        "benchmark": "KPOD training overhead: B = KPODTrainer + pad_batch + ProgressiveDataset/CurriculumCallback "
                     "vs A = stock Trainer + model CE + DataCollatorForSeq2Seq, same batches",
        "b_time_includes": "stage rebuilds (ProgressiveDataset.set_stage at each epoch start, empty cache)",
        "clocks": "wall: time.perf_counter; cpu: time.process_time (this process only; steadier on a shared CPU). "
                  "Micro-measurements: CPU seconds on --device cpu, wall seconds (synchronised) on cuda",
        "device": options.device, "torch": torch.__version__, "transformers": transformers.__version__,
        "threads": torch.get_num_threads(), "machine": platform.machine(),
        "gpu": torch.cuda.get_device_name() if options.device == "cuda" else None,
        "questions": len(records), "batch_size": options.batch_size, "steps": options.steps,
        "max_source_length": tiny.max_source_length, "max_target_length": tiny.max_target_length,
        "repeats": options.repeats, "order": "A B, B A, A B, ... (alternating; one untimed warm-up each)",
        "bf16": options.bf16, "lora": options.lora,
        "lora_rank": (options.lora_rank or "App. A: 128 (T5), 64 (LLaMA)") if options.lora else None,
        "results": results, "seconds": round(time.perf_counter() - started, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
