"""The run folder's results: the table (one row per method, mean ± std over seeds), its
markdown and CSV forms, the figures, and the summary of what the folder holds."""

from __future__ import annotations

import csv
import io
import json
import platform
import statistics
import subprocess
from pathlib import Path

from kpod_lite import convergence, data
from kpod_lite.methods import METHODS

# The two rows that frame the table; the methods' rows are named in kpod_lite.methods.
FRAME_ROWS = {"teacher": "teacher (§3.1)", "before": "student before distillation"}


def student_dir(run_dir: Path, method: str, seed: int) -> Path:
    return run_dir / "students" / method / f"seed-{seed}"


def _mean_std(values: list[float]) -> tuple[float, float]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def results_table(run_dir: Path, methods, seeds) -> list[dict]:
    """One row per teacher / before / method: accuracy on every test set, mean and std over seeds."""
    rows = []
    students = run_dir / "students"
    entries = [("teacher", [students / "teacher"]), ("before", [students / "before"])]
    entries += [(m, [student_dir(run_dir, m, s) for s in seeds]) for m in methods]
    for key, dirs in entries:
        evals = [json.loads((d / "eval.json").read_text()) for d in dirs if (d / "eval.json").exists()]
        if not evals:
            continue
        row = {"row": METHODS[key].row if key in METHODS else FRAME_ROWS.get(key, key), "method": key,
               "seeds": len(evals)}
        for test_set in evals[0]:
            values = [100 * e[test_set]["accuracy"] for e in evals]
            mean, std = _mean_std(values)
            row[f"{test_set}_mean"], row[f"{test_set}_std"] = round(mean, 2), round(std, 2)
            row[f"{test_set}_per_seed"] = [round(v, 2) for v in values]
        histories = [json.loads((d / "history.json").read_text()) for d in dirs if (d / "history.json").exists()]
        if histories:
            finals = [h["history"][-1]["loss"] for h in histories if h["history"] and h["history"][-1]["loss"]]
            if finals:
                row["final_loss"] = round(statistics.fmean(finals), 4)
        rows.append(row)
    return rows


