"""The end-to-end KPOD pipeline over a run folder (the paper's App. B, Algorithm 1).

Every stage is one plain function that reads files of the run folder and writes more:

    runs/<name>/
      config.json                       the KPODConfig of the run, true of every stage in the folder
      stages.json                       the digests of the files each stage read (`pipeline.made`)
      run.lock                          held while a run uses the folder (one run at a time; `outputs.RUN_LOCK`)
      questions/{train,test}.jsonl      question records (stage "questions")
      questions/ood-<name>.jsonl        out-of-distribution test sets (Table 3), if the preset has any
      rationales.jsonl                  teacher rationales (§3.1) kept by answer filtering (Ho et al.)
      rationales.incomplete.jsonl       rationales of a teach stage with too many failed requests (`stage_teach`)
      rationales.cache.jsonl            every teacher answer, append-only: a killed run resumes
      rationales.cache.jsonl.lock       held while a teacher writes the cache (one writer at a time)
      rationales.symbols.json           what `stage_student_symbols` replaced in rationales.jsonl
      weights.jsonl                     rationale token weights (stage "weigh", Eq. 2-7)
      difficulty.jsonl                  step difficulties (stage "difficulty", Eq. 8)
      schedule.json                     the progressive schedule (stage "schedule", Eq. 9-13)
      students/<method>/seed-<s>/       a distilled student (stage "distill", Eq. 15), with
                                        history.json, checkpoints/ and model/
      students/<row>/.../eval.json      its accuracy on every test set (stage "evaluate", §4)
      results/results.{md,csv,json}     the table: one row per method, mean ± std over seeds
      results/histories.json            per method, per seed: the per-epoch training history
      results/figures/*.png             accuracy bars, training loss, the curriculum
      results/summary.{md,json}         counts, the stage timings, peak host memory and, on a GPU,
                                        each stage's GPU peak next to its estimate (kpod_lite.memory)

A stage whose output already exists is reused, so re-running a finished run costs nothing, a
notebook can pick the pipeline up in the middle, and a killed run resumes: the teacher from its
cache, distillation from its last epoch checkpoint (`distill(resume=True)`). Reuse goes by
the files, checked against what made them (`pipeline.made`): a changed setting that no finished
stage has read is taken (and `config.json` then says it), one that a finished stage read is
refused, naming both, and so is an input file changed after a stage read it (`stages.json`);
`force=True` (`--force`) rebuilds, or use a new folder.

Ablations (`methods=ABLATIONS`): the paper's Table 2 rows and the plain CoT baseline
(`kpod_lite.methods`, which says what each needs). Two of them need inputs of their own,
built next to the main ones only when asked for:
w.o.-sig-dif reads `schedule.w.o.-sig-dif.json`, built from the unweighted Eq. 8
(`difficulty.w.o.-sig-dif.jsonl`); w.o.-div reads `schedule.w.o.-div.json`, built with β = 0.

Seeds (ours): `seeds` re-run *distillation* (initialisation, data order) with each seed; the
teacher, the token weights and the schedule are built once, with `cfg.seed`. The spread in the
table is therefore the spread of distillation, the stage the methods differ in.

Two rows frame the table: the teacher's own accuracy on the test questions (offline teachers
only: a paid API is not called for it unless `cfg.evaluate_teacher` says so), and the
student before distillation (the pretrained student prompted with the same zero-shot input).
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
from pathlib import Path

from kpod_lite import data
from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.methods import ABLATIONS, method_named
from kpod_lite.outputs import hold_run_folder
from kpod_lite.pipeline import made
from kpod_lite.pipeline.results import (
    FRAME_ROWS,
    results_table,
    student_dir,
    summarise,
    table_csv,
    table_markdown,
    write_figures,
    write_results,
)
from kpod_lite.pipeline.stages import (
    INCOMPLETE_RATIONALES,
    stage_difficulty,
    stage_distill,
    stage_evaluate,
    stage_questions,
    stage_schedule,
    stage_student_symbols,
    stage_teach,
    stage_teacher_accuracy,
    stage_weigh,
    teacher_backend,
    _test_sets,
)
from kpod_lite.presets_check import check_student_family
from kpod_lite.schedule.from_config import check_glove_file

log = logging.getLogger(__name__)

__all__ = [
    "STAGES", "ABLATIONS", "FRAME_ROWS", "run", "results_table", "student_dir", "summarise", "table_csv",
    "table_markdown", "write_figures", "write_results", "stage_questions", "stage_teach", "teacher_backend",
    "stage_student_symbols", "stage_weigh", "stage_difficulty", "stage_schedule", "stage_distill",
    "stage_evaluate", "stage_teacher_accuracy", "host_peak_memory_mb", "measured",
]

STAGES = made.STAGES


def host_peak_memory_mb() -> float:
    """The process's peak resident (host, not GPU) memory so far, in MiB (ru_maxrss is KiB on
    Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2 ** 20 if sys.platform == "darwin" else 2 ** 10), 1)


