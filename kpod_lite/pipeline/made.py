"""What made each stage of a run folder, so that a re-run reuses only what its settings leave
alone.

A stage reads some of the config's fields and some files of the folder. `FIRST_READ` says, for
each field, the first stage that reads it; every later stage depends on that one's output, so
it reads the field too. A field not in the table is taken to be read by every stage, the safe
side. On a re-run with other settings (`check_reuse`):

- a changed field that no finished stage has read is simply taken: the folder's config.json
  then says the new value, which is still true of every stage in it;
- a changed field that a finished stage read is refused, naming the stage and the field: its
  output would be reused as if made with the new value. `--force` rebuilds, or use another folder.

Each stage also records the digests of the files it read (`stages.json`, written by `record`
when the stage has run). A file changed by hand afterwards (rationales edited after the
weights were learned from them) is refused the same way, naming the file and the stage.
Both files are read through `state_files` (`read_run_settings`, `read_stage_records`), so one
cut or edited by hand is named, with what to do, whether `run` was started by the command line
or from Python.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.state_files import read_run_settings, read_stage_records

# The pipeline's stages in order (`pipeline.STAGES` is this tuple).
STAGES = ("questions", "teach", "weigh", "difficulty", "schedule", "distill", "evaluate")

# Read by no stage's output: the preset's name, the default method (each student's method is its
# folder, students/<method>/), and the device (a run moved to another machine reuses what it made).
NEUTRAL = frozenset({"name", "method", "device"})

_TEACH = ("teacher", "teacher_model", "teacher_base_url", "teacher_replay_from", "teacher_max_tokens",
          "teacher_concurrency", "teacher_timeout", "teacher_max_attempts", "cot_prompt", "teacher_samples",
          "teacher_temperature", "filter_correct")
# Mask learning loads the student (and its LoRA adapters as the predictor) and batches like it.
_WEIGH = ("normalize_symbols", "student", "trust_remote_code", "max_source_length", "max_target_length", "alpha",
          "gumbel_temperature", "weighting_epochs", "weighting_lr", "prefix_mode", "weighting_predictor",
          "weighting_predictor_warmup_steps", "weighting_batch_size", "weighting_max_tokens",
          "weighting_sampled_prefixes", "weighting_hard", "weighting_positions", "weighting_train_embeddings",
          "batch_size", "lora", "lora_rank", "lora_alpha", "lora_dropout", "lora_target_modules", "bf16",
          "gradient_checkpointing")
_SCHEDULE = ("epochs", "T", "p", "c0_fraction", "delta_s", "beta", "n_clusters", "glove_file", "ftgp_eps")
_DISTILL = ("token_weight_floor", "learning_rate", "gradient_accumulation_steps", "lr_scheduler_type", "warmup_ratio",
            "weight_decay", "max_grad_norm", "save_total_limit", "epoch_eval_size",
            "epoch_eval_split")
_EVALUATE = ("max_new_tokens", "eval_batch_size", "evaluate_teacher")

FIRST_READ: dict[str, str] = {
    **{f: "questions" for f in ("seed", "dataset", "data_format", "train_file", "test_file", "train_size",
                                "validation_size", "test_size", "synthetic", "ood")},
    **{f: "teach" for f in _TEACH},
    **{f: "weigh" for f in _WEIGH},
    "difficulty_temperature": "difficulty",
    **{f: "schedule" for f in _SCHEDULE},
    **{f: "distill" for f in _DISTILL},
    **{f: "evaluate" for f in _EVALUATE},
}


def finished_stages(run_dir: Path) -> list[str]:
    """The stages that have written something into `run_dir` (a started student counts)."""
    students = run_dir / "students"
    made = {
        "questions": (run_dir / "questions" / "train.jsonl").exists(),
        "teach": (run_dir / "rationales.jsonl").exists(),
        "weigh": any(run_dir.glob("weights*.jsonl")),
        "difficulty": any(run_dir.glob("difficulty*.jsonl")),
        "schedule": any(run_dir.glob("schedule*.json")),
        "distill": any(students.glob("*/seed-*")),
        "evaluate": any(students.glob("**/eval.json")),
    }
    return [stage for stage in STAGES if made[stage]]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_reuse(cfg: KPODConfig, run_dir: Path) -> None:
    """Refuse a re-run whose settings or inputs differ from what a finished stage was made with
    (module docstring); anything else may reuse the folder. A broken config.json or stages.json
    is a `DataFormatError` naming the file and what to do (`state_files`)."""
    made = read_run_settings(run_dir)
    records = read_stage_records(run_dir)
    done = finished_stages(run_dir)
    if made is not None:
        wanted = json.loads(json.dumps(cfg.to_dict()))
        # A setting added since the folder was made is absent from it; its default is what ran.
        defaults = json.loads(json.dumps(KPODConfig().to_dict()))
        for key in sorted(made.keys() | wanted.keys()):
            if key in NEUTRAL or made.get(key, defaults.get(key)) == wanted.get(key):
                continue
            first = FIRST_READ.get(key, STAGES[0])
            readers = [s for s in done if STAGES.index(s) >= STAGES.index(first)]
            if readers:
                raise ConfigError(
                    f"run folder {run_dir}: its {readers[0]} stage was made with {key}={made.get(key, '(absent)')!r}, "
                    f"and this run asks for {wanted.get(key, '(absent)')!r}; stages from {first} on read {key!r}. "
                    f"Re-run with --force (force=True) to rebuild them, or choose another --out")
    for stage, record in records.items():
        if stage not in done:
            continue
        for name, digest in record["inputs"].items():
            file = run_dir / name
            if file.exists() and _digest(file) != digest:
                raise ConfigError(f"run folder {run_dir}: {name} changed after the {stage} stage was made from it; "
                                  f"re-run with --force (force=True) to rebuild, or restore the file")


def record(run_dir: Path, stage: str, inputs) -> None:
    """Write the digests of the files `stage` read (names relative to `run_dir`) into
    stages.json, unless the stage already has a record (it was made before, from those files)."""
    from kpod_lite.data import write_atomically

    records = read_stage_records(run_dir)
    if stage in records:
        return
    names = sorted({str(Path(p).relative_to(run_dir)) for p in inputs if Path(p).is_file()})
    records[stage] = {"inputs": {name: _digest(run_dir / name) for name in names}}
    write_atomically(run_dir / "stages.json", json.dumps(records, indent=1) + "\n")
