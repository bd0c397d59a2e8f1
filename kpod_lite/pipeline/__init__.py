"""The end-to-end KPOD pipeline over a run folder (DESIGN.md; the paper's App. B, Algorithm 1).

Every stage is one plain function that reads files of the run folder and writes more:

    runs/<name>/
      config.json                       the KPODConfig of the run
      run.lock                          held while a run uses the folder (one run at a time)
      questions/{train,test}.jsonl      question records (stage "questions")
      questions/ood-<name>.jsonl        out-of-distribution test sets (Table 3), if the preset has any
      rationales.jsonl                  teacher rationales kept by answer filtering (stage "teach", §3.1)
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
      results/summary.{md,json}         counts, the stage timings and peak memory

A stage whose output already exists is reused, so re-running a finished run costs nothing, a
notebook can pick the pipeline up in the middle, and a killed run resumes: the teacher from its
cache, distillation from its last epoch checkpoint (`distill(resume=True)`). Reuse goes by
the files alone, so a run folder refuses a config other than the one it was made with
(`config.json`): change settings with `force=True` (`--force`) or in a new folder.

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
import random
import resource
import sys
import time
from pathlib import Path

from filelock import FileLock, Timeout

from kpod_lite import data, teacher
from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.methods import ABLATIONS, method_named  # noqa: F401  (ABLATIONS: part of the API)
from kpod_lite.pipeline.results import (  # noqa: F401  (the table is part of the API)
    FRAME_ROWS,
    results_table,
    student_dir,
    summarise,
    table_csv,
    table_markdown,
    write_figures,
    write_results,
)

log = logging.getLogger(__name__)

STAGES = ("questions", "teach", "weigh", "difficulty", "schedule", "distill", "evaluate")


def _peak_memory_mb() -> float:
    """The process's peak resident memory so far, in MiB (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (2 ** 20 if sys.platform == "darwin" else 2 ** 10), 1)


# --- questions and rationales (§3.1) -------------------------------------------------------------


def stage_questions(cfg: KPODConfig, run_dir: Path) -> dict:
    """Question records: {"train": path, "test": path, "ood": {name: path}}.

    Without a `train_file`, synthetic splits drawn with `cfg.synthetic`, of sizes
    `cfg.train_size`, `cfg.validation_size`, `cfg.test_size` (None: the generator's defaults).
    Out-of-distribution sets come from `cfg.ood` (`config.OODSet`: the run's synthetic task with
    some knobs changed, or a file, e.g. ASDiv and SVAMP for a GSM8K run, Table 3).
    A file setting that is not an existing path but ``"<source>:<split>"`` (e.g.
    ``"mcckd-gsm8k:train"``, Table 4) is fetched into the data cache, checked, and read in that
    source's format (`kpod_lite.data.resolve_data_file`).
    """
    from kpod_lite import synthetic

    out = run_dir / "questions"
    out.mkdir(parents=True, exist_ok=True)
    paths = {"train": out / "train.jsonl", "test": out / "test.jsonl"}
    if cfg.train_file is None and cfg.dataset != "synthetic":
        # Never stand in synthetic questions for a benchmark: the results would be meaningless.
        raise ConfigError(f"preset {cfg.name!r} trains on {cfg.dataset}, but names no data: set train_file and "
                          f"test_file (e.g. --set train_file='\"data/train.jsonl\"' --set test_file='\"data/test.jsonl\"', "
                          f"in data_format {cfg.data_format!r}), or a data source's split, fetched once "
                          f"(e.g. --set train_file='\"mcckd-gsm8k:train\"'; `kpod-lite fetch` lists them)")
    if not all(p.exists() for p in paths.values()):
        if cfg.train_file is None:
            sizes = {split: getattr(cfg, f"{split}_size") for split in synthetic.DEFAULT_SIZES}
            sizes = {split: n if n is not None else synthetic.DEFAULT_SIZES[split] for split, n in sizes.items()}
            synthetic.write_splits(out, sizes=sizes, seed=cfg.seed, config=cfg.synthetic)
        else:
            if cfg.test_file is None:
                raise ConfigError(f"preset {cfg.name!r} names a train_file but no test_file")
            for split, source in (("train", cfg.train_file), ("test", cfg.test_file)):
                examples = _subset(_load_reported(source, cfg.data_format, out / f"{split}.load.json"),
                                   getattr(cfg, f"{split}_size"), cfg.seed)
                data.save_examples(paths[split], examples)
    ood = {}
    for index, spec in enumerate(sorted(cfg.ood, key=lambda s: s.name), start=1):
        path = ood[spec.name] = out / f"ood-{spec.name}.jsonl"
        if path.exists():
            continue
        if spec.synthetic is not None:
            # Its own seed, far from the splits', so no question is shared by accident.
            problems = synthetic.generate_dataset(spec.size, seed=cfg.seed + 1000 * index,
                                                  config=spec.task(cfg.synthetic), prefix=f"ood-{spec.name}")
            data.write_jsonl(path, [problem.to_record() for problem in problems])
        else:
            data.save_examples(path, _load_reported(spec.file, spec.format, out / f"ood-{spec.name}.load.json"))
    return {**paths, "ood": ood}


