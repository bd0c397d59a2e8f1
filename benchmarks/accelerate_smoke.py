"""A small tiny-preset distillation (Eq. 15) and its test accuracy (§4.1), in one or several processes.

Prints one JSON object (on the main process). The same script runs alone or under
`accelerate` (data-parallel, gloo on CPU), so the two can be compared:

    .venv/bin/python benchmarks/accelerate_smoke.py --out /tmp/kpod-smoke-1 --batch-size 16
    .venv/bin/accelerate launch --multi_gpu --num_processes 2 benchmarks/accelerate_smoke.py \
        --out /tmp/kpod-smoke-2 --batch-size 8

(2 processes x 8 = the same total batch as 1 x 16). Without a GPU `--multi_gpu` starts both
processes on the CPU (DDP over gloo); `--cpu --num_processes 2` would start only one with
accelerate 1.15, whose multi-CPU launcher needs MPI.

With `--train 400 --methods none plain-cot kpod` it measures what the course quotes for the
tiny student: accuracy before distillation, after plain CoT distillation and after KPOD.

Inputs are built here, offline, from the shipped synthetic split: rationales from the
template teacher (§3.1); token weights from the teacher's own keypoint labels, standing in
for the learned ones of §3.3 (keypoint tokens 0.9, plain 0.3, filler words 0.05 -- an oracle,
so this measures distillation, not mask learning); step difficulty d_k = Σ_j w_j over the
step's tokens, a cheap stand-in for Eq. 8; clusters from TF-IDF (`schedule.embed_questions`);
the schedule from `schedule.build_schedule_from_config` (Eq. 9-13).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kpod_lite import distill as distillation  # noqa: E402
from kpod_lite import evaluate, schedule  # noqa: E402
from kpod_lite.config import preset  # noqa: E402
from kpod_lite.data import load_examples, split_steps  # noqa: E402
from kpod_lite.models import load_student, load_tokenizer  # noqa: E402
from kpod_lite.teacher import TemplateTeacher, teach  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
KEYPOINT = {"number", "result", "operator", "equals", "quantity"}
LABEL_WEIGHT = {"filler": 0.05, "plain": 0.3}


def label_weights(records, tokenizer) -> list[dict]:
    """Token weight records from the template teacher's character labels (an oracle for §3.3)."""
    out = []
    for record in records:
        labels = {}
        for start, end, label in record.get("spans", []):
            for position in range(start, end):
                labels[position] = label
        text = record["rationale"]
        encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        weights = []
        for start, end in encoded["offset_mapping"]:
            kinds = [labels.get(p, "plain") for p in range(start, end) if not text[p].isspace()]
            kind = max(set(kinds), key=kinds.count) if kinds else "plain"
            weights.append(0.9 if kind in KEYPOINT else LABEL_WEIGHT.get(kind, 0.3))
        out.append({"id": record["id"], "sample": record.get("sample", 0),
                    "tokens": tokenizer.convert_ids_to_tokens(encoded["input_ids"]),
                    "offsets": [list(o) for o in encoded["offset_mapping"]], "weights": weights})
    return out


def step_difficulties(records, weights) -> dict:
    """d_k = Σ_j w_j over the tokens of step k (a stand-in for Eq. 8)."""
    by_id = {w["id"]: w for w in weights}
    out = {}
    for record in records:
        w = by_id[record["id"]]
        out[record["id"]] = [
            sum(x for (a, b), x in zip(w["offsets"], w["weights"]) if a < step.end and b > step.start)
            for step in split_steps(record["rationale"])
        ]
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--train", type=int, default=64, help="training questions (synthetic train split)")
    parser.add_argument("--test", type=int, default=100, help="test questions (synthetic test split)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=None, help="default: the tiny preset's")
    parser.add_argument("--batch-size", type=int, default=None, help="per process; default: the preset's")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--max-source-length", type=int, default=None)
    parser.add_argument("--max-target-length", type=int, default=None)
    parser.add_argument("--lr-scheduler", default=None, help="linear (default), constant, cosine ...")
    parser.add_argument("--methods", nargs="+", default=["kpod"],
                        help="'none' (no distillation) and/or kpod_lite.methods.METHODS names")
    args = parser.parse_args(argv)

    changes = {"epochs": args.epochs}
    if args.lr is not None:
        changes["learning_rate"] = args.lr
    if args.batch_size is not None:
        changes["batch_size"] = args.batch_size
    if args.max_new_tokens is not None:
        changes["max_new_tokens"] = args.max_new_tokens
    if args.max_source_length is not None:
        changes["max_source_length"] = args.max_source_length
    if args.max_target_length is not None:
        changes["max_target_length"] = args.max_target_length
    config = preset("tiny", **changes)
    if args.lr_scheduler:
        config = config.replace(lr_scheduler_type=args.lr_scheduler)
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    args.out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    train = load_examples(REPO / "data_samples/synthetic/train.jsonl", "kpod")[:args.train]
    test = load_examples(REPO / "data_samples/synthetic/test.jsonl", "kpod")[:args.test]
    # Every process writes its own rationale file (the template teacher is deterministic).
    rationale_path = args.out / f"rationales.rank{rank}.jsonl"
    teach(train, TemplateTeacher(), out=rationale_path, progress=False)
    records = [json.loads(line) for line in rationale_path.read_text().splitlines()]
    tokenizer = load_tokenizer(config)
    weights = label_weights(records, tokenizer)
    difficulties = step_difficulties(records, weights)
    embeddings, source = schedule.embed_questions([r["question"] for r in records])
    clusters = schedule.cluster_questions(embeddings, k=config.n_clusters, seed=config.seed)
    result = {"processes": world, "train": len(records), "test": len(test), "epochs": config.epochs,
              "lr": config.learning_rate, "batch_size_per_process": config.batch_size,
              "max_new_tokens": config.max_new_tokens, "max_source_length": config.max_source_length,
              "max_target_length": config.max_target_length,
              "lr_scheduler": config.lr_scheduler_type, "methods": {}}
    for method in args.methods:
        t0 = time.perf_counter()
        if method == "none":
            model, tok = load_student(config)
            history = []
        else:
            # Each method's own schedule (w.o.-div: beta = 0), as the pipeline builds them.
            plan = schedule.build_schedule_from_config(config.replace(method=method), difficulties,
                                                       dict(zip(difficulties, clusters.tolist())),
                                                       meta={"embeddings": source, "method": method})
            model, tok, history = distillation.distill(records, weights, plan, config, args.out / method,
                                                       method=method, progress=False)
        train_seconds = time.perf_counter() - t0
        row = {"train_seconds": round(train_seconds, 1),
               "loss": [round(h["loss"], 4) for h in history if h["loss"] is not None],
               "mean_input_steps": [h["mean_input_steps"] for h in history]}
        if rank == 0:
            summary = evaluate.evaluate_examples(model, tok, test, config, args.out / f"{method}.predictions.jsonl")
            row.update(accuracy=summary["accuracy"], no_answer=summary["no_answer"],
                       eval_seconds=summary["seconds"])
        result["methods"][method] = row
    result["seconds"] = round(time.perf_counter() - started, 1)
    if rank == 0:
        print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
