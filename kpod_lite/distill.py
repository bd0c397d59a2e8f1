r"""Progressive, keypoint-weighted distillation of rationales into the student (Eq. 14-15, §3.5).

Plain CoT distillation (Ho et al., 2023; the paper's Eq. 1) trains the student to write the
whole rationale r and then the answer y, every token counting the same:

    L = - Σ_i Σ_j log P(r_j | r_<j, x) - Σ_i Σ_j log P(y_j | y_<j, r, x)             (Eq. 1)

KPOD changes two things, and this module is where both meet the student.

**What the student is asked to write at stage t (Eq. 14).** One stage is one epoch (App. A).
The schedule (`kpod_lite.schedule`, Eq. 9-13) gives every question i a number c_i(t) of
*input steps*: the student reads the question and the first c_i(t) steps of its rationale,
and learns to write the rest. Steps are §3.4's "."-steps (`kpod_lite.data.split_steps`)::

    input  = "Q: <x>\nA: Let's think step by step. <r_1> ... <r_c>"
    target = "<r_{c+1}> ... <r_n> Therefore, the answer is <y>."

The input is the §3.1 template followed by the given steps (`kpod_lite.templates.student_prompt`);
the target is `kpod_lite.templates.format_rationale_target` of the remaining steps. As t grows
c_i(t) falls to 0, and after stage T every question writes its whole rationale (App. B,
Algorithm 1). For a seq2seq student (FlanT5) input and target feed the encoder and the
decoder; for a causal student (LLaMA) they are one sequence and the input part carries the
label -100, so only the target is learned.

**How much each target token counts (Eq. 15).** Token j of the remaining rationale is
weighted by its significance w_j ∈ (0, 1) from the token weighting module (§3.3, Eq. 3)::

    L_o(t) = - Σ_i Σ_{j = p_{c_i(t)+1}}^{q_{n_i}} w_j log P(r_j | r_<j, x)              (Eq. 15)

plus the answer term of Eq. 1, which §3.5 leaves out "for the sake of clarity, as it remains
constant": the tokens of "Therefore, the answer is <y>." and the end-of-sequence token keep
weight 1. Weights are stored per token of the *rationale alone* (`{"id", "sample", "tokens",
"offsets", "weights"}`, offsets are characters of the rationale); the target is tokenised
again with offsets, and each target token takes the weight of the rationale token that
covers most of its characters. The target is tokenised as the rationale is
(`kpod_lite.templates.encode_student_example`), so where a stage's target starts with the
first step the two tokenisations agree, and that is exactly the token's own weight.

Normalisation (ours; the paper writes plain sums). A batch's loss is

    loss = Σ_{target tokens j} w_j · NLL_j  /  (number of target tokens in the batch)

so with every w_j = 1 it is the ordinary mean token cross-entropy that `transformers` models
compute themselves (`weighted_token_loss`; tested). Dividing by the token count rather than
by Σ w_j keeps the weights meaningful: low weights really do shrink a token's gradient
instead of being normalised away, and the learning rate keeps the scale it has for plain
fine-tuning. With gradient accumulation the Trainer averages the per-micro-batch means.

Ablations (Table 2) and the baseline
------------------------------------
`config.method` names a row of `kpod_lite.methods.METHODS`. Here only two of its switches
matter: token weights (w_j, or all 1 for w.o.-sig and plain CoT) and progressive inputs (the
schedule's c_i(t), or c_i = 0 for w.o.-prog and plain CoT). w.o.-sig-dif and w.o.-div only
change how the schedule was built, which is an input here.

The Trainer integration
-----------------------
`KPODTrainer` is a `transformers.Trainer` whose `compute_loss` is Eq. 15 with the per-token
weights carried in the batch (`pad_batch` pads them with the labels). `CurriculumCallback`
moves the curriculum: at the start of every epoch it rebuilds the stage-t examples from
`schedule.input_steps(t)` in place, inside the dataset the Trainer's data loader already
holds (the number of examples never changes, only their text). Everything else is the
ecosystem's: Adam(W), mixed precision (bf16 on GPUs that support it), gradient accumulation,
gradient checkpointing, logging, and several processes through `accelerate`.

A checkpoint is written every epoch (`<out>/checkpoints/checkpoint-<step>`); the callback's
state (the next stage) is saved in its `trainer_state.json` and restored on resume, so a run
killed between epochs and resumed with `resume=True` ends with the same weights as one that
never stopped (tested on CPU). The final student is saved with `save_pretrained` (safetensors;
the LoRA adapter alone when `config.lora`) in `<out>/model`, with its tokenizer.

Several processes: the Trainer runs data-parallel under `accelerate launch` (or `torchrun`).
Checked with 2 CPU processes (DDP over gloo) against one process with the same total batch::

    accelerate launch --multi_gpu --num_processes 2 benchmarks/accelerate_smoke.py --out runs/smoke-2

On a machine without a GPU, `--multi_gpu` starts the 2 processes on the CPU. (With accelerate
1.15, `accelerate launch --cpu --num_processes 2` starts a single process: its multi-CPU
launcher goes through MPI's `mpirun`.) Under DDP each process takes `config.batch_size`
examples per step, so the total batch is that times the number of processes.

>>> from kpod_lite.config import preset
>>> model, tokenizer, history = distill(rationales, weights, schedule, preset("tiny"), "runs/x")  # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import dataclass, field
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
from torch.nn import functional as F
from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import get_last_checkpoint

from kpod_lite.config import KPODConfig
from kpod_lite.data import read_jsonl, split_steps
from kpod_lite.families import StudentFamily, family_of
from kpod_lite.models import apply_lora, bf16_supported, load_student
from kpod_lite.schedule import Schedule
from kpod_lite.templates import encode_student_example, format_rationale_target, student_prompt

log = logging.getLogger(__name__)

__all__ = [
    "split_at_step",
    "target_token_weights",
    "stage_examples",
    "pad_batch",
    "weighted_token_loss",
    "ProgressiveDataset",
    "KPODTrainer",
    "CurriculumCallback",
    "KPODTrainingArguments",
    "training_arguments",
    "distill",
    "distill_files",
]

# --- the stage-t example (Eq. 14) -----------------------------------------------------------------


def split_at_step(rationale: str, c: int) -> tuple[str, int]:
    """(the first c steps of `rationale`, the character offset where step c + 1 starts).

    c >= n, the number of steps, gives every step (and the offset len(rationale)): the
    student then writes only the answer sentence. `rationale[offset:].strip()` is
    the remaining text, and it starts exactly at `offset` (steps start at a non-space).
    """
    if c < 0:
        raise ValueError(f"the number of input steps c_i(t) must be >= 0, got {c}")
    steps = split_steps(rationale)
    if c == 0:
        return "", steps[0].start if steps else len(rationale)
    if c >= len(steps):
        return rationale.strip(), len(rationale)
    return rationale[:steps[c - 1].end].strip(), steps[c].start


def target_token_weights(target_offsets: Iterable[tuple[int, int]], rationale_offset: int, rationale_length: int,
                         weight_record: Mapping | None, floor: float = 0.0) -> list[float]:
    """w_j for each target token (Eq. 15), from the rationale-token weights.

    `target_offsets` are character spans in the target string; target character k is
    rationale character `rationale_offset + k` for k < `rationale_length` (the remaining
    rationale), and part of the answer sentence after that. A token inside the remaining
    rationale gets the weight of the rationale token covering most of its characters; a token
    of the answer sentence, a special token (empty span) or any token without a weight record
    gets 1 (the second term of Eq. 1, kept as is). With a `floor` λ (ours, `token_weight_floor`)
    a rationale token counts λ + (1 - λ) w_j: never less than λ of its plain loss, and a weight
    of 1 stays 1.
    """
    target_offsets = list(target_offsets)
    if weight_record is None:
        return [1.0] * len(target_offsets)
    # For each rationale character: the index of the rationale token that covers it.
    owner: dict[int, int] = {}
    for index, (start, end) in enumerate(weight_record["offsets"]):
        for position in range(int(start), int(end)):
            owner.setdefault(position, index)
    weights = weight_record["weights"]
    out = []
    for start, end in target_offsets:
        end = min(end, rationale_length)
        votes = Counter(owner[p] for p in range(rationale_offset + start, rationale_offset + end) if p in owner)
        out.append(floor + (1.0 - floor) * float(weights[votes.most_common(1)[0][0]]) if votes else 1.0)
    return out


def stage_examples(rationales: list[Mapping], weights: Mapping | None, input_steps: Mapping,
                   tokenizer, config: KPODConfig, family: StudentFamily) -> list[dict]:
    """The tokenised stage-t training examples, one per rationale record (Eq. 14-15).

    `rationales`: rationale records `{"id", "question", "answer", "rationale", "sample"?}`;
    `weights`: (id, sample) -> token weight record, or None for all-ones weights (KPOD-w.o.-sig,
    plain CoT); `input_steps`: id -> c_i(t), clipped to each rationale's step count.
    Each example holds `input_ids`, `attention_mask`, `labels` (-100: no loss) and `weights`
    (one per label), plus `id`, `sample`, `c` and `truncated` (input, target) for inspection.
    Prompt and target become ids in `templates.encode_student_example`, and `family` decides
    how they are joined (`kpod_lite.families`). Inputs are cut to `config.max_source_length`
    tokens and targets to `config.max_target_length`, at the end (a cut target loses its
    answer sentence: size the limits so that few are cut).
    """
    missing = [r["id"] for r in rationales if r["id"] not in input_steps]
    if missing:
        raise KeyError(f"the schedule has no c_i for {len(missing)} question(s), e.g. {missing[0]!r}")
    examples = []
    for record in rationales:
        sample = int(record.get("sample", 0))
        c = int(input_steps[record["id"]])
        given, offset = split_at_step(record["rationale"], c)
        remaining = record["rationale"][offset:].strip()
        weight_record = None
        if weights is not None:
            weight_record = weights.get((str(record["id"]), sample))
            if weight_record is None:
                raise KeyError(f"no token weights for rationale {record['id']!r} sample {sample}")
        example = encode_student_example(
            tokenizer, family, student_prompt(record["question"], given_steps=given, cot_prompt=config.cot_prompt),
            format_rationale_target(remaining, record["answer"]),
            max_source_length=config.max_source_length, max_target_length=config.max_target_length)
        target_weights = target_token_weights(example.target_offsets, offset, len(remaining), weight_record,
                                              config.token_weight_floor)
        examples.append({
            "id": record["id"], "sample": sample, "c": min(c, len(split_steps(record["rationale"]))),
            "truncated": example.truncated,
            "input_ids": example.input_ids, "attention_mask": [1] * len(example.input_ids),
            "labels": example.labels,
            "weights": [0.0] * (len(example.labels) - len(target_weights)) + target_weights,
        })
    return examples


def pad_batch(features: list[dict], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a list of examples into tensors: ids with `pad_token_id`, the attention mask
    with 0, labels with -100 and weights with 0 (padding is never learned). Keys that are not
    model inputs (`id`, `sample`, `c`, `truncated`) are dropped."""
    def pad(key: str, value, dtype) -> torch.Tensor:
        width = max(len(f[key]) for f in features)
        return torch.tensor([list(f[key]) + [value] * (width - len(f[key])) for f in features], dtype=dtype)

    return {
        "input_ids": pad("input_ids", pad_token_id, torch.long),
        "attention_mask": pad("attention_mask", 0, torch.long),
        "labels": pad("labels", -100, torch.long),
        "weights": pad("weights", 0.0, torch.float32),
    }


