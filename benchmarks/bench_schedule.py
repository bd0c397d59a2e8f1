"""Speed and quality of FTGP (Eq. 13, Prop. 3.1) and of the whole schedule (Eq. 9-11).

Prints one JSON object; docs/BENCHMARKS.md keeps the figures and this command:

    .venv/bin/python benchmarks/bench_schedule.py           # full run (about a minute)
    .venv/bin/python benchmarks/bench_schedule.py --quick   # smoke run (seconds)

Instances imitate KPOD stages: a cost is the difficulty of one rationale step (Gamma(2, 2)),
K = 5 clusters (App. A), the budget ΔD a random 10-90% of the total cost, β = 12 (App. A) or 0
(KPOD-w.o.-div). Times are the best of `--repeat` runs, in seconds, on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kpod_lite.schedule import build_schedule, cluster_questions  # noqa: E402
from kpod_lite.submodular import (  # noqa: E402
    brute_force,
    ftgp,
    greedy,
    guarantee,
    is_feasible,
    normalised_value,
)


def best_time(fn, repeat: int):
    """(smallest wall time over `repeat` runs, last result)."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def instance(rng, n: int, beta: float | None = None):
    costs = rng.gamma(2.0, 2.0, n)
    clusters = rng.integers(0, 5, n)
    budget = rng.uniform(0.1, 0.9) * costs.sum()
    if beta is None:
        beta = float(rng.choice([0.0, 12.0]))
    return costs, clusters, budget, beta


def bench_one_selection(n: int, repeat: int) -> dict:
    costs, clusters, budget, _ = instance(np.random.default_rng(0), n, beta=12.0)
    budget = 0.1 * costs.sum()
    seconds, S = best_time(lambda: ftgp(costs, clusters, budget, beta=12.0, eps=0.1), repeat)
    assert is_feasible(S, costs, budget)
    return {"n": n, "seconds": round(seconds, 3), "selected": len(S),
            "budget_used": round(float(costs[S].sum() / budget), 6)}


def gsm8k_like(n: int, seed: int = 0) -> tuple[dict, dict, np.ndarray]:
    """n rationales of 2-8 steps with Gamma(2, 2) step difficulties, 300-d question vectors."""
    rng = np.random.default_rng(seed)
    difficulties = {f"gsm8k-{i}": rng.gamma(2.0, 2.0, rng.integers(2, 9)).tolist() for i in range(n)}
    embeddings = rng.normal(size=(5, 300))[rng.integers(0, 5, n)] + rng.normal(0, 2.0, (n, 300))
    return difficulties, {}, embeddings


def bench_schedule(n: int, epochs: int, repeat: int) -> dict:
    difficulties, _, embeddings = gsm8k_like(n)
    cluster_seconds, labels = best_time(lambda: cluster_questions(embeddings, k=5, seed=0), 1)
    clusters = dict(zip(difficulties, labels.tolist()))
    seconds, sched = best_time(lambda: build_schedule(difficulties, clusters, epochs=epochs), repeat)
    spent = [s.delta_H / s.delta_D for s in sched.stages[1:] if s.delta_D > 0]
    return {"n": n, "epochs": epochs, "T": sched.T, "stages": len(sched.stages),
            "seconds": round(seconds, 3), "clustering_seconds": round(cluster_seconds, 3),
            "mean_budget_used": round(float(np.mean(spent)), 4),
            "json_MB": round(len(sched.to_json()) / 1e6, 2)}


def bench_quality(count: int, n_range: tuple[int, int], eps: float) -> dict:
    rng = np.random.default_rng(1)
    ratios, greedy_ratios = [], []
    while len(ratios) < count:
        inst = instance(rng, int(rng.integers(*n_range)))
        opt = normalised_value(brute_force(*inst), *inst)
        if opt <= 0:
            continue
        ratios.append(normalised_value(ftgp(*inst, eps=eps), *inst) / opt)
        greedy_ratios.append(normalised_value(greedy(*inst), *inst) / opt)
    ratios, greedy_ratios = np.array(ratios), np.array(greedy_ratios)
    return {"instances": count, "n": list(n_range), "eps": eps, "guarantee": round(guarantee(eps), 4),
            "ftgp_mean": round(float(ratios.mean()), 4), "ftgp_min": round(float(ratios.min()), 4),
            "ftgp_share_optimal": round(float(np.mean(ratios > 1 - 1e-9)), 3),
            "greedy_mean": round(float(greedy_ratios.mean()), 4),
            "greedy_min": round(float(greedy_ratios.min()), 4)}


def bench_against_greedy(n: int, repeat: int) -> dict:
    costs, clusters, budget, _ = instance(np.random.default_rng(2), n, beta=12.0)
    budget = 0.3 * costs.sum()
    t_ftgp, S = best_time(lambda: ftgp(costs, clusters, budget, beta=12.0), repeat)
    t_greedy, Sg = best_time(lambda: greedy(costs, clusters, budget, beta=12.0), 1)
    g, gg = (normalised_value(x, costs, clusters, budget, 12.0) for x in (S, Sg))
    return {"n": n, "ftgp_seconds": round(t_ftgp, 4), "greedy_seconds": round(t_greedy, 3),
            "speedup": round(t_greedy / t_ftgp, 1), "value_ratio_ftgp_over_greedy": round(g / gg, 6)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    q = args.quick
    report = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__},
        "one_selection": bench_one_selection(100_000 if q else 1_000_000, args.repeat),
        "schedule_gsm8k": bench_schedule(1_000 if q else 7_473, 100, args.repeat),
        "schedule_gsm8k_llama": bench_schedule(1_000 if q else 7_473, 20, args.repeat),
        "quality_vs_brute_force": bench_quality(20 if q else 200, (6, 11) if q else (8, 17), 0.1),
        "ftgp_vs_greedy": bench_against_greedy(2_000 if q else 20_000, args.repeat),
    }
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
