"""Kill a small pipeline run with SIGKILL at points in every stage, resume it, and compare
what it made, byte for byte, with a run that was never interrupted.

A kill point is a file of the run folder: the run is killed as soon as that file appears (the
folder is polled every 5 ms), so each point lands inside a known stage, e.g. the first epoch
checkpoint of mask learning or of distillation. After the kill the same command runs again to
the end. Every output that does not hold a time (the questions, rationales, weights,
difficulties, schedules, the students' weights, their predictions and the results table) must
equal the uninterrupted run's.

    .venv/bin/python benchmarks/fault_injection.py            # every point below; prints JSON

`tests/test_fault_injection.py` runs a sample of the points in CI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A pipeline small enough to run a dozen times, with every stage and two methods.
SETTINGS = ["train_size=12", "validation_size=0", "test_size=3", "ood=[]", "epochs=2", "weighting_epochs=2",
            "weighting_predictor_warmup_steps=4", "max_new_tokens=12"]
METHODS = ["plain-cot", "kpod"]

# (stage the kill lands in, the file whose appearance triggers it)
POINTS = [
    ("teach", "rationales.cache.jsonl"),
    ("weigh (after the warm-up or an epoch)", "weights.jsonl.checkpoint.pt"),
    ("difficulty", "weights.summary.json"),
    ("schedule", "difficulty.jsonl"),
    ("distill (plain-cot, after its first epoch)", "students/plain-cot/seed-0/checkpoints"),
    ("evaluate (plain-cot)", "students/plain-cot/seed-0/history.json"),
    ("distill (kpod, after its first epoch)", "students/kpod/seed-0/checkpoints"),
    ("evaluate (kpod)", "students/kpod/seed-0/history.json"),
    ("results", "students/kpod/seed-0/eval.json"),
]

# Outputs that must come out the same; summary.json and results.json hold times and are left out.
COMPARED = ["questions/train.jsonl", "questions/test.jsonl", "rationales.jsonl", "weights.jsonl",
            "difficulty.jsonl", "schedule.json", "results/results.md",
            *[f"students/{m}/seed-0/{name}" for m in METHODS
              for name in ("model/model.safetensors", "test.predictions.jsonl", "eval.json")]]


def command(folder: Path) -> list[str]:
    return [sys.executable, "-m", "kpod_lite.cli", "run", "--preset", "tiny", "--out", str(folder), "--no-progress",
            "--methods", *METHODS, "--set", *SETTINGS]


def environment() -> dict:
    # One thread: a result is reproducible only with its thread count (docs/RESULTS.md).
    return {**os.environ, "OMP_NUM_THREADS": "1"}


def run_to_end(folder: Path) -> None:
    subprocess.run(command(folder), check=True, env=environment(), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def run_and_kill(folder: Path, trigger: str, timeout: float = 600) -> bool:
    """Start the run, SIGKILL it when `trigger` appears; False if it ended before that."""
    process = subprocess.Popen(command(folder), env=environment(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    started = time.monotonic()
    while process.poll() is None and time.monotonic() - started < timeout:
        if (folder / trigger).exists():
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True
        time.sleep(0.005)
    process.wait()
    return False


def differences(reference: Path, resumed: Path) -> list[str]:
    """The compared outputs that differ (or are missing) between the two run folders."""
    return [name for name in COMPARED
            if not (resumed / name).exists() or (reference / name).read_bytes() != (resumed / name).read_bytes()]


def inject(points=POINTS, scratch: Path | None = None) -> list[dict]:
    """Kill, resume and compare at each point; one result row per point."""
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        reference = Path(tmp) / "reference"
        run_to_end(reference)
        rows = []
        for index, (stage, trigger) in enumerate(points):
            folder = Path(tmp) / f"killed-{index}"
            killed = run_and_kill(folder, trigger)
            run_to_end(folder)
            rows.append({"stage": stage, "trigger": trigger, "killed": killed,
                         "differences": differences(reference, folder)})
        return rows


def main() -> None:
    started = time.perf_counter()
    rows = inject()
    print(json.dumps({"points": rows, "all_equal": all(not r["differences"] for r in rows),
                      "all_killed": all(r["killed"] for r in rows),
                      "seconds": round(time.perf_counter() - started, 1)}, indent=1))


if __name__ == "__main__":
    main()