# --- the loss (Eq. 15) -------------------------------------------------------------------------------


def weighted_token_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ_j w_j · (-log P(label_j)) / (number of labelled tokens): Eq. 15 over a batch.

    `logits` (batch, length, vocabulary) are already aligned with `labels` (batch, length)
    (for a causal model: shifted by one, see `KPODTrainer.compute_loss`); labels of -100
    are no target. With all weights 1 this equals the mean token cross-entropy.
    """
    mask = labels != -100
    # Flat (tokens, vocabulary) logits: a transposed view sends cross_entropy down a slower path
    # (benchmarks/bench_distill_overhead.py measured it at 2.6x the loss time of the flat call).
    nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                          ignore_index=-100, reduction="none")
    weights = weights.reshape(-1).to(nll.dtype) * mask.reshape(-1)
    return (weights * nll).sum() / mask.sum().clamp(min=1)


# --- the curriculum inside the Trainer ------------------------------------------------------------------


class ProgressiveDataset(torch.utils.data.Dataset):
    """The training examples of the current stage; `set_stage(t)` rebuilds them (Eq. 14).

    Examples are cached per (rationale, c), so a stage only tokenises the rationales whose c
    changed. Its length (the number of rationales) never changes, so the Trainer's data loader
    and sampler stay valid across stages. Data-loader worker processes would keep stale copies:
    keep `dataloader_num_workers=0` (the default).
    """

    def __init__(self, rationales: list[Mapping], weights: Mapping | None, schedule: Schedule | None,
                 tokenizer, config: KPODConfig, family: StudentFamily, progressive: bool = True):
        if progressive and schedule is None:
            raise ValueError("a progressive run needs a schedule (or choose method 'w.o.-prog' / 'plain-cot')")
        self.rationales = list(rationales)
        self.weights = weights
        self.schedule = schedule if progressive else None
        self.tokenizer = tokenizer
        self.config = config
        self.family = family
        self._cache: dict[tuple[int, int], dict] = {}
        self._warned = False
        self.stage = -1
        self.examples: list[dict] = []
        self.set_stage(0)

    def input_steps(self, stage: int) -> dict:
        """c_i for stage `stage`: the schedule's, or 0 for every question without one (w.o.-prog)."""
        if self.schedule is None:
            return {r["id"]: 0 for r in self.rationales}
        return self.schedule.input_steps(stage)

    def set_stage(self, stage: int) -> dict:
        """Make the examples those of `stage`; returns a few statistics of that stage."""
        c = self.input_steps(stage)
        missing = [r["id"] for r in self.rationales if r["id"] not in c]
        if missing:
            raise KeyError(f"stage {stage} of the schedule has no c_i for {len(missing)} question(s), "
                           f"e.g. {missing[0]!r}")
        keys = [(i, int(c[r["id"]])) for i, r in enumerate(self.rationales)]
        todo = [key for key in keys if key not in self._cache]
        built = stage_examples([self.rationales[i] for i, _ in todo], self.weights, c, self.tokenizer, self.config,
                               self.family)
        self._cache.update(zip(todo, built))
        self.examples = [self._cache[key] for key in keys]
        self.stage = stage
        n = max(1, len(self.examples))
        stats = {
            "stage": stage,
            "mean_input_steps": round(sum(e["c"] for e in self.examples) / n, 4),
            "full_rationales": round(sum(e["c"] == 0 for e in self.examples) / n, 4),
            "target_tokens": sum(sum(label != -100 for label in e["labels"]) for e in self.examples),
            "truncated_inputs": round(sum(e["truncated"][0] for e in self.examples) / n, 4),
            "truncated_targets": round(sum(e["truncated"][1] for e in self.examples) / n, 4),
        }
        if (stats["truncated_inputs"] or stats["truncated_targets"]) and not self._warned:
            self._warned = True
            log.warning("stage %d: %.0f%% of inputs longer than max_source_length=%d and %.0f%% of targets "
                        "longer than max_target_length=%d are cut", stage, 100 * stats["truncated_inputs"],
                        self.config.max_source_length, 100 * stats["truncated_targets"],
                        self.config.max_target_length)
        return stats

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict:
        return self.examples[index]