def measured(work, gpu: bool) -> tuple[object, dict]:
    """Run one stage's `work`; returns its result and what it cost: "seconds", "host_peak_mb"
    (`host_peak_memory_mb` after it) and, when the students run on a GPU (`gpu`), the stage's
    own GPU peak (`memory.gpu_peak_mb`: "max_allocated", "max_reserved"). The memory the stage
    held is given back when it ends (`memory.release`), before the next stage loads a student."""
    from kpod_lite import memory

    if gpu:
        memory.reset_gpu_peak()
    start = time.perf_counter()
    result = work()
    spent = {"seconds": time.perf_counter() - start, "host_peak_mb": host_peak_memory_mb()}
    if gpu:
        spent["gpu_peak_mb"] = memory.gpu_peak_mb()
    memory.release()
    return result, spent


def _tally(totals: dict, stage: str, spent: dict) -> None:
    """Add one `measured` stage (or one student's part of it) to the run's totals: seconds add
    up, peaks take the largest."""
    totals["seconds"][stage] = round(totals["seconds"].get(stage, 0.0) + spent["seconds"], 2)
    totals["host"][stage] = max(totals["host"].get(stage, 0.0), spent["host_peak_mb"])
    if "gpu_peak_mb" in spent:
        known = totals["gpu"].setdefault(stage, {})
        for key, value in spent["gpu_peak_mb"].items():
            known[key] = max(known.get(key, 0.0), value)
    log.info("stage %s done in %.1f s", stage, totals["seconds"][stage])


def _reads(run_dir: Path, stage: str, questions: dict) -> list[Path]:
    """The files of the run folder that `stage` reads (`made.record` keeps their digests)."""
    rationales = run_dir / "rationales.jsonl"
    return {
        "teach": [questions["train"]],
        "weigh": [rationales],
        "difficulty": [rationales, *run_dir.glob("weights*.jsonl")],
        "schedule": [rationales, *run_dir.glob("difficulty*.jsonl")],
        "distill": [rationales, *run_dir.glob("weights*.jsonl"), *run_dir.glob("schedule*.json")],
        "evaluate": list(_test_sets(questions).values()),
    }[stage]


def _forget_finished(run_dir: Path) -> None:
    """`force`: remove every stage output except the teacher's cache (answers cost money)."""
    import shutil

    for path in [run_dir / "rationales.jsonl", run_dir / INCOMPLETE_RATIONALES, run_dir / "rationales.symbols.json",
                 run_dir / "stages.json",
                 *(run_dir / "questions").glob("*.jsonl"),
                 *run_dir.glob("weights*.json*"), *run_dir.glob("difficulty*.jsonl"), *run_dir.glob("schedule*.json")]:
        path.unlink(missing_ok=True)
    shutil.rmtree(run_dir / "students", ignore_errors=True)


