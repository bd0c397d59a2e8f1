"""The loss of Eq. 15 and the curriculum inside the Hugging Face `Trainer` (one stage per epoch, App. B)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn import functional as F
from transformers import Trainer, TrainerCallback, TrainingArguments
from transformers.trainer_callback import ExportableState

from kpod_lite.config import KPODConfig
from kpod_lite.data import rationale_name
from kpod_lite.distill.examples import stage_examples
from kpod_lite.families import StudentFamily
from kpod_lite.models import bf16_supported
from kpod_lite.schedule import Schedule
from kpod_lite.versions import transformers_major

log = logging.getLogger("kpod_lite.distill")


# --- the loss (Eq. 15) -------------------------------------------------------------------------------


def token_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-log P(label_j) for each position, (batch, length); 0 where the label is -100.
    `logits` (batch, length, vocabulary) are already aligned with `labels` (batch, length)."""
    # Flat (tokens, vocabulary) logits: a transposed view sends cross_entropy down a slower path
    # (benchmarks/bench_distill_overhead.py measured it at 2.6x the loss time of the flat call).
    return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1),
                           ignore_index=-100, reduction="none").view(labels.shape)


def weighted_token_loss(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Σ_j w_j · (-log P(label_j)) / (number of labelled tokens): Eq. 15 over a batch.

    `logits` (batch, length, vocabulary) are already aligned with `labels` (batch, length)
    (for a causal model: shifted by one, see `KPODTrainer.compute_loss`); labels of -100
    are no target. With all weights 1 this equals the mean token cross-entropy.
    """
    mask = labels != -100
    nll = token_nll(logits, labels)
    return (weights.to(nll.dtype) * mask * nll).sum() / mask.sum().clamp(min=1)


# --- the curriculum inside the Trainer ------------------------------------------------------------------


def target_token_count(example: Mapping) -> int:
    """The tokens the student learns to write in one example: its labels other than -100."""
    return sum(label != -100 for label in example["labels"])


class ProgressiveDataset(torch.utils.data.Dataset):
    """The training examples of the current stage; `set_stage(t)` rebuilds them (Eq. 14).

    Examples are cached per (rationale, c), so a stage only tokenises the rationales whose c
    changed. Its length (the number of rationales) never changes, so the Trainer's data loader
    and sampler stay valid across stages. Data-loader worker processes would keep stale copies:
    keep `dataloader_num_workers=0` (the default).
    """

    def __init__(self, rationales: list[Mapping], weights: Mapping | None, schedule: Schedule | None,
                 tokenizer, config: KPODConfig, family: StudentFamily, progressive: bool = True,
                 completion=None):
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
        # KPOD-ICL (kpod_lite.curricula.icl): stage -> the share p of each rationale given, not learned.
        self.completion = completion
        self.completion_ratio = 0.0
        self.stage = -1
        self.examples: list[dict] = []
        self.set_stage(0)

    def input_steps(self, stage: int) -> dict:
        """c_i for stage `stage`: the schedule's, or 0 for every question without one (w.o.-prog)."""
        if self.schedule is None:
            return {rationale_name(r): 0 for r in self.rationales}
        return self.schedule.input_steps(stage)

    def set_stage(self, stage: int) -> dict:
        """Make the examples those of `stage`; returns a few statistics of that stage."""
        c = self.input_steps(stage)
        missing = [rationale_name(r) for r in self.rationales if rationale_name(r) not in c]
        if missing:
            raise KeyError(f"stage {stage} of the schedule has no c_i for {len(missing)} question(s), "
                           f"e.g. {missing[0]!r}")
        keys = [(i, int(c[rationale_name(r)])) for i, r in enumerate(self.rationales)]
        todo = [key for key in keys if key not in self._cache]
        built = stage_examples([self.rationales[i] for i, _ in todo], self.weights, c, self.tokenizer, self.config,
                               self.family)
        self._cache.update(zip(todo, built))
        self.examples = [self._cache[key] for key in keys]
        if self.completion is not None:
            from kpod_lite.curricula import mask_completed_prefix

            self.completion_ratio = self.completion(stage)
            self.examples = [mask_completed_prefix(e, self.completion_ratio, self.family.seq2seq)
                             for e in self.examples]
        self.stage = stage
        n = max(1, len(self.examples))
        stats = {
            "stage": stage,
            "mean_input_steps": round(sum(e["c"] for e in self.examples) / n, 4),
            "full_rationales": round(sum(e["c"] == 0 for e in self.examples) / n, 4),
            "target_tokens": sum(target_token_count(e) for e in self.examples),
            "truncated_inputs": round(sum(e["truncated"][0] for e in self.examples) / n, 4),
            "truncated_targets": round(sum(e["truncated"][1] for e in self.examples) / n, 4),
        }
        if self.completion is not None:
            stats["completion_ratio"] = self.completion_ratio
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


class EpochAccuracyCallback(TrainerCallback):
    """Test accuracy (§4) after every epoch, so a curriculum's cost and gain show over training
    and not only at its end (ours): the student answers `examples` greedily, as
    `evaluate` does, at the end of each epoch, before that epoch's checkpoint is written.

    The accuracies are kept in `path` (JSON, {epoch: accuracy}), rewritten whole each epoch: a
    resumed run keeps the epochs it has, and an epoch redone after a kill is measured again and
    gets the same value (greedy decoding draws no random numbers).
    """

    def __init__(self, examples, tokenizer, config: KPODConfig, path: Path):
        self.examples, self.tokenizer, self.config, self.path = list(examples), tokenizer, config, Path(path)
        self.accuracy: dict[int, float] = ({int(k): v for k, v in json.loads(self.path.read_text("utf-8")).items()}
                                           if self.path.exists() else {})

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        from kpod_lite.data import write_atomically
        from kpod_lite.evaluate import evaluate_examples

        summary = evaluate_examples(model, self.tokenizer, self.examples, self.config)  # back in train mode after
        self.accuracy[round(state.epoch)] = summary["accuracy"]
        write_atomically(self.path, json.dumps(self.accuracy, indent=1) + "\n")


class KPODTrainer(Trainer):
    """A `Trainer` whose loss is Eq. 15: the batch carries one weight per label (`pad_batch`).

    The model's own loss is not used. `family` aligns labels and weights with the logits
    (`StudentFamily.forward`: a causal student predicts token k + 1 from position k).

    Gradient accumulation: Eq. 15 sums over the rationales of a batch, which we divide by the
    batch's target tokens (`weighted_token_loss`). With `gradient_accumulation_steps` = k the
    batch of one optimiser step is k micro-batches, so each micro-batch's sum is divided by the
    target tokens of all k (`get_batch_samples` counts them) and the k gradients add up to that
    of one batch k times as large. The Trainer must then not divide again; transformers 4.x
    and 5 decide that differently (see `__init__`), so both are told.
    """

    # --- gradient accumulation (the loss is already divided by the step's tokens) ---
    # transformers >= 5 reads this flag; it divides the loss by the accumulation steps when False.
    loss_is_scaled_for_ga = True

    def __init__(self, *args, family: StudentFamily, curriculum: str | None = None, reference_model=None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.family = family
        # Table 2's curriculum rows (kpod_lite.curricula): "spl" weighs each row of the loss, "acl"
        # draws each epoch from a pool (`PacedSampler`) and adds a KL term to `reference_model`, the
        # pre-distillation student (None with LoRA: the student with its adapter off).
        self.curriculum = curriculum
        self.reference_model = reference_model
        # transformers 4.x has no flag: it divides unless the model "accepts loss kwargs" and the
        # step's count (`num_items_in_batch`) is given, which `get_batch_samples` always gives.
        self.model_accepts_loss_kwargs = True

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        """The micro-batches of one optimiser step and their target tokens: the labels Eq. 15
        counts once aligned with the logits (`StudentFamily.align`), not the Trainer's own count,
        which differs between versions for a causal student."""
        batch_samples, _ = super().get_batch_samples(epoch_iterator, num_batches, device)
        targets = sum(int((self.family.align(batch["labels"], -100) != -100).sum()) for batch in batch_samples)
        return batch_samples, targets

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        weights = self.family.align(inputs.pop("weights"), 0.0)
        labels = inputs.pop("labels")
        context = inputs.pop("context_labels", None)
        if context is not None:  # KPOD-ICL, seq2seq: the decoder reads the given prefix it is not scored on
            inputs["decoder_input_ids"] = model.prepare_decoder_input_ids_from_labels(labels=context)
        if self.curriculum == "spl":
            from kpod_lite.curricula import confidence_row_weights

            weights = weights * confidence_row_weights(model, self.family, labels, **inputs)[:, None]
        outputs, aligned = self.family.forward(model, labels, **inputs)
        loss = weighted_token_loss(outputs.logits, aligned, weights)
        if self.curriculum == "acl":
            loss = loss + self._kl_to_pre_distillation(model, labels, inputs, outputs.logits, aligned)
        targets = int((aligned != -100).sum())
        if num_items_in_batch and num_items_in_batch != targets:  # one micro-batch of several: its share
            loss = loss * targets / num_items_in_batch
        return (loss, outputs) if return_outputs else loss
    # --- end of gradient accumulation ---

    def _kl_to_pre_distillation(self, model, labels, inputs, logits, aligned):
        """KPOD-ACL's γ · KL(P_pre-distillation ‖ P_student) (kpod_lite.curricula.acl)."""
        from contextlib import nullcontext

        from kpod_lite.curricula.acl import KL_WEIGHT, kl_to_reference

        reference = self.reference_model if self.reference_model is not None else model
        switched_off = model.disable_adapter() if self.reference_model is None else nullcontext()
        with torch.no_grad(), switched_off:
            reference_logits, _ = self.family.forward(reference, labels, **inputs)
        return KL_WEIGHT * kl_to_reference(logits, reference_logits.logits, aligned)

    def _get_train_sampler(self, *args, **kwargs):
        if self.curriculum == "acl":
            from kpod_lite.curricula import PacedSampler

            return PacedSampler(self, len(self.train_dataset), self.args.data_seed or self.args.seed)
        return super()._get_train_sampler(*args, **kwargs)


@dataclass
class KPODTrainingArguments(TrainingArguments):
    """`TrainingArguments` extended with the KPOD settings of the run, the way TRL's trainer
    configs extend them, so every checkpoint's `training_args.bin` records which method and which
    weight floor trained it (the floor itself is applied to the examples, `stage_examples`).
    Build one from a `KPODConfig` with `training_arguments`."""

    method: str = field(default="kpod", metadata={"help": "Table 2 row (kpod_lite.methods)"})
    token_weight_floor: float = field(default=0.0, metadata={"help": "λ of Eq. 15's λ + (1 - λ) w_j (ours)"})


# The KPODConfig fields that are the Trainer's own knobs, passed through by name.
TRAINER_FIELDS = ("gradient_accumulation_steps", "lr_scheduler_type", "weight_decay", "max_grad_norm",
                  "save_total_limit", "learning_rate", "seed")


def training_arguments(config: KPODConfig, checkpoint_dir: Path | str, progress: bool = True,
                       device: str | torch.device | None = None) -> KPODTrainingArguments:
    """The arguments of a KPOD run (App. A: Adam, lr, batch size, epochs; ours: the rest).

    The Trainer's knobs come from the config fields of the same name (`TRAINER_FIELDS`;
    `warmup_ratio` is a share of all steps); one epoch is one stage (App. B). It trains on
    `device` (default: `student_device(config)`), and on one GPU of several (`one_gpu`).
    """
    from kpod_lite.models.loading import student_device

    device = torch.device(device) if device is not None else student_device(config)
    cuda = device.type == "cuda"
    return one_gpu(KPODTrainingArguments(
        output_dir=str(checkpoint_dir),
        method=config.method,
        token_weight_floor=config.token_weight_floor,
        **{name: getattr(config, name) for name in TRAINER_FIELDS},
        num_train_epochs=config.epochs,
        per_device_train_batch_size=config.batch_size,
        # A share of all steps: transformers 5 takes it as a float warmup_steps, 4.x as warmup_ratio.
        **{"warmup_steps" if transformers_major() >= 5 else "warmup_ratio": config.warmup_ratio},
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
    ))


def one_gpu(args: TrainingArguments) -> TrainingArguments:
    """`args` training on one GPU when several are visible and the run was not launched distributed.

    The Trainer would otherwise wrap the student in `nn.DataParallel` over every visible GPU,
    quietly making each step's batch batch_size x GPUs, while mask learning, the difficulty,
    the evaluation and the memory check (`kpod_lite.memory`) use one GPU. transformers counts
    the GPUs once, when the arguments are built (`_n_gpu`); setting it to 1 afterwards is what
    its own model-parallel path does (`Trainer.__init__`).
    """
    if args.n_gpu > 1:
        log.warning("%d GPUs are visible: kpod-lite trains on one (%s), as its other stages and its memory check "
                    "do, and leaves %d unused. To train a student on all of them, launch distillation distributed: "
                    "accelerate launch --num_processes %d -m kpod_lite.cli distill ... (batch_size is then per GPU); "
                    "to choose the GPU, set CUDA_VISIBLE_DEVICES.", args.n_gpu, args.device, args.n_gpu - 1,
                    args.n_gpu)
        args._n_gpu = 1
    return args