class CurriculumCallback(TrainerCallback, ExportableState):
    """Moves the curriculum one stage per epoch (App. B: "we treat each epoch as a stage").

    At the start of an epoch it sets the data loader's `ProgressiveDataset` to the stage of
    that epoch; at its end it moves to the next. `stage` (and the per-epoch statistics in
    `stages`) are exported into every checkpoint's `trainer_state.json`, and the Trainer
    restores them on resume (`restore_callback_states_from_checkpoint=True`).
    """

    def __init__(self):
        self.stage = 0
        self.stages: list[dict] = []

    def state(self) -> dict:
        return {"args": {}, "attributes": {"stage": self.stage, "stages": list(self.stages)}}

    def on_epoch_begin(self, args, state, control, train_dataloader=None, **kwargs):
        stats = train_dataloader.dataset.set_stage(self.stage)
        self.stages.append(stats)
        log.info("stage %d: %s", self.stage, stats)

    def on_epoch_end(self, args, state, control, **kwargs):
        self.stage += 1


class KPODTrainer(Trainer):
    """A `Trainer` whose loss is Eq. 15: the batch carries one weight per label (`pad_batch`).

    The model's own loss is not used. `family` aligns labels and weights with the logits
    (`StudentFamily.forward`: a causal student predicts token k + 1 from position k).
    """

    # compute_loss returns a per-micro-batch mean; the Trainer divides it by the accumulation steps.
    loss_is_scaled_for_ga = False

    def __init__(self, *args, family: StudentFamily, **kwargs):
        super().__init__(*args, **kwargs)
        self.family = family

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights = self.family.align(inputs.pop("weights"), 0.0)
        labels = inputs.pop("labels")
        outputs, labels = self.family.forward(model, labels, **inputs)
        loss = weighted_token_loss(outputs.logits, labels, weights)
        return (loss, outputs) if return_outputs else loss


