"""Token weighting (§3.3, Eq. 2-7): training speed with all prefixes vs step prefixes, and inference.

Eq. 5 asks for the answer from every prefix r[m]_<k of the masked rationale, one predictor
row per prefix: n rows for a rationale of n tokens ("all"). The "steps" mode keeps only the
prefixes that end a "."-step (§3.4), a few rows per rationale. This script times one
training pass over the same rationales in both modes, side by side in one process, and the
inference of the trained weight generator (Eq. 2-3 only, no predictor), on the tiny preset.

    python benchmarks/bench_weighting.py                     # prints one JSON object
    python benchmarks/bench_weighting.py --rationales 32 --threads 2 --predictor tiny-llama
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import time

import torch

from kpod_lite.config import preset
from kpod_lite.models import load_student
from kpod_lite.synthetic import generate_dataset
from kpod_lite.weighting import (
    _Embedder,
    _training_items,
    build_weighter,
    load_predictor,
    training_step,
    weigh,
)


def synthetic_rationales(n: int, seed: int = 123) -> list[dict]:
    """Rationale records as the template teacher writes them, without running the teacher."""
    return [{"id": p.id, "sample": 0, "question": p.question, "answer": p.answer, "rationale": p.rationale}
            for p in generate_dataset(n, seed=seed)]


def time_training(records, config, student, tokenizer, batch_size: int) -> dict:
    """Seconds for one optimisation pass (L_k of Eq. 7, backward, Adam step) over `records`,
    after one untimed batch (allocations, lazy initialisation)."""
    weighter = build_weighter(student, config)
    predictor = load_predictor(config, student, tokenizer).float().train()
    embedder = _Embedder(predictor, tokenizer)
    items = _training_items(records, tokenizer, config)
    parameters = [p for p in [*weighter.parameters(), *predictor.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=config.weighting_lr)
    generator, rng = torch.Generator().manual_seed(0), random.Random(0)

    def step(batch):
        parts = training_step(weighter, predictor, embedder, batch, config, generator, rng)
        optimizer.zero_grad(set_to_none=True)
        parts["loss"].backward()
        optimizer.step()

    step(items[:batch_size])
    started = time.perf_counter()
    for start in range(0, len(items), batch_size):
        step(items[start:start + batch_size])
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 2), "rationales_per_s": round(len(items) / seconds, 3),
            "prefix_rows_per_rationale": round(statistics.mean(len(i["ks"]) for i in items), 1),
            "weighter": weighter}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rationales", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=4, help="rationales per step (App. A: 4)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--predictor", default="tiny-llama", help="weighting_predictor ('' for the student)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    base = preset("tiny")
    config = base.replace(weighting_predictor=args.predictor or None)
    student, tokenizer = load_student(config, device="cpu")
    records = synthetic_rationales(args.rationales)
    tokens = statistics.mean(len(tokenizer(r["rationale"], add_special_tokens=False)["input_ids"]) for r in records)

    results = {}
    for mode in ("steps", "all"):
        results[mode] = time_training(records, config.replace(prefix_mode=mode), student, tokenizer, args.batch_size)
    weighter = results["steps"].pop("weighter")
    results["all"].pop("weighter")

    weigh(records[:4], weighter, tokenizer)  # untimed warm-up
    started = time.perf_counter()
    weigh(records, weighter, tokenizer)
    inference = time.perf_counter() - started

    print(json.dumps({
        "benchmark": "token weighting (§3.3, Eq. 2-7), tiny preset, CPU",
        "torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.machine(),
        "predictor": args.predictor or config.student, "rationales": len(records),
        "mean_rationale_tokens": round(tokens, 1), "batch_size": args.batch_size,
        "train_steps": results["steps"], "train_all": results["all"],
        "train_speedup_steps_over_all": round(
            results["steps"]["rationales_per_s"] / results["all"]["rationales_per_s"], 1),
        "inference_rationales_per_s": round(len(records) / inference, 1),
    }, indent=1))


if __name__ == "__main__":
    main()
