"""The end-to-end KPOD pipeline over a run folder (DESIGN.md; the paper's App. B, Algorithm 1).

Every stage is one plain function that reads files of the run folder and writes one more:

    runs/<name>/
      config.json                     the KPODConfig of the run
      questions/{train,test}.jsonl    question records (stage "questions")
      rationales.jsonl                teacher rationales kept by answer filtering (stage "teach", §3.1)
      rationales.cache.jsonl          every teacher answer, append-only: a killed run resumes
      results/summary.{md,json}       what the run produced so far

A stage whose output already exists is reused, so re-running a finished run costs nothing and
a notebook can pick the pipeline up in the middle. Algorithm 1's later stages (token weighting,
Eq. 7; step difficulty, Eq. 8; the schedule, Eq. 13; distillation, Eq. 15; evaluation) join
`STAGES` as they are built.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from kpod_lite import data, teacher
from kpod_lite.config import KPODConfig

STAGES = ("questions", "teach")


def stage_questions(cfg: KPODConfig, run_dir: Path) -> dict[str, Path]:
    """Question records for training and testing: the user's files, or the synthetic splits."""
    out = run_dir / "questions"
    out.mkdir(parents=True, exist_ok=True)
    paths = {"train": out / "train.jsonl", "test": out / "test.jsonl"}
    if all(p.exists() for p in paths.values()):
        return paths
    if cfg.train_file is None:
        from kpod_lite import synthetic

        # The three shipped sizes, so seed 0 reproduces data_samples/synthetic exactly.
        sizes = {split: cfg.extra.get(f"{split}_size", n) for split, n in synthetic.DEFAULT_SIZES.items()}
        written = synthetic.write_splits(out, sizes=sizes, seed=cfg.seed)
        return {split: Path(written[split]) for split in paths}
    if cfg.test_file is None:
        raise ValueError(f"preset {cfg.name!r} names a train_file but no test_file")
    for split, source in (("train", cfg.train_file), ("test", cfg.test_file)):
        data.save_examples(paths[split], data.load_examples(source, cfg.data_format))
    return paths


def stage_teach(cfg: KPODConfig, run_dir: Path, train_questions: Path) -> teacher.TeachReport | None:
    """Zero-shot CoT rationales for the training questions, filtered by answer (§3.1)."""
    out = run_dir / "rationales.jsonl"
    if out.exists():
        return None
    backend = teacher.make_backend(cfg.teacher, model=cfg.teacher_model)
    return teacher.teach(
        data.load_examples(train_questions, "kpod"),
        backend,
        out=out,
        cache=run_dir / "rationales.cache.jsonl",
        samples=cfg.teacher_samples,
        temperature=cfg.teacher_temperature,
        seed=cfg.seed,
        filter_correct=cfg.filter_correct,
        progress=False,
    )


def summarise(run_dir: Path) -> dict:
    """Counts and rationale statistics of whatever the run folder holds."""
    summary: dict = {"run": str(run_dir)}
    questions = run_dir / "questions"
    for split in ("train", "test"):
        path = questions / f"{split}.jsonl"
        if path.exists():
            summary[f"{split}_questions"] = sum(1 for _ in data.read_jsonl(path))
    rationales = run_dir / "rationales.jsonl"
    if rationales.exists():
        records = [r for _, r in data.read_jsonl(rationales)]
        steps = [len(data.split_steps(r["rationale"])) for r in records]
        summary["rationales_kept"] = len(records)
        summary["questions_with_a_rationale"] = len({r["id"] for r in records})
        if steps:
            summary["steps_per_rationale_mean"] = round(statistics.mean(steps), 2)
            summary["steps_per_rationale_max"] = max(steps)
    cache = run_dir / "rationales.cache.jsonl"
    if cache.exists():
        cached = [r for _, r in data.read_jsonl(cache, tolerate_truncated_tail=True)]
        summary["teacher_answers"] = len(cached)
        summary["teacher_accuracy"] = round(sum(bool(r.get("correct")) for r in cached) / max(1, len(cached)), 4)
    return summary


def _markdown(summary: dict) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in summary.items())
    return f"# KPOD run summary\n\n| what | value |\n|---|---|\n{rows}\n"


def run(cfg: KPODConfig, run_dir: Path | str, force: bool = False) -> str:
    """Run every stage built so far on `cfg` in `run_dir`; return a readable summary.

    `force` re-runs finished stages (the teacher still reuses its cache: delete it to ask again).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if force:
        for finished in (run_dir / "rationales.jsonl", *(run_dir / "questions").glob("*.jsonl")):
            finished.unlink(missing_ok=True)
    data.write_atomically(run_dir / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")

    timings = {}
    start = time.perf_counter()
    questions = stage_questions(cfg, run_dir)
    timings["questions"] = time.perf_counter() - start
    start = time.perf_counter()
    stage_teach(cfg, run_dir, questions["train"])
    timings["teach"] = time.perf_counter() - start

    summary = summarise(run_dir)
    summary["seconds_by_stage"] = {k: round(v, 2) for k, v in timings.items()}
    results = run_dir / "results"
    results.mkdir(exist_ok=True)
    data.write_atomically(results / "summary.json", json.dumps(summary, indent=2) + "\n")
    data.write_atomically(results / "summary.md", _markdown(summary))
    return _markdown(summary)