@dataclass
class KPODTrainingArguments(TrainingArguments):
    """`TrainingArguments` with the KPOD settings the trainer reads, the way TRL's trainer
    configs extend them. Build one from a `KPODConfig` with `training_arguments`."""

    method: str = field(default="kpod", metadata={"help": "Table 2 row (kpod_lite.methods)"})
    token_weight_floor: float = field(default=0.0, metadata={"help": "λ of Eq. 15's λ + (1 - λ) w_j (ours)"})


# The KPODConfig fields that are the Trainer's own knobs, passed through by name.
TRAINER_FIELDS = ("gradient_accumulation_steps", "lr_scheduler_type", "weight_decay", "max_grad_norm",
                  "save_total_limit", "learning_rate", "seed")


def training_arguments(config: KPODConfig, checkpoint_dir: Path | str, progress: bool = True) -> KPODTrainingArguments:
    """The arguments of a KPOD run (App. A: Adam, lr, batch size, epochs; ours: the rest).

    The Trainer's knobs come from the config fields of the same name (`TRAINER_FIELDS`;
    `warmup_ratio` is a share of all steps); one epoch is one stage (App. B).
    """
    cuda = torch.cuda.is_available()
    return KPODTrainingArguments(
        output_dir=str(checkpoint_dir),
        method=config.method,
        token_weight_floor=config.token_weight_floor,
        **{name: getattr(config, name) for name in TRAINER_FIELDS},
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        warmup_steps=config.warmup_ratio,  # a float in [0, 1): a share of all steps
        optim="adamw_torch",
        bf16=bool(config.bf16 and cuda and bf16_supported()),
        use_cpu=not cuda,
        data_seed=config.seed,
        logging_strategy="epoch",
        save_strategy="epoch",
        restore_callback_states_from_checkpoint=True,  # the curriculum stage
        remove_unused_columns=False,  # keep "weights" in the batch
        label_names=["labels"],
        dataloader_num_workers=0,  # workers would hold stale copies of the stage's examples
        ddp_find_unused_parameters=False,  # every weight (or adapter) of the student takes part
        report_to="none",
        disable_tqdm=not progress,
    )