def _load_reported(source: str, fmt: str, report_file: Path) -> list:
    """The examples of a data file (a path or "<source>:<split>"), with what was read and what
    skipped, and why, written to `report_file` (the run summary counts the skips)."""
    path, fmt = data.resolve_data_file(source, fmt)
    examples, report = data.load_examples_with_report(path, fmt)
    if report.skipped:
        log.warning("%s", report.summary())
    data.write_atomically(report_file, json.dumps(report.to_dict(), indent=1) + "\n")
    return examples


def _subset(examples: list, size: int | None, seed: int) -> list:
    """`size` of the examples, drawn with `seed` and kept in file order (None: all of them): a
    course runs a real benchmark on a subset that fits its GPU hour."""
    if size is None or size >= len(examples):
        return examples
    chosen = set(random.Random(seed).sample(range(len(examples)), size))
    return [example for index, example in enumerate(examples) if index in chosen]


def stage_teach(cfg: KPODConfig, run_dir: Path, train_questions: Path) -> teacher.TeachReport | None:
    """Zero-shot CoT rationales for the training questions, filtered by answer (§3.1)."""
    out = run_dir / "rationales.jsonl"
    if out.exists():
        return None
    return teacher.teach(
        data.load_examples(train_questions, "kpod"), teacher_backend(cfg), out=out,
        cache=run_dir / "rationales.cache.jsonl", samples=cfg.teacher_samples, temperature=cfg.teacher_temperature,
        max_tokens=cfg.teacher_max_tokens, seed=cfg.seed, filter_correct=cfg.filter_correct, progress=False)


def teacher_backend(cfg: KPODConfig) -> teacher.TeacherBackend:
    """The config's teacher, with every `teacher_*` setting the sub-command `teach` takes as a flag."""
    return teacher.make_backend(cfg.teacher, model=cfg.teacher_model, base_url=cfg.teacher_base_url,
                                replay_from=cfg.teacher_replay_from, concurrency=cfg.teacher_concurrency,
                                cot_prompt=cfg.cot_prompt, timeout=cfg.teacher_timeout)


# --- token weights, step difficulty, the schedule (§3.3-3.4) ------------------------------------------


def stage_student_symbols(cfg: KPODConfig, run_dir: Path) -> dict | None:
    """Rewrite rationales.jsonl's rationale text with ASCII for the symbols the student's
    tokenizer maps to <unk> (`kpod_lite.symbols`), before anything reads its tokens, so the
    weights (Eq. 3), the difficulty (Eq. 8) and the loss (Eq. 15) see the same text. In place:
    every later stage reads that one file, and the teacher's own words stay in its cache.
    Done once (`rationales.symbols.json` holds the counts); skipped in a folder whose weights
    were already made from the text as it was."""
    from kpod_lite import symbols
    from kpod_lite.models import load_tokenizer

    done = run_dir / "rationales.symbols.json"
    if done.exists() or (run_dir / "weights.jsonl").exists() or not cfg.normalize_symbols:
        return None
    report = symbols.normalize_rationale_file(run_dir / "rationales.jsonl", load_tokenizer(cfg))
    data.write_atomically(done, json.dumps(report, indent=1) + "\n")
    return report


def stage_weigh(cfg: KPODConfig, run_dir: Path) -> dict | None:
    """Learn the token weighting on the rationales (Eq. 7) and weigh their tokens (Eq. 3).

    When the rationales carry keypoint labels (the template teacher on synthetic data), the
    summary also scores the weights against them (`weighting.keypoint_auroc`).
    """
    from kpod_lite import weighting

    out = run_dir / "weights.jsonl"
    if out.exists():
        return None
    summary = weighting.weigh_file(run_dir / "rationales.jsonl", out, cfg)
    rationales = [r for _, r in data.read_jsonl(run_dir / "rationales.jsonl")]
    if any(r.get("spans") for r in rationales):
        summary["keypoints"] = weighting.keypoint_auroc([r for _, r in data.read_jsonl(out)], rationales)
    data.write_atomically(run_dir / "weights.summary.json", json.dumps(summary, indent=1) + "\n")
    return summary


