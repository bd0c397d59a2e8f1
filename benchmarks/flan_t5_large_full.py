"""FlanT5-Large at its full published size (24 + 24 layers, 783M parameters, ~3 GB in float32)
on CPU: LoRA distillation steps, a resume from a checkpoint, one greedy generation batch.

The student is built from the published config with random weights (`save_published`: no
download) and saved with the T5 stand-in tokenizer. Its Eq. 15 inputs come from the same
pipeline at depth 1 (benchmarks/real_architectures.py's settings, run up to `schedule`): the
token weights (Eq. 3) and the schedule (Eq. 11) are written in the stand-in tokenizer's tokens,
which do not depend on depth, so they are valid inputs for the full-size student. (Weighing and
scoring at full size would add minutes of CPU and nothing the depth-N pipeline run does not
show.) Three processes, each measured on its own:

1. `train`: `kpod_lite.distill.distill` with the preset's LoRA (r = 128, q and v), gradient
   checkpointing and batch size 4, on 6 rationales: 2 steps an epoch. A `TrainerCallback` stops
   it after epoch 1, once the epoch's checkpoint is written (kill-free: `checkpoint-2`).
2. `resume`: the same call with `resume=True` continues from `checkpoint-2` and finishes epoch
   2 (`checkpoint-4`, `model/`, `history.json`).
3. `generate`: the distilled student (`evaluate.load_trained`: the base plus the adapter) greedily
   answers the 8 sample test questions, one batch of `eval_batch_size` (the preset's 2 x 4).

Memory: resident memory after the imports (`before`), the peak while loading the student, then
the peak (Linux VmHWM, reset after loading) of the training or generation; `net` = that peak
minus `before`, compared with `estimate_memory(cfg, published config, device="cpu")`'s parts
summed (no GPU slack). Time: the whole process, the load and each phase. Prints JSON:

    PYTHONPATH=$PWD OMP_NUM_THREADS=2 .venv/bin/python benchmarks/flan_t5_large_full.py --out /tmp/kpod-t5-full
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from real_architectures import REDUCED, measured, sample_data, settings_args  # noqa: E402

MiB = 2 ** 20
NAME = "google/flan-t5-large"


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _peak() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status: this benchmark needs Linux")


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # Linux: VmHWM := current RSS


def config(student: Path):
    """The flan-t5-large preset with the pipeline benchmark's CPU reductions (`REDUCED`)."""
    from kpod_lite.config import preset

    changes = {**REDUCED, **sample_data(), "student": str(student)}
    return preset("flan-t5-large", **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})


def phase(kind: str, out: Path) -> dict:
    """One measured phase in this (fresh) process (module docstring)."""
    import torch
    from transformers import TrainerCallback

    from kpod_lite import data, distill, evaluate
    from kpod_lite.models import apply_lora, load_student
    from kpod_lite.schedule import Schedule

    cfg = config(out / "student")
    small = out / "depth1" / "run"
    before, started = _rss(), time.perf_counter()
    if kind == "generate":
        model, tokenizer = evaluate.load_trained(out / "distilled" / "model", cfg)
        model.eval()
    else:
        model, tokenizer = load_student(cfg)
        model = apply_lora(model, cfg)
    loaded = {"load_seconds": round(time.perf_counter() - started, 1),
              "load_peak_net_mib": round((_peak() - before) / MiB, 1)}
    _reset_peak()
    started = time.perf_counter()
    if kind == "generate":
        examples = data.load_examples(cfg.test_file, cfg.data_format)[: cfg.eval_batch_size or 2 * cfg.batch_size]
        with torch.no_grad():
            texts = evaluate.generate(model, tokenizer, evaluate.prompts_for(examples), cfg)
        result = {"prompts": len(examples), "new_tokens_max": cfg.max_new_tokens,
                  "first_generation": texts[0]}
    else:
        class StopAfterFirstEpoch(TrainerCallback):
            """Stop once epoch 1 ends; the Trainer writes the epoch's checkpoint before it stops."""

            def on_epoch_end(self, args, state, control, **kwargs):
                control.should_training_stop = True

        rationales = [r for _, r in data.read_jsonl(small / "rationales.jsonl")]
        weights = [w for _, w in data.read_jsonl(small / "weights.jsonl")]
        _, _, history = distill.distill(
            rationales, weights, Schedule.load(small / "schedule.json"), cfg, out / "distilled", model=model,
            tokenizer=tokenizer, resume=kind == "resume", progress=False,
            callbacks=[StopAfterFirstEpoch()] if kind == "train" else None)
        checkpoints = sorted((out / "distilled" / "checkpoints").glob("checkpoint-*"),
                             key=lambda p: int(p.name.split("-")[1]))
        state = json.loads((checkpoints[-1] / "trainer_state.json").read_text())
        result = {"rationales": len(rationales), "checkpoints": [p.name for p in checkpoints],
                  "global_step": state["global_step"], "epoch": state["epoch"],
                  "loss_by_epoch": [row["loss"] for row in history]}
    seconds = time.perf_counter() - started
    peak = _peak()
    return {"phase": kind, **loaded, "seconds": round(seconds, 1), "peak_net_mib": round((peak - before) / MiB, 1),
            "rss_before_mib": round(before / MiB, 1), **result}


