"""Greedy generation (§4 evaluation) of a distilled tiny student: seconds per batch size.

A tiny model's generation is bound by the per-token overhead of `generate`, not by arithmetic,
so bigger batches are nearly free; this measures how much, on the same prompts, alternating
the batch sizes in one run, and checks that the generated texts do not change. Prints JSON:

    .venv/bin/python benchmarks/bench_generation_batch.py --model runs/tiny/students/kpod/seed-0/model

(`make tiny` leaves that student.) An untrained student stops early and would flatter nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kpod_lite import evaluate  # noqa: E402
from kpod_lite.config import preset  # noqa: E402
from kpod_lite.data import load_examples  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a distilled student folder (<run>/students/.../model)")
    parser.add_argument("--questions", type=Path, default=None, help="default: <run>/questions/test.jsonl")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = preset("tiny")
    model, tokenizer = evaluate.load_trained(args.model, cfg)
    questions = args.questions or args.model.parents[3] / "questions" / "test.jsonl"
    prompts = evaluate.prompts_for(load_examples(questions, "kpod")[:args.prompts])
    seconds = {size: [] for size in args.batch_sizes}
    texts = {}
    for _ in range(args.repeats):
        for size in args.batch_sizes:
            started = time.perf_counter()
            texts[size] = evaluate.generate(model, tokenizer, prompts, cfg, batch_size=size)
            seconds[size].append(time.perf_counter() - started)
    base = args.batch_sizes[0]
    print(json.dumps({
        "prompts": len(prompts), "max_new_tokens": cfg.max_new_tokens, "threads": args.threads,
        "seconds_median": {size: round(statistics.median(s), 2) for size, s in seconds.items()},
        "speedup_vs_first": {size: round(statistics.median(seconds[base]) / statistics.median(s), 2)
                             for size, s in seconds.items()},
        "same_texts_as_first": {size: texts[size] == texts[base] for size in args.batch_sizes},
    }, indent=1))


if __name__ == "__main__":
    main()