# --- the whole run ----------------------------------------------------------------------------------


def _index_weights(weight_records: Iterable[Mapping] | None) -> dict | None:
    if weight_records is None:
        return None
    return {(str(r["id"]), int(r.get("sample", 0))): r for r in weight_records}


def _epoch_history(log_history: list[dict], stages: list[dict]) -> list[dict]:
    """One row per epoch: the curriculum statistics and the mean training loss."""
    losses = {round(entry["epoch"]): entry["loss"] for entry in log_history if "loss" in entry and "epoch" in entry}
    return [{"epoch": s["stage"] + 1, **s, "loss": losses.get(s["stage"] + 1)} for s in stages]


def distill(rationale_records: list[Mapping], weight_records: Iterable[Mapping] | None, schedule: Schedule | None,
            config: KPODConfig, output_dir: Path | str, *, method: str | None = None,
            resume: bool | str | Path = False, model=None, tokenizer=None, callbacks: list | None = None,
            progress: bool = True):
    """Train the student on the rationales with Eq. 15 and the stage schedule; App. B, Algorithm 1.

    `weight_records`: token weight records (Eq. 3), needed when the method uses them;
    `schedule`: the `Schedule` of Eq. 11 (one stage per epoch), needed when it is progressive;
    `method`: a row of Table 2 or "plain-cot" (`kpod_lite.methods`; None: `config.method`);
    `resume`: True continues from the last checkpoint in `<output_dir>/checkpoints` if there is
    one (a path names one); `model`/`tokenizer`: a student to train (default: `load_student`,
    with LoRA when `config.lora`). Returns `(model, tokenizer, history)`, history being one row
    per epoch (stage statistics and loss). The student is saved in `<output_dir>/model`.
    """
    from transformers import set_seed

    config = config.replace(method=method) if method else config
    switches = config.switches
    output_dir = Path(output_dir)
    set_seed(config.seed)  # LoRA's initialisation happens before the Trainer seeds itself
    if model is None:
        model, tokenizer = load_student(config)
        if config.lora:
            model = apply_lora(model, config)
    elif tokenizer is None:
        raise ValueError("pass the tokenizer together with the model")
    weights = _index_weights(weight_records) if switches.token_weights else None
    if switches.token_weights and weights is None:
        raise ValueError(f"method {config.method!r} uses token weights (Eq. 15): pass the weight records")
    family = family_of(model)
    dataset = ProgressiveDataset(rationale_records, weights, schedule, tokenizer, config, family, switches.progressive)
    curriculum = CurriculumCallback()
    trainer = KPODTrainer(
        model=model,
        args=training_arguments(config, output_dir / "checkpoints", progress=progress),
        train_dataset=dataset,
        data_collator=lambda features: pad_batch(features, tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[curriculum, *(callbacks or [])],
        family=family,
    )
    if not progress:
        # Without a progress bar the Trainer prints every log line instead; the history keeps them.
        trainer.remove_callback(PrinterCallback)
    checkpoint = None
    if resume:
        checkpoint = str(resume) if isinstance(resume, (str, Path)) else get_last_checkpoint(
            str(output_dir / "checkpoints"))
        if checkpoint is None:
            log.info("no checkpoint in %s: starting from the beginning", output_dir / "checkpoints")
    trainer.train(resume_from_checkpoint=checkpoint)
    # The Trainer replaces a stateful callback by a restored copy on resume: read the live one.
    curriculum = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, CurriculumCallback))
    history = _epoch_history(trainer.state.log_history, curriculum.stages)
    trainer.save_model(str(output_dir / "model"))  # safetensors; the adapter alone for LoRA
    if trainer.is_world_process_zero():
        record = {"method": config.method, "token_weights": switches.token_weights, "progressive": switches.progressive,
                  "config": config.to_dict(), "history": history}
        (output_dir / "history.json").write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    return trainer.model, tokenizer, history


def distill_files(rationales_path, weights_path, schedule_path, out_dir, config: KPODConfig,
                  method: str | None = None, resume: bool = False, progress: bool = True) -> dict:
    """`distill` on files: the `kpod-lite distill` step. Returns a summary.

    `weights_path` may be None for methods without token weights, `schedule_path` for methods
    without the progressive schedule.
    """
    started = time.perf_counter()
    rationales = [record for _, record in read_jsonl(rationales_path)]
    weights = [record for _, record in read_jsonl(weights_path)] if weights_path else None
    schedule = Schedule.load(schedule_path) if schedule_path else None
    name = method or config.method
    _, _, history = distill(rationales, weights, schedule, config, out_dir, method=method, resume=resume,
                            progress=progress)
    losses = [row["loss"] for row in history if row["loss"] is not None]
    return {
        "method": name,
        "rationales": len(rationales),
        "epochs": len(history),
        "final_loss": losses[-1] if losses else math.nan,
        "model": str(Path(out_dir) / "model"),
        "seconds": round(time.perf_counter() - started, 1),
        "history": history,
    }
