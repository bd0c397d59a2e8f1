"""The stages of the pipeline, one function each (the package docstring names their files).

Each reads files of the run folder and writes more; one whose output exists returns at once.
"""

from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path

from kpod_lite import data, teacher
from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.methods import method_named
from kpod_lite.pipeline.results import student_dir

log = logging.getLogger("kpod_lite.pipeline")

# The teacher's rationales while `stage_teach` has not yet accepted them (too many failed requests).
INCOMPLETE_RATIONALES = "rationales.incomplete.jsonl"


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


def stage_teach(cfg: KPODConfig, run_dir: Path, train_questions: Path, progress: bool = False,
                allow_failed: float = 0.0) -> teacher.TeachReport | None:
    """Zero-shot CoT rationales for the training questions (§3.1), filtered by answer (Ho et al., 2023).

    Judged as `kpod-lite teach` judges its run (`teacher.check_failures`): more than
    `allow_failed` of the requests failed, or no rationale kept, raises `IncompleteWork` (exit
    code 1). The rationales become rationales.jsonl only once they pass, because a stage whose
    output exists is finished and would be reused as it is; until then they are
    rationales.incomplete.jsonl, and the next run teaches again, taking what arrived from the
    cache and asking only the failed requests.
    """
    out = run_dir / "rationales.jsonl"
    if out.exists():
        return None
    report = teacher.teach(
        data.load_examples(train_questions, "kpod"), teacher_backend(cfg), out=run_dir / INCOMPLETE_RATIONALES,
        cache=run_dir / "rationales.cache.jsonl", samples=cfg.teacher_samples, temperature=cfg.teacher_temperature,
        max_tokens=cfg.teacher_max_tokens, seed=cfg.seed, filter_correct=cfg.filter_correct, progress=progress)
    teacher.check_failures(report, allowed_share=allow_failed,
                           retry="run the same kpod-lite run command (or pipeline.run call)")
    os.replace(report.out, out)
    report.out = out
    return report


def teacher_backend(cfg: KPODConfig) -> teacher.TeacherBackend:
    """The config's teacher, with every `teacher_*` setting the sub-command `teach` takes as a flag."""
    return teacher.make_backend(cfg.teacher, model=cfg.teacher_model, base_url=cfg.teacher_base_url,
                                replay_from=cfg.teacher_replay_from, concurrency=cfg.teacher_concurrency,
                                cot_prompt=cfg.cot_prompt, timeout=cfg.teacher_timeout,
                                max_attempts=cfg.teacher_max_attempts)


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


def stage_weigh(cfg: KPODConfig, run_dir: Path, progress: bool = False, methods=()) -> dict | None:
    """Learn the token weighting on the rationales (Eq. 7) and weigh their tokens (Eq. 3).

    When the rationales carry keypoint labels (the template teacher on synthetic data), the
    summary also scores the weights against them (`weighting.keypoint_auroc`). The weights of
    the diagnostic arms are built next to them when `methods` hold one (`kpod_lite.methods`):
    `weights.sampled.jsonl` by mask learning with sampled prefixes, `weights.oracle.jsonl`
    from the labels, `weights.uniform.jsonl` from the learned weights' mean. Returns the summary of `weights.jsonl` (None when it existed).
    """
    from kpod_lite import weighting

    summary = _weigh(cfg, run_dir, "weights", progress)
    arms = {method.weights: method for method in map(method_named, methods)}
    if "sampled" in arms:
        _weigh(arms["sampled"].weighting_config(cfg), run_dir, "weights.sampled", progress)
    uniform = run_dir / "weights.uniform.jsonl"
    if "uniform" in arms and not uniform.exists():
        report = weighting.uniform_weight_file(run_dir / "weights.jsonl", uniform)
        data.write_atomically(run_dir / "weights.uniform.summary.json", json.dumps(report, indent=1) + "\n")
    oracle = run_dir / "weights.oracle.jsonl"
    if "oracle" in arms and not oracle.exists():
        from kpod_lite.models import load_tokenizer

        report = weighting.oracle_weight_file(run_dir / "rationales.jsonl", oracle, load_tokenizer(cfg))
        data.write_atomically(run_dir / "weights.oracle.summary.json", json.dumps(report, indent=1) + "\n")
    return summary


def _weigh(cfg: KPODConfig, run_dir: Path, name: str, progress: bool) -> dict | None:
    """`<name>.jsonl` by mask learning with `cfg`, and `<name>.summary.json`; None if it exists."""
    from kpod_lite import weighting

    out = run_dir / f"{name}.jsonl"
    if out.exists():
        return None
    summary = weighting.weigh_file(run_dir / "rationales.jsonl", out, cfg, progress=progress)
    rationales = [r for _, r in data.read_jsonl(run_dir / "rationales.jsonl")]
    if any(r.get("spans") for r in rationales):
        summary["keypoints"] = weighting.keypoint_auroc([r for _, r in data.read_jsonl(out)], rationales)
    data.write_atomically(run_dir / f"{name}.summary.json", json.dumps(summary, indent=1) + "\n")
    return summary


