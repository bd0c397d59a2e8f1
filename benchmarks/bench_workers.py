"""Students in worker processes against one process: wall time of the same students, side by side.

One run folder is built up to the schedule once; copies of it then distil and evaluate the same
students (methods x seeds) with `kpod-lite run --workers 1` (one process, torch's default
threads) and `--workers 2` (two processes of one thread each), alternated A B B A so that a
load change on a shared machine touches both arms. Prints one JSON object; the ratio is
workers=1 wall time over workers=2 wall time (above 1: the workers are faster).

    .venv/bin/python benchmarks/bench_workers.py --train 200 --epochs 4 --students 4
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(folder: Path, settings: list[str], methods: list[str], seeds: int, workers: int, env: dict) -> float:
    command = [sys.executable, "-m", "kpod_lite.cli", "run", "--preset", "tiny", "--out", str(folder),
               "--no-progress", "--methods", *methods, "--seeds", str(seeds), "--workers", str(workers),
               "--set", *settings]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=200)
    parser.add_argument("--test", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--students", type=int, default=4, help="an even number: 2 methods x students/2 seeds")
    args = parser.parse_args()
    settings = [f"train_size={args.train}", f"test_size={args.test}", "validation_size=0", "ood=[]",
                f"epochs={args.epochs}", "weighting_epochs=1", "weighting_predictor_warmup_steps=50"]
    methods, seeds = ["plain-cot", "kpod"], args.students // 2
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch) / "base"
        subprocess.run([sys.executable, "-m", "kpod_lite.cli", "run", "--preset", "tiny", "--out", str(base),
                        "--no-progress", "--methods", *methods, "--until", "schedule", "--set", *settings],
                       check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times: dict[int, list[float]] = {1: [], 2: []}
        for index, workers in enumerate((1, 2, 2, 1)):
            folder = Path(scratch) / f"run-{index}"
            shutil.copytree(base, folder)
            times[workers].append(round(_run(folder, settings, methods, seeds, workers, env), 1))
        same = [json.loads((Path(scratch) / f"run-{i}" / "results" / "results.json").read_text())["rows"]
                for i in range(4)]
    print(json.dumps({
        "students": args.students, "train_questions": args.train, "epochs": args.epochs, "cpus": os.cpu_count(),
        "seconds_workers_1": times[1], "seconds_workers_2": times[2],
        "ratio_1_over_2": [round(a / b, 2) for a, b in zip(times[1], reversed(times[2]))],
        "workers_2_runs_agree": same[1] == same[2], "workers_1_runs_agree": same[0] == same[3],
    }, indent=1))


if __name__ == "__main__":
    main()
