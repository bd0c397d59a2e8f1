"""A whole distillation run: the student, the Trainer, resuming, the history (App. B, Algorithm 1)."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from transformers import PrinterCallback

from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.consistency import check_known_rationales, check_schedule_fits
from kpod_lite.data import DataFormatError, read_jsonl, write_atomically
from kpod_lite.distill.examples import pad_batch
from kpod_lite.distill.trainer import (
    CurriculumCallback,
    EpochAccuracyCallback,
    KPODTrainer,
    ProgressiveDataset,
    training_arguments,
)
from kpod_lite.families import family_of
from kpod_lite.memory import plain_forward
from kpod_lite.methods import METHODS
from kpod_lite.models import apply_lora, load_student
from kpod_lite.schedule import Schedule
from kpod_lite.weighting.records import check_rationale_records, paired_weights, record_origin

log = logging.getLogger("kpod_lite.distill")


# --- the whole run ----------------------------------------------------------------------------------


def check_inputs(rationale_records: list[Mapping], weight_records: list[Mapping] | None, schedule: Schedule | None,
                 origins: tuple[list[dict], list[dict] | None] | None = None) -> tuple[list, list | None]:
    """The checks of distillation's inputs that need no student, run before one is loaded.

    Every rationale record needs `id`, `question`, `answer` and a non-empty `rationale`, once;
    every weight record must be for one of them (`consistency.check_known_rationales`); a
    schedule must fit them (`consistency.check_schedule_fits`: a c_i for each, none past its
    rationale's last step). `origins` say where each record came from
    (`weighting.records.record_origin`; default: its place in the list), so an error names the
    file, the line and the field. Returns the (origin, record) pairs of the rationales and of
    the weights (None without weights), which `paired_weights` aligns once the tokenizer is loaded.
    """
    rationale_origins = origins[0] if origins else [record_origin("<rationale records>", None, i, r)
                                                    for i, r in enumerate(rationale_records)]
    rationales = list(zip(rationale_origins, rationale_records))
    check_rationale_records(rationales, ("id", "question", "answer", "rationale"))
    weights = None
    if weight_records is not None:
        weight_origins = origins[1] if origins and origins[1] else [record_origin("<weight records>", None, i, w)
                                                                    for i, w in enumerate(weight_records)]
        weights = list(zip(weight_origins, weight_records))
        # Weights of other rationales would be ignored without a word: refused.
        check_known_rationales(weights, rationales, "token weight", "kpod-lite weigh")
    if schedule is not None:
        check_schedule_fits(schedule, rationales, schedule.source or "the schedule")
    return rationales, weights


def checked_inputs(rationale_records: list[Mapping], weight_records: list[Mapping] | None, tokenizer,
                   origins: tuple[list[dict], list[dict] | None] | None = None) -> dict | None:
    """The (id, sample) -> weight record index Eq. 15 trains with: `check_inputs`, then each weight
    record checked to hold the student's tokens of its rationale and one weight in [0, 1] per
    token (`weighting.records.paired_weights`). None weights give None (all-ones weights)."""
    rationales, weights = check_inputs(rationale_records, weight_records, None, origins)
    return None if weights is None else paired_weights(rationales, weights, tokenizer)

def _check_method_inputs(schedule: Schedule | None, weight_records, config: KPODConfig) -> None:
    """Refuse inputs that do not fit `config.method` (kpod_lite.methods): missing weights or
    schedule, or a schedule built for another method's schedule (KPOD's schedule given to
    w.o.-div would quietly train the ablation with diversity). Schedules that do not record
    their method (written before it was recorded) are taken as they are."""
    switches = config.switches
    if switches.token_weights and weight_records is None:
        raise ConfigError(f"method {config.method!r} uses token weights (Eq. 15): pass the weight records "
                          f"(kpod-lite distill --weights)")
    if switches.progressive and schedule is None:
        raise ConfigError(f"method {config.method!r} is progressive (Eq. 14): pass its schedule "
                          f"(kpod-lite distill --schedule), or choose method 'w.o.-prog' or 'plain-cot'")
    built_epochs = (schedule.params or {}).get("epochs") if schedule is not None else None
    if switches.progressive and built_epochs is not None and built_epochs != config.epochs:
        raise ConfigError(f"the schedule was built for {built_epochs} epochs (one stage each, T = {schedule.T}) but "
                          f"this run trains {config.epochs}: rebuild it with kpod-lite schedule --epochs "
                          f"{config.epochs}, or set epochs={built_epochs}")
    built_for = (schedule.meta or {}).get("method") if schedule is not None else None
    if not config.switches.progressive or built_for is None:
        return
    if built_for not in METHODS or METHODS[built_for].schedule_file != config.switches.schedule_file:
        raise ConfigError(f"the schedule was built for method {built_for!r}, which schedules differently from "
                          f"{config.method!r}: build one with --set method='\"{config.method}\"' "
                          f"(the pipeline names it {config.switches.schedule_file})")


# What a checkpoint folder holds once the Trainer has finished writing it (the weights are
# model.safetensors, or adapter_model.safetensors for LoRA).
_CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")


def _complete(checkpoint: Path) -> bool:
    return all((checkpoint / name).is_file() for name in _CHECKPOINT_FILES) and any(
        (checkpoint / name).is_file() for name in ("model.safetensors", "adapter_model.safetensors"))


def checkpoint_to_resume(resume: bool | str | Path, checkpoints: Path) -> str | None:
    """The checkpoint `resume` names: a path, or (True) the newest complete one in `checkpoints`.

    A run killed while the Trainer was writing a checkpoint leaves a folder without some of its
    files; it is skipped (with a warning), so the run resumes from the epoch before instead of
    failing on every resume. `state_files.check_resume_checkpoint` checks the one this picks.
    """
    if not resume:
        return None
    if isinstance(resume, (str, Path)):
        return str(resume)
    found = sorted((p for p in checkpoints.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True) if checkpoints.is_dir() else []
    for checkpoint in found:
        if _complete(checkpoint):
            return str(checkpoint)
        log.warning("skipping %s: an unfinished checkpoint (the run was stopped while writing it)", checkpoint)
    log.info("no checkpoint in %s: starting from the beginning", checkpoints)
    return None


def _epoch_history(log_history: list[dict], stages: list[dict], accuracy: Mapping[int, float] | None = None) -> list[dict]:
    """One row per epoch: the curriculum statistics, the mean training loss and, when measured,
    the test accuracy after it (`EpochAccuracyCallback`)."""
    losses = {round(entry["epoch"]): entry["loss"] for entry in log_history if "loss" in entry and "epoch" in entry}
    rows = [{"epoch": s["stage"] + 1, **s, "loss": losses.get(s["stage"] + 1)} for s in stages]
    if accuracy is not None:
        for row in rows:
            row["test_accuracy"] = accuracy.get(row["epoch"])
    return rows


def distill(rationale_records: list[Mapping], weight_records: Iterable[Mapping] | None, schedule: Schedule | None,
            config: KPODConfig, output_dir: Path | str, *, method: str | None = None,
            resume: bool | str | Path = False, model=None, tokenizer=None, callbacks: list | None = None,
            progress: bool = True, origins: tuple[list[dict], list[dict] | None] | None = None,
            epoch_eval=None):
    """Train the student on the rationales with Eq. 15 and the stage schedule; App. B, Algorithm 1.

    `weight_records`: token weight records (Eq. 3), needed when the method uses them, checked
    with the rationales first (`checked_inputs`; `origins` says where each record came from);
    `schedule`: the `Schedule` of Eq. 11 (one stage per epoch), needed when it is progressive;
    `method`: a row of Table 2 or "plain-cot" (`kpod_lite.methods`; None: `config.method`);
    `resume`: True continues from the last checkpoint in `<output_dir>/checkpoints` if there is
    one (a path names one); `model`/`tokenizer`: a student to train (default: `load_student`,
    with LoRA when `config.lora`); `epoch_eval`: test examples whose accuracy is measured after
    every epoch (`EpochAccuracyCallback`, kept in `<output_dir>/epoch_accuracy.json`).
    Returns `(model, tokenizer, history)`, history being one row per epoch (stage statistics,
    loss, and the accuracy when measured). The student is saved in `<output_dir>/model`. It
    trains where the student is (`load_student`: `config.device`). Done with the returned
    model, drop it and call `memory.release()` to give its GPU memory back.
    """
    from transformers import set_seed

    config = config.replace(method=method) if method else config
    switches = config.switches
    output_dir = Path(output_dir)
    set_seed(config.seed)  # LoRA's initialisation happens before the Trainer seeds itself
    rationale_records = list(rationale_records)
    weight_records = list(weight_records) if switches.token_weights and weight_records is not None else None
    rationales, weight_pairs = check_inputs(rationale_records, weight_records, schedule, origins)
    _check_method_inputs(schedule, weight_records, config)
    if model is None:
        model, tokenizer = load_student(config)
        if config.lora:
            model = apply_lora(model, config)
    elif tokenizer is None:
        raise ValueError("pass the tokenizer together with the model")
    weights = None if weight_pairs is None else paired_weights(rationales, weight_pairs, tokenizer)
    family = family_of(model)
    accuracy_path = output_dir / "epoch_accuracy.json"
    completion = None
    if switches.curriculum == "icl":  # Table 2's KPOD-ICL: p from the per-epoch accuracies when measured
        from kpod_lite.curricula import InSampleCurriculum

        completion = InSampleCurriculum(config.stage_T, accuracy_path if epoch_eval else None)
    dataset = ProgressiveDataset(rationale_records, weights, schedule, tokenizer, config, family, switches.progressive,
                                 completion=completion)
    curriculum = CurriculumCallback()
    extra = [] if not epoch_eval else [EpochAccuracyCallback(epoch_eval, tokenizer, config, accuracy_path)]
    reference_model = None
    if switches.curriculum == "acl":  # Table 2's KPOD-ACL: the pool of each epoch, the KL term's reference
        import copy

        from kpod_lite.curricula import AdaptiveCurriculum

        extra.append(AdaptiveCurriculum(config.stage_T, tokenizer.pad_token_id, config.generation_batch_size))
        if not config.lora:  # the student as loaded, before any training (with LoRA: its adapter off)
            reference_model = copy.deepcopy(model).eval().requires_grad_(False)
    trainer = KPODTrainer(
        model=model,
        args=training_arguments(config, output_dir / "checkpoints", progress=progress,
                                device=next(model.parameters()).device),
        train_dataset=dataset,
        data_collator=lambda features: pad_batch(features, tokenizer.pad_token_id),
        processing_class=tokenizer,
        callbacks=[curriculum, *extra, *(callbacks or [])],
        family=family,
        curriculum=switches.curriculum,
        reference_model=reference_model,
    )
    if not progress:
        # Without a progress bar the Trainer prints every log line instead; the history keeps them.
        trainer.remove_callback(PrinterCallback)
    trainer.train(resume_from_checkpoint=checkpoint_to_resume(resume, output_dir / "checkpoints"))
    # The Trainer replaces a stateful callback by a restored copy on resume: read the live one.
    curriculum = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, CurriculumCallback))
    accuracy = next((cb.accuracy for cb in extra if isinstance(cb, EpochAccuracyCallback)), None)
    history = _epoch_history(trainer.state.log_history, curriculum.stages, accuracy)
    if switches.curriculum == "acl":  # its epochs draw from a pool, with repeats: count what they drew
        from kpod_lite.curricula import AdaptiveCurriculum

        drawn = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, AdaptiveCurriculum))
        for row in history:
            row["target_tokens"] = drawn.drawn_target_tokens.get(str(row["epoch"]), row["target_tokens"])
    trainer.save_model(str(output_dir / "model"))  # safetensors; the adapter alone for LoRA
    if trainer.is_world_process_zero():
        record = {"method": config.method, "token_weights": switches.token_weights, "progressive": switches.progressive,
                  "config": config.to_dict(), "history": history}
        # Written last and whole: the pipeline takes a student with history.json as finished.
        write_atomically(output_dir / "history.json", json.dumps(record, indent=1) + "\n")
    # The student as it was given, without the Trainer's mixed-precision wrapper, so that it is
    # freed with the caller's last name for it (memory.release).
    plain_forward(trainer.model)
    return trainer.model, tokenizer, history


def distill_files(rationales_path, weights_path, schedule_path, out_dir, config: KPODConfig,
                  method: str | None = None, resume: bool = False, progress: bool = True,
                  epoch_eval_path=None) -> dict:
    """`distill` on files: the `kpod-lite distill` step. Returns a summary.

    `weights_path` may be None for methods without token weights, `schedule_path` for methods
    without the progressive schedule. With `config.epoch_eval_size` N > 0, the first N
    questions of `epoch_eval_path` (question records) are answered after every epoch.
    """
    started = time.perf_counter()
    rationale_lines = list(read_jsonl(rationales_path))
    if not rationale_lines:
        raise DataFormatError(rationales_path, None, None, "no rationale records to distil (kpod-lite teach writes them)")
    rationales = [record for _, record in rationale_lines]
    weight_lines = list(read_jsonl(weights_path)) if weights_path else None
    weights = [record for _, record in weight_lines] if weight_lines is not None else None
    origins = ([record_origin(str(rationales_path), line, i, r) for i, (line, r) in enumerate(rationale_lines)],
               [record_origin(str(weights_path), line, i, w) for i, (line, w) in enumerate(weight_lines)]
               if weight_lines is not None else None)
    schedule = Schedule.load(schedule_path) if schedule_path else None
    name = method or config.method
    epoch_eval = None
    if config.epoch_eval_size and epoch_eval_path is not None:
        from kpod_lite.data import load_examples

        epoch_eval = load_examples(epoch_eval_path, "kpod")[: config.epoch_eval_size]
    _, _, history = distill(rationales, weights, schedule, config, out_dir, method=method, resume=resume,
                            progress=progress, origins=origins, epoch_eval=epoch_eval)
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