def table_markdown(rows: list[dict]) -> str:
    """The table as markdown: accuracy (%) as mean ± std (n seeds)."""
    sets = [k[:-5] for k in rows[0] if k.endswith("_mean")] if rows else []
    head = "| | seeds | " + " | ".join(f"{s} accuracy (%)" for s in sets) + " |"
    lines = [head, "|---|---|" + "---|" * len(sets)]
    for row in rows:
        cells = [f"{row[f'{s}_mean']:.1f} ± {row[f'{s}_std']:.1f}" if f"{s}_mean" in row else "" for s in sets]
        lines.append(f"| {row['row']} | {row['seeds']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def table_csv(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    # Per-seed lists as one cell, values separated by spaces.
    writer.writerows({k: " ".join(map(str, v)) if isinstance(v, list) else v for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def write_figures(run_dir: Path, rows: list[dict], methods, seeds) -> list[Path]:
    """Accuracy bars with the seed spread, training loss per epoch, and the curriculum."""
    import matplotlib.pyplot as plt

    from kpod_lite import viz

    figures = run_dir / "results" / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    histories = {}
    for method in methods:
        runs = [student_dir(run_dir, method, s) / "history.json" for s in seeds]
        histories[method] = [json.loads(p.read_text())["history"] for p in runs if p.exists()]
    data.write_atomically(run_dir / "results" / "histories.json", json.dumps(histories, indent=1) + "\n")
    written = []
    for name, figure in (("accuracy.png", viz.accuracy_figure(rows)),
                         ("training_loss.png", viz.loss_figure(histories)),
                         ("curriculum.png", viz.curriculum_figure(histories))):
        figure.savefig(figures / name, dpi=110, bbox_inches="tight")
        plt.close(figure)  # files only: a notebook that called run() draws its own
        written.append(figures / name)
    return written


# --- the run --------------------------------------------------------------------------------------------


def summarise(run_dir: Path) -> dict:
    """Counts and rationale statistics of whatever the run folder holds."""
    summary: dict = {"run": str(run_dir)}
    questions = run_dir / "questions"
    for path in sorted(questions.glob("*.jsonl")) if questions.exists() else ():
        summary[f"{path.stem}_questions"] = sum(1 for _ in data.read_jsonl(path))
    for path in sorted(questions.glob("*.load.json")) if questions.exists() else ():
        report = json.loads(path.read_text(encoding="utf-8"))  # what the data file held (pipeline._load_reported)
        split = path.name.removesuffix(".load.json")
        summary[f"{split}_records_read"] = report["read"]
        summary[f"{split}_records_skipped"] = report["skipped"]
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
    symbols = run_dir / "rationales.symbols.json"
    if symbols.exists():
        record = json.loads(symbols.read_text())
        if record["replaced"] or record["unknown"]:  # only a student that needed it (FlanT5-like)
            summary["student_symbols_replaced"] = sum(record["replaced"].values())
            summary["student_unk_tokens_left"] = record["unk_tokens_after"]
    weights = run_dir / "weights.summary.json"
    if weights.exists():
        record = json.loads(weights.read_text())
        summary["mean_token_weight"] = record["mean_weight"]
        summary["weighting_collapse"] = record["collapse"]
        if "keypoints" in record:
            summary["keypoint_auroc_vs_filler"] = record["keypoints"]["auroc_keypoint_vs_filler"]
    schedule = run_dir / "schedule.json"
    if schedule.exists():  # which embeddings the clusters of Eq. 12 came from (§3.4: GloVe; ours: TF-IDF)
        meta = json.loads(schedule.read_text(encoding="utf-8")).get("meta", {})
        if "embeddings" in meta:
            summary["schedule_clusters_from"] = meta["embeddings"]
    summary.update(_cut_by_length_limits(run_dir))
    return summary


def _cut_by_length_limits(run_dir: Path) -> dict:
    """The largest share of training inputs and targets that `max_source_length` and
    `max_target_length` cut in any stage of any student: what a user must see before
    trusting a table made with limits too short for the data."""
    stages = []
    for history in sorted(run_dir.glob("students/*/seed-*/history.json")):
        stages += [row for row in json.loads(history.read_text(encoding="utf-8"))["history"] if "truncated_inputs" in row]
    if not stages:
        return {}
    return {"inputs_cut_most_in_a_stage": max(row["truncated_inputs"] for row in stages),
            "targets_cut_most_in_a_stage": max(row["truncated_targets"] for row in stages)}


def provenance() -> dict:
    """What made a table: the kpod-lite commit (None outside a git checkout) and whether the
    checkout had uncommitted changes, the library versions and the machine, so that a number in
    `results.json` can be traced to the code and the environment that produced it."""
    import peft
    import torch
    import transformers

    import kpod_lite

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=Path(kpod_lite.__file__).parent, capture_output=True,
                                  text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no") if commit else None
    return {"commit": commit, "uncommitted_changes": bool(status) if status is not None else None,
            "kpod_lite": kpod_lite.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "peft": peft.__version__,
            "machine": platform.machine(), "threads": torch.get_num_threads(),
            "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _markdown(summary: dict) -> str:
    rows = "\n".join(f"| {key} | {value} |" for key, value in summary.items())
    return f"# KPOD run summary\n\n| what | value |\n|---|---|\n{rows}\n"


def write_results(cfg, run_dir: Path, methods, seeds, timings: dict, memory: dict,
                  gpu_memory: dict | None = None) -> str:
    """`results/`: the config, the summary (with the stage timings and peak memory), the table
    as markdown, CSV and JSON, and the figures. Returns the table (markdown), or the summary
    when no student has been evaluated yet. `memory`: per stage, the peak resident (host) MiB of
    the process that ran it, so far (students trained in workers: the largest worker's).
    `gpu_memory`: per stage run on a GPU, its own peak in MiB ("max_allocated", "max_reserved")
    and, for the stages `memory.preflight` estimated, the estimate ("estimated")."""
    results = run_dir / "results"
    results.mkdir(exist_ok=True)
    # The results folder stands alone (docs/results/ ships copies): it carries its config too.
    data.write_atomically(results / "config.json", json.dumps(cfg.to_dict(), indent=2) + "\n")
    summary = summarise(run_dir)
    summary["seconds_by_stage"] = timings
    summary["host_peak_memory_mb_after_stage"] = memory
    if gpu_memory:
        summary["gpu_memory_mb_by_stage"] = gpu_memory
    data.write_atomically(results / "summary.json", json.dumps(summary, indent=2) + "\n")
    data.write_atomically(results / "summary.md", _markdown(summary))
    rows = results_table(run_dir, methods, seeds)
    if not rows:
        return _markdown(summary)
    histories = {m: r["histories"] for m, r in convergence.curves(run_dir, methods, seeds).items()}
    epochs = {m: METHODS[m].config_for(cfg).epochs for m in methods}
    table = f"{table_markdown(rows)}\n{convergence.how_far(histories, epochs)}"
    data.write_atomically(results / "results.md", f"# KPOD results: {cfg.name}\n\n{table}")
    data.write_atomically(results / "results.csv", table_csv(rows))
    data.write_atomically(results / "results.json", json.dumps({"methods": list(methods), "seeds": seeds,
                                                                "rows": rows, "provenance": provenance(),
                                                                "config": cfg.to_dict()}, indent=1) + "\n")
    write_figures(run_dir, rows, list(methods), seeds)
    return table
