"""The whole tiny pipeline, stage by stage (App. B, Algorithm 1): wall time and peak memory.

Each stage runs as its own `kpod-lite run --until STAGE` process in one fresh run folder, so
a stage finds the outputs of the ones before it and does only its own work; the process's
peak resident memory comes from the kernel (`os.wait4`), so it is that stage's peak and not
the running maximum of one long process. A final `--until evaluate` run on the finished folder
does nothing but read it: its time is the fixed cost of starting Python, importing torch and
transformers and checking the folder, included in every stage's figure. Prints one JSON object:

    .venv/bin/python benchmarks/bench_pipeline.py --out /tmp/kpod-bench-pipeline

`--preset-overrides` shrinks the run for a quick look (e.g. '{"epochs": 2}'); the figures in
docs/BENCHMARKS.md are for the tiny preset as shipped (KPOD alone, one seed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kpod_lite.pipeline import STAGES  # noqa: E402


def run_stage(run_dir: Path, stage: str, env: dict) -> dict:
    """One `kpod-lite run --until stage` process: seconds and its own peak RSS (MiB)."""
    command = [sys.executable, "-m", "kpod_lite.cli", "run", "--preset", "tiny", "--out", str(run_dir),
               "--until", stage]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    stderr = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {stage} failed:\n{stderr[-2000:]}")
    # ru_maxrss is in KiB on Linux.
    return {"seconds": round(seconds, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a run folder to create (removed first)")
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS for the stages (default: torch's)")
    args = parser.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    env = dict(os.environ)
    if args.threads:
        env["OMP_NUM_THREADS"] = str(args.threads)
    stages = {stage: run_stage(args.out, stage, env) for stage in STAGES}
    idle = run_stage(args.out, "evaluate", env)
    results = json.loads((args.out / "results" / "results.json").read_text())
    kpod = next(row for row in results["rows"] if row["method"] == "kpod")
    print(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "threads": args.threads},
        "stages": stages,
        "startup_and_reuse_only": idle,
        "total_seconds": round(sum(s["seconds"] for s in stages.values()), 1),
        "kpod_test_accuracy": kpod["test_mean"],
    }, indent=1))


if __name__ == "__main__":
    main()