def stage_difficulty(cfg: KPODConfig, run_dir: Path, methods) -> None:
    """Step difficulties with the pre-distillation student (Eq. 8), and unweighted ones for w.o.-sig-dif."""
    from kpod_lite import difficulty
    from kpod_lite.models import load_student

    # One file per kind of difficulty the methods' schedules need (kpod_lite.methods).
    wanted = {}
    for method in map(method_named, methods):
        if method.difficulty_file:
            wanted.setdefault(method.difficulty_file, cfg.replace(method=method.name))
    wanted = list(wanted.items())
    todo = [(name, variant) for name, variant in wanted if not (run_dir / name).exists()]
    if not todo:
        return
    model, tokenizer = load_student(cfg)
    for name, variant in todo:
        difficulty.difficulty_file(run_dir / "rationales.jsonl", run_dir / "weights.jsonl", run_dir / name,
                                   variant, model=model, tokenizer=tokenizer)


def stage_schedule(cfg: KPODConfig, run_dir: Path, methods) -> None:
    """The schedule of Eq. 9-13 from the step difficulties, and the variants the ablations need."""
    from kpod_lite import schedule

    wanted = {}
    for method in map(method_named, methods):
        if method.schedule_file:
            wanted.setdefault(method.schedule_file, (method.difficulty_file, cfg.replace(method=method.name)))
    for name, (difficulty_name, variant) in wanted.items():
        if not (run_dir / name).exists():
            schedule.schedule_file(run_dir / difficulty_name, run_dir / "rationales.jsonl", run_dir / name, variant)


# --- distillation and evaluation (§3.5, §4) ------------------------------------------------------------


def stage_distill(cfg: KPODConfig, run_dir: Path, method: str, seed: int) -> dict | None:
    """Distil one student (Eq. 15) with `method` and `seed`; resumes a killed run from its checkpoint."""
    from kpod_lite import distill

    out = student_dir(run_dir, method, seed)
    if (out / "history.json").exists() and (out / "model").exists():
        return None
    switches = method_named(method)
    schedule_name = switches.schedule_file
    return distill.distill_files(
        run_dir / "rationales.jsonl", run_dir / "weights.jsonl" if switches.token_weights else None,
        run_dir / schedule_name if schedule_name else None, out, cfg.replace(seed=seed), method=method,
        resume=True, progress=False)


def _test_sets(questions: dict) -> dict[str, Path]:
    return {"test": questions["test"], **{f"ood-{name}": path for name, path in questions["ood"].items()}}