def estimate(cfg) -> dict:
    from kpod_lite.memory import estimate_memory
    from kpod_lite.models.published import parameter_count, published_config

    model_config = published_config(NAME)
    found = estimate_memory(cfg, model_config, device="cpu")
    return {"parameters_m": round(parameter_count(model_config) / 1e6, 1),
            **{stage: {"parts_sum_mib": round(sum(found[stage].parts.values()) / MiB, 1),
                       "parts_mib": {k: round(v / MiB, 1) for k, v in found[stage].parts.items()}}
               for stage in ("distill", "evaluate")}}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a folder to create (removed first)")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of the phases")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.phase:
        print(json.dumps(phase(args.phase, args.out)))
        return
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    logs = args.out / "logs"
    # Eq. 15's inputs from the depth-1 pipeline (module docstring), then the full-size student.
    small = args.out / "depth1"
    measured([sys.executable, "-c", "import sys; from kpod_lite.models.published import save_published; "
              "save_published(sys.argv[1], sys.argv[2], depth=1)", NAME, str(small / "student")],
             env, "depth1-build", logs)
    changes = {**REDUCED, **sample_data(), "student": str(small / "student")}
    measured([sys.executable, "-m", "kpod_lite.cli", "run", "--preset", "flan-t5-large", "--out", str(small / "run"),
              *settings_args(changes), "--until", "schedule"], env, "depth1-schedule", logs)
    build = measured([sys.executable, "-c", "import sys; from kpod_lite.models.published import save_published; "
                      "save_published(sys.argv[1], sys.argv[2])", NAME, str(args.out / "student")], env, "build", logs)
    phases = []
    for kind in ("train", "resume", "generate"):
        process = measured([sys.executable, __file__, "--out", str(args.out), "--phase", kind], env, kind, logs)
        inner = json.loads((logs / f"{kind}.out").read_text().strip().splitlines()[-1])
        phases.append({**inner, "process_seconds": process["seconds"], "process_peak_rss_mib": process["peak_rss_mib"]})
        print(json.dumps(phases[-1]), file=sys.stderr, flush=True)
    cfg = config(args.out / "student")
    print(json.dumps({"student": NAME, "depth": 24, "threads": args.threads, "reduced": REDUCED,
                      "kept": {k: getattr(cfg, k) for k in ("lora_rank", "lora_alpha", "gradient_checkpointing",
                                                           "batch_size", "eval_batch_size", "learning_rate")},
                      "build": build, "phases": phases, "estimate_cpu": estimate(cfg)}, indent=1))


if __name__ == "__main__":
    main()
