"""A whole distillation run: the student, the Trainer, resuming, the history (App. B, Algorithm 1)."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from transformers import PrinterCallback
from transformers.trainer_utils import get_last_checkpoint

from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.data import rationale_key, read_jsonl
from kpod_lite.distill.examples import pad_batch
from kpod_lite.distill.trainer import CurriculumCallback, KPODTrainer, ProgressiveDataset, training_arguments
from kpod_lite.families import family_of
from kpod_lite.methods import METHODS
from kpod_lite.models import apply_lora, load_student
from kpod_lite.schedule import Schedule

log = logging.getLogger("kpod_lite.distill")


# --- the whole run ----------------------------------------------------------------------------------


def _index_weights(weight_records: Iterable[Mapping] | None) -> dict | None:
    if weight_records is None:
        return None
    return {rationale_key(r): r for r in weight_records}


def _check_schedule_fits(schedule: Schedule | None, config: KPODConfig) -> None:
    """Refuse a schedule built for another method's schedule (kpod_lite.methods): e.g. KPOD's
    schedule given to w.o.-div would quietly train the ablation with diversity. Schedules that
    do not record their method (written before it was recorded) are taken as they are."""
    built_for = (schedule.meta or {}).get("method") if schedule is not None else None
    if not config.switches.progressive or built_for is None:
        return
    if built_for not in METHODS or METHODS[built_for].schedule_file != config.switches.schedule_file:
        raise ConfigError(f"the schedule was built for method {built_for!r}, which schedules differently from "
                          f"{config.method!r}: build one with --set method='\"{config.method}\"' "
                          f"(the pipeline names it {config.switches.schedule_file})")


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
    _check_schedule_fits(schedule, config)
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