def stage_evaluate(cfg: KPODConfig, out: Path, test_sets: dict[str, Path], model_dir: Path | None = None) -> dict:
    """Accuracy of one student on every test set (§4); predictions in `<out>/<set>.predictions.jsonl`.

    `model_dir`: a distilled student (`<student>/model`); None evaluates the student before
    distillation. The result is cached in `<out>/eval.json`.
    """
    from kpod_lite import evaluate
    from kpod_lite.models import load_student

    done = out / "eval.json"
    if done.exists():
        return json.loads(done.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    model, tokenizer = evaluate.load_trained(model_dir, cfg) if model_dir else load_student(cfg)
    model.eval()
    result = {}
    for name, path in test_sets.items():
        summary = evaluate.evaluate_examples(model, tokenizer, data.load_examples(path, "kpod"), cfg,
                                             out / f"{name}.predictions.jsonl")
        result[name] = {"accuracy": summary["accuracy"], "no_answer": summary["no_answer"],
                        "questions": summary["questions"]}
    data.write_atomically(done, json.dumps(result, indent=1) + "\n")
    return result


def stage_teacher_accuracy(cfg: KPODConfig, run_dir: Path, test_sets: dict[str, Path]) -> dict | None:
    """The teacher's accuracy on the test sets (cached like the training rationales), or None
    for a remote teacher unless `cfg.evaluate_teacher` asks for it (it costs API calls)."""
    wanted = cfg.evaluate_teacher if cfg.evaluate_teacher is not None else cfg.teacher in ("template", "gold")
    if not wanted:
        return None
    done = run_dir / "students" / "teacher" / "eval.json"
    if done.exists():
        return json.loads(done.read_text(encoding="utf-8"))
    done.parent.mkdir(parents=True, exist_ok=True)
    backend = teacher_backend(cfg)
    result = {}
    for name, path in test_sets.items():
        report = teacher.teach(data.load_examples(path, "kpod"), backend, out=done.parent / f"{name}.jsonl",
                               temperature=cfg.teacher_temperature, max_tokens=cfg.teacher_max_tokens, seed=cfg.seed,
                               filter_correct=False, progress=False)
        answered = report.generated + report.reused
        result[name] = {"accuracy": round(report.correct / max(1, answered), 4), "no_answer": report.failed,
                        "questions": answered}
    data.write_atomically(done, json.dumps(result, indent=1) + "\n")
    return result


def _check_same_config(cfg: KPODConfig, run_dir: Path) -> None:
    """Refuse to reuse a run folder made with other settings: its finished stages would be
    reused, and its config.json would claim settings they were not made with."""
    path = run_dir / "config.json"
    if not path.exists():
        return
    made = json.loads(path.read_text(encoding="utf-8"))
    wanted = json.loads(json.dumps(cfg.to_dict()))
    changed = sorted(key for key in made.keys() | wanted.keys() if made.get(key) != wanted.get(key))
    if changed:
        shown = "; ".join(f"{key}: {made.get(key, '(absent)')!r} -> {wanted.get(key, '(absent)')!r}"
                          for key in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise ConfigError(f"run folder {run_dir} was made with other settings ({shown}{more}); re-run it with "
                          f"--force (force=True) to rebuild its stages with these, or choose another --out")


def _forget_finished(run_dir: Path) -> None:
    """`force`: remove every stage output except the teacher's cache (answers cost money)."""
    import shutil

    for path in [run_dir / "rationales.jsonl", run_dir / "rationales.symbols.json",
                 *(run_dir / "questions").glob("*.jsonl"),
                 *run_dir.glob("weights*.json*"), *run_dir.glob("difficulty*.jsonl"), *run_dir.glob("schedule*.json")]:
        path.unlink(missing_ok=True)
    shutil.rmtree(run_dir / "students", ignore_errors=True)


def run(cfg: KPODConfig, run_dir: Path | str, force: bool = False, methods=None, seeds=None,
        stages=STAGES) -> str:
    """Run the pipeline on `cfg` in `run_dir` and return the results table (markdown).

    `methods`: distillation methods (`ABLATIONS` for Table 2 and the baseline; default
    `cfg.method` alone); `seeds`:
    distillation seeds (default: `cfg.seed` alone); `stages`: stop after the last one named.
    `force` re-runs finished stages (the teacher still reuses its cache: delete it to ask again).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    # One run per folder: two would train the same students into the same checkpoints.
    lock = FileLock(str(run_dir / "run.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ConfigError(f"another kpod-lite run is using {run_dir}; wait for it, or choose another --out") from None
    try:
        return _run(cfg, run_dir, force, methods, seeds, stages)
    finally:
        lock.release()


def _run(cfg: KPODConfig, run_dir: Path, force: bool, methods, seeds, stages) -> str:
    """`run`, with the run folder locked."""
    methods = tuple(methods) if methods is not None else (cfg.method,)
    for method in methods:
        method_named(method)  # an unknown name fails here, before any stage runs
    seeds = list(seeds) if seeds is not None else [cfg.seed]
    if force:
        _forget_finished(run_dir)
    else:
        _check_same_config(cfg, run_dir)
    data.write_atomically(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    last = max(STAGES.index(s) for s in stages)
    from kpod_lite.memory import preflight  # before any stage: refuse a run the GPU cannot hold (issue 13)
    preflight(cfg, STAGES[: last + 1])
    timings: dict[str, float] = {}
    memory: dict[str, float] = {}

    def timed(stage: str, work):
        start = time.perf_counter()
        result = work()
        timings[stage] = round(timings.get(stage, 0.0) + time.perf_counter() - start, 2)
        memory[stage] = _peak_memory_mb()
        log.info("stage %s done in %.1f s", stage, timings[stage])
        return result

    questions = timed("questions", lambda: stage_questions(cfg, run_dir))
    steps = [
        ("teach", lambda: stage_teach(cfg, run_dir, questions["train"])),
        ("weigh", lambda: (stage_student_symbols(cfg, run_dir), stage_weigh(cfg, run_dir))),
        ("difficulty", lambda: stage_difficulty(cfg, run_dir, methods)),
        ("schedule", lambda: stage_schedule(cfg, run_dir, methods)),
    ]
    for stage, work in steps[:last]:
        timed(stage, work)
    test_sets = _test_sets(questions)
    if last >= STAGES.index("evaluate"):
        timed("evaluate", lambda: stage_teacher_accuracy(cfg, run_dir, test_sets))
        timed("evaluate", lambda: stage_evaluate(cfg, run_dir / "students" / "before", test_sets))
    if last >= STAGES.index("distill"):
        # Seed by seed, so a run stopped early already holds one full row per method.
        for seed in seeds:
            for method in methods:
                timed("distill", lambda: stage_distill(cfg, run_dir, method, seed))
                if last >= STAGES.index("evaluate"):
                    out = student_dir(run_dir, method, seed)
                    timed("evaluate", lambda: stage_evaluate(cfg, out, test_sets, out / "model"))

    return write_results(cfg, run_dir, methods, seeds, timings, memory)