def stage_difficulty(cfg: KPODConfig, run_dir: Path, methods, progress: bool = False) -> None:
    """Step difficulties with the pre-distillation student (Eq. 8), and unweighted ones for w.o.-sig-dif."""
    from kpod_lite import difficulty
    from kpod_lite.models import load_student

    # One file per kind of difficulty the methods' schedules need (kpod_lite.methods).
    wanted = {}
    for method in map(method_named, methods):
        if method.difficulty_file:
            wanted.setdefault(method.difficulty_file, (method.difficulty_weights_file, method.config_for(cfg)))
    todo = [(name, *made_with) for name, made_with in wanted.items() if not (run_dir / name).exists()]
    if not todo:
        return
    model, tokenizer = load_student(cfg)
    for name, weights_name, variant in todo:
        difficulty.difficulty_file(run_dir / "rationales.jsonl", run_dir / weights_name, run_dir / name,
                                   variant, model=model, tokenizer=tokenizer, progress=progress)


def stage_schedule(cfg: KPODConfig, run_dir: Path, methods) -> None:
    """The schedule of Eq. 9-13 from the step difficulties, and the variants the ablations need.

    The questions are clustered (Eq. 12, §3.4) on mean GloVe vectors from `cfg.glove_file`, or
    on TF-IDF without one; each schedule's meta says which. A GloVe file that is not there is
    refused (`schedule.from_config.check_glove_file`) before the first schedule is written."""
    from kpod_lite import schedule

    wanted = {}
    for method in map(method_named, methods):
        if method.schedule_file:
            wanted.setdefault(method.schedule_file, (method.difficulty_file, method.config_for(cfg)))
    for name, (difficulty_name, variant) in wanted.items():
        if not (run_dir / name).exists():
            schedule.schedule_file(run_dir / difficulty_name, run_dir / "rationales.jsonl", run_dir / name, variant)
        else:  # checked before a finished student trained with it is reused (schedule.record)
            schedule.Schedule.load(run_dir / name)


# --- distillation and evaluation (§3.5, §4) ------------------------------------------------------------


def _epoch_eval_file(cfg: KPODConfig, run_dir: Path) -> Path:
    """The questions answered after every epoch: the run's test split, or its validation split
    (written for synthetic runs), which a choice of the number of epochs may look at."""
    path = run_dir / "questions" / f"{cfg.epoch_eval_split}.jsonl"
    if cfg.epoch_eval_size and not path.exists():
        raise ConfigError(f"epoch_eval_split {cfg.epoch_eval_split!r}: this run has no {path.name} (a validation "
                          f"split is written for synthetic questions only); set epoch_eval_split to 'test'")
    return path


def stage_distill(cfg: KPODConfig, run_dir: Path, method: str, seed: int, progress: bool = False) -> dict | None:
    """Distil one student (Eq. 15) with `method` and `seed`; resumes a killed run from its checkpoint.
    With `cfg.epoch_eval_size`, it answers that many questions of `cfg.epoch_eval_split` after every epoch."""
    from kpod_lite import distill

    out = student_dir(run_dir, method, seed)
    if (out / "history.json").exists() and (out / "model").exists():
        return None
    switches = method_named(method)
    schedule_name = switches.schedule_file
    return distill.distill_files(
        run_dir / "rationales.jsonl", run_dir / switches.weights_file if switches.token_weights else None,
        run_dir / schedule_name if schedule_name else None, out, switches.config_for(cfg).replace(seed=seed),
        method=method, resume=True, progress=progress, epoch_eval_path=_epoch_eval_file(cfg, run_dir))


def _test_sets(questions: dict) -> dict[str, Path]:
    return {"test": questions["test"], **{f"ood-{name}": path for name, path in questions["ood"].items()}}


def stage_evaluate(cfg: KPODConfig, out: Path, test_sets: dict[str, Path], model_dir: Path | None = None,
                   progress: bool = False) -> dict:
    """Accuracy of one student on every test set (§4); predictions in `<out>/<set>.predictions.jsonl`.

    `model_dir`: a distilled student (`<student>/model`); None evaluates the student before
    distillation. The result is cached in `<out>/eval.json`: per test set, the accuracy, the
    answers without a readable answer, the questions, and those cut to `max_source_length`.
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
                                             out / f"{name}.predictions.jsonl", progress=progress)
        # truncated_questions: how many questions were cut to max_source_length, which a reader
        # of the accuracy needs to know (`evaluate.cut_prompts` warns of it once, in the log).
        result[name] = {"accuracy": summary["accuracy"], "no_answer": summary["no_answer"],
                        "questions": summary["questions"], "truncated_questions": summary["truncated_questions"]}
    data.write_atomically(done, json.dumps(result, indent=1) + "\n")
    return result


def stage_teacher_accuracy(cfg: KPODConfig, run_dir: Path, test_sets: dict[str, Path],
                           progress: bool = False) -> dict | None:
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
                               filter_correct=False, progress=progress)
        answered = report.generated + report.reused
        result[name] = {"accuracy": round(report.correct / max(1, answered), 4), "no_answer": report.failed,
                        "questions": answered}
    data.write_atomically(done, json.dumps(result, indent=1) + "\n")
    return result