def run(cfg: KPODConfig, run_dir: Path | str, force: bool = False, methods=None, seeds=None,
        stages=STAGES, progress: bool = False, workers: int = 1, allow_failed: float = 0.0) -> str:
    """Run the pipeline on `cfg` in `run_dir` and return the results table (markdown).

    `methods`: distillation methods (`ABLATIONS` for Table 2 and the baseline; default
    `cfg.method` alone); `seeds`:
    distillation seeds (default: `cfg.seed` alone); `stages`: stop after the last one named.
    `force` re-runs finished stages (the teacher still reuses its cache: delete it to ask again).
    `progress`: a progress bar with an ETA on every long stage (tqdm: widgets in a notebook).
    `workers` > 1 distils and evaluates that many students at once, in processes of one torch
    thread each (`pipeline.workers`); the stages before distillation run here as usual.
    `allow_failed`: the share of teacher requests that may fail (`teacher.check_failures`; 0, as
    `kpod-lite teach`): more raise `IncompleteWork`, and running again asks only those.
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    if not 0 <= allow_failed <= 1:  # `not` also refuses NaN
        raise ConfigError(f"allow_failed must be a share between 0 and 1, got {allow_failed}")
    check_student_family(cfg)  # before the folder is touched: a student changed without its settings
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with hold_run_folder(run_dir):  # one run per folder; the sub-commands take the same lock
        return _run(cfg, run_dir, force, methods, seeds, stages, progress, workers, allow_failed)


def _run(cfg: KPODConfig, run_dir: Path, force: bool, methods, seeds, stages, progress: bool, workers: int,
         allow_failed: float) -> str:
    """`run`, with the run folder locked."""
    methods = tuple(methods) if methods is not None else (cfg.method,)
    for method in methods:
        method_named(method)  # an unknown name fails here, before any stage runs
    seeds = list(seeds) if seeds is not None else [cfg.seed]
    if force:
        _forget_finished(run_dir)
    else:
        made.check_reuse(cfg, run_dir)
    data.write_atomically(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    last = max(STAGES.index(s) for s in stages)
    if last >= STAGES.index("schedule"):
        check_glove_file(cfg)  # §3.4's GloVe file, before the mask learning that precedes its stage
    from kpod_lite import memory
    from kpod_lite.models.loading import describe_device, student_device

    # Before any stage: where the students will run (a GPU student without a GPU is refused), and
    # whether they can be loaded and fit (memory.preflight refuses what cannot).
    gpu = False
    if any(stage in memory.GPU_STAGES for stage in STAGES[: last + 1]):
        device = student_device(cfg)
        print(describe_device(cfg, device), flush=True)
        gpu = device.type == "cuda"
    estimates = memory.preflight(cfg, STAGES[: last + 1]) or {}
    totals: dict[str, dict] = {"seconds": {}, "host": {}, "gpu": {}}

    def timed(stage: str, work):
        result, spent = measured(work, gpu)
        _tally(totals, stage, spent)
        return result

    questions = timed("questions", lambda: stage_questions(cfg, run_dir))
    steps = [
        ("teach", lambda: stage_teach(cfg, run_dir, questions["train"], progress, allow_failed)),
        ("weigh", lambda: (stage_student_symbols(cfg, run_dir), stage_weigh(cfg, run_dir, progress, methods))),
        ("difficulty", lambda: stage_difficulty(cfg, run_dir, methods, progress)),
        ("schedule", lambda: stage_schedule(cfg, run_dir, methods)),
    ]
    for stage, work in steps[:last]:
        timed(stage, work)
        made.record(run_dir, stage, _reads(run_dir, stage, questions))  # a file edited later is refused
    test_sets = _test_sets(questions)
    for stage in ("distill", "evaluate")[: max(0, last - STAGES.index("schedule"))]:
        made.record(run_dir, stage, _reads(run_dir, stage, questions))  # before: the students read them as they go
    if last >= STAGES.index("evaluate"):
        timed("evaluate", lambda: stage_teacher_accuracy(cfg, run_dir, test_sets, progress))
        timed("evaluate", lambda: stage_evaluate(cfg, run_dir / "students" / "before", test_sets, progress=progress))
    if last >= STAGES.index("distill"):
        from kpod_lite.pipeline.workers import train_student, train_students

        # Seed by seed, so a run stopped early already holds one full row per method; a student
        # already finished costs nothing.
        jobs = [(method, seed) for seed in seeds for method in methods]
        tests = test_sets if last >= STAGES.index("evaluate") else None
        if workers > 1:
            spent = train_students(cfg, run_dir, jobs, workers, tests, progress)
        else:
            spent = [train_student(cfg, run_dir, method, seed, tests, progress) for method, seed in jobs]
        for student in spent:
            for stage, cost in student.items():
                _tally(totals, stage, cost)

    gpu_memory = {stage: {**peak, "estimated": round(estimates[stage]["total"] / memory.MiB, 1)}
                  if stage in estimates else peak for stage, peak in totals["gpu"].items()}
    return write_results(cfg, run_dir, methods, seeds, totals["seconds"], totals["host"], gpu_memory)
