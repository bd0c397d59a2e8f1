"""Distil and evaluate several students at once, one process each (ours).

The students of a run (methods x seeds) read the same finished inputs and write only their
own folders (`students/<method>/seed-<s>/`), so they can train side by side. A tiny student
does not keep two cores busy from one process (`benchmarks/bench_workers.py`), so on a
2-core CPU two processes of one torch thread each finish an ablation run sooner than one
process of two threads that take turns.

The parent holds the run folder's lock (`pipeline.run`) for the whole time; the workers take
no lock. Each worker runs with one torch thread, so a student trained here is bitwise the
student `OMP_NUM_THREADS=1 kpod-lite run` trains alone (tested). On Linux a worker dies with
its parent (`PR_SET_PDEATHSIG`): a killed run leaves no process still writing into a folder
that a resumed run is about to use; the resumed run continues each student from its last
checkpoint as usual.
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path

from tqdm.auto import tqdm

from kpod_lite.config import KPODConfig


def _start_worker() -> None:
    """One torch thread; on Linux, SIGKILL when the parent process dies."""
    import torch

    torch.set_num_threads(1)
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def train_student(cfg: KPODConfig, run_dir: Path, method: str, seed: int, test_sets: dict | None,
                  progress: bool = False) -> dict[str, dict]:
    """Distil one student, then evaluate it on `test_sets` (None: no evaluation). Returns
    {stage: what it cost} (`pipeline.measured`: seconds, this process's peak host memory, the
    stage's GPU peak); each stage gives its student's memory back when it ends, so the evaluation
    loads its model onto an empty GPU. `pipeline.run` calls it in its own process or, through
    `train_students`, in workers."""
    from kpod_lite.models.loading import student_device
    from kpod_lite.pipeline import measured
    from kpod_lite.pipeline.results import student_dir
    from kpod_lite.pipeline.stages import stage_distill, stage_evaluate

    gpu = student_device(cfg).type == "cuda"
    spent = {"distill": measured(lambda: stage_distill(cfg, run_dir, method, seed, progress), gpu)[1]}
    if test_sets is not None:
        out = student_dir(run_dir, method, seed)
        spent["evaluate"] = measured(lambda: stage_evaluate(cfg, out, test_sets, out / "model", progress), gpu)[1]
    return spent


def train_students(cfg: KPODConfig, run_dir: Path, jobs: list[tuple[str, int]], workers: int,
                   test_sets: dict | None, progress: bool = False) -> list[dict[str, dict]]:
    """`train_student` for every (method, seed) of `jobs`, `workers` at a time, in that order.

    Returns each student's `train_student` result, in the order they finished (their seconds
    summed are about `workers` times the wall time). The first failure stops the others and
    is raised. The workers show no progress bars of their own: one bar counts the students.
    """
    finished: list[dict[str, dict]] = []
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker) as pool:
        futures = {pool.submit(train_student, cfg, run_dir, method, seed, test_sets): (method, seed)
                   for method, seed in jobs}
        bar = tqdm(total=len(futures), desc=f"students ({workers} processes)", unit="student",
                   disable=not progress)
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in done:
                    finished.append(future.result())  # raises the worker's error
                    bar.update(1)
        except BaseException:
            for future in pending:
                future.cancel()
            raise
        finally:
            bar.close()
    return finished
