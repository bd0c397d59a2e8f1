"""Check kpod_lite.memory's estimate against measurement on CPU, per layer and intercept.

Published architectures at full width and reduced depth (kpod_lite.models.published, random
weights, float32 on CPU), one measurement per fresh subprocess:

- "distill": one training step as Eq. 15 takes it (LoRA per the config, family.forward,
  weighted_token_loss, backward, AdamW step) at batch_size x (source, target);
- "weigh": one forward+backward of the Eq. 5 answer predictor (`answer_prediction_loss`, LoRA
  on the student) over weighting_batch_size x prefixes rows of question + rationale + trigger,
  the rationale embeddings requiring grad as the masked ones do (the TokenWeighter is left out
  of both sides).

Measured = peak resident memory of the process during the step (VmHWM, reset after the model
is built) minus its resident memory after
the imports, before the model is built, minus what a first step at 8 tokens left resident
(code and caches torch loads lazily: a one-time cost, reported as first_step_overhead_mib). Error bars: RSS counts pages, and glibc keeps some
freed heap; two runs of one setting differ by tens of MiB (docs/BENCHMARKS.md). Per layer =
the difference between depths divided by the layers added; intercept = depth-1 value minus
one layer. Prints JSON: estimate, measured and their ratio per setting, per layer, intercept.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/memory_per_layer.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

MiB = 2 ** 20


def _settings(model: str, kind: str) -> dict:
    """The config changes each measurement runs at (kept under ~2 min a step on one CPU core)."""
    if model == "google/flan-t5-large":  # the preset's batch and lengths
        return {"preset": "flan-t5-large", "changes": {"weighting_batch_size": 2}, "steps": 4}
    # LLaMA-7B at full width: batch 1, lengths 256 (the preset's 4 x 1024 is ~10x the work).
    return {"preset": "llama-7b", "changes": {"batch_size": 1, "max_source_length": 256, "max_target_length": 256,
                                              "weighting_batch_size": 1}, "steps": 4}


def _peak_rss() -> int:
    """The process's peak resident memory since the last reset, in bytes (Linux's VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status: this benchmark needs Linux")


def _one(spec: dict) -> dict:
    """One measurement in this (fresh) process; see the module docstring."""
    import gc

    import psutil
    import torch

    from kpod_lite.config import preset
    from kpod_lite.distill.trainer import weighted_token_loss
    from kpod_lite.families import family_of
    from kpod_lite.memory import TRIGGER_TOKENS, ANSWER_TOKENS, estimate_memory
    from kpod_lite.models import apply_lora
    from kpod_lite.models.published import build_published, published_config
    from kpod_lite.weighting.losses import answer_prediction_loss
    from kpod_lite.weighting.sizes import weighting_batch_size, weighting_max_tokens

    torch.manual_seed(0)
    cfg = preset(spec["preset"], bf16=False, **spec["changes"])
    before = psutil.Process().memory_info().rss
    model = build_published(spec["model"], spec["depth"])
    if cfg.gradient_checkpointing:  # as models.load_student does
        model.gradient_checkpointing_enable()
    model = apply_lora(model, cfg)
    model.train()
    family = family_of(model)
    V = model.config.vocab_size
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)

    def distill_step(b: int, src: int, tgt: int) -> None:
        if family.seq2seq:
            inputs = {"input_ids": torch.randint(2, V, (b, src)), "attention_mask": torch.ones(b, src, dtype=torch.long)}
            labels = torch.randint(2, V, (b, tgt))
        else:
            ids = torch.randint(2, V, (b, src + tgt))
            inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
            labels = torch.cat([torch.full((b, src), -100), ids[:, src:]], 1)
        outputs, aligned = family.forward(model, labels, **inputs)
        loss = weighted_token_loss(outputs.logits, aligned, torch.ones(aligned.shape))
        del outputs
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def weigh_step(wb: int, q: int, wk: int) -> None:
        table = model.get_input_embeddings()
        with torch.no_grad():
            questions = [table(torch.randint(2, V, (q,))) for _ in range(wb)]
            trigger = table(torch.randint(2, V, (TRIGGER_TOKENS,)))
        rationales = [table(torch.randint(2, V, (wk,))).detach().requires_grad_(True) for _ in range(wb)]
        prefixes = [sorted({max(1, wk * (i + 1) // spec["steps"]) for i in range(spec["steps"])}) for _ in range(wb)]
        answers = [torch.randint(2, V, (ANSWER_TOKENS,)).tolist() for _ in range(wb)]
        loss = answer_prediction_loss(model, questions, rationales, prefixes, answers, trigger_embeds=trigger,
                                      bos_embed=None if family.seq2seq else table(torch.tensor(1)).detach())
        loss.sum().backward()
        model.zero_grad(set_to_none=True)

    step = distill_step if spec["kind"] == "distill" else weigh_step
    # A first step at 8 tokens loads what torch loads lazily (kernels, thread pools, the optimizer's
    # state): a one-time cost, not the step's; it is taken out of the measurement.
    built = psutil.Process().memory_info().rss
    step(1, 8, 8)
    gc.collect()
    overhead = psutil.Process().memory_info().rss - built
    # Reset the peak (Linux: VmHWM), so that the model's build, whose initialisation makes
    # temporaries, does not count as the step's peak.
    Path("/proc/self/clear_refs").write_text("5")
    if spec["kind"] == "distill":
        step(cfg.batch_size, cfg.max_source_length, cfg.max_target_length)
    else:
        step(weighting_batch_size(cfg), cfg.max_source_length, weighting_max_tokens(cfg))
    peak = _peak_rss()
    estimate = estimate_memory(cfg, published_config(spec["model"], spec["depth"]), bf16=False,
                               steps_per_rationale=spec["steps"], device="cpu")[spec["kind"]]
    parts = {k: v for k, v in estimate.parts.items() if not k.startswith("weighter")}
    return {**spec, "measured_mib": round((peak - before - overhead) / MiB, 1),
            "first_step_overhead_mib": round(overhead / MiB, 1), "estimate_mib": round(sum(parts.values()) / MiB, 1),
            "estimate_parts_mib": {k: round(v / MiB, 1) for k, v in parts.items()}}


def _run(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", json.dumps(spec)], capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
    if out.returncode != 0:
        raise RuntimeError(f"measurement {spec} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="depths 1 and 2 only")
    parser.add_argument("--models", nargs="+", default=["google/flan-t5-large", "huggyllama/llama-7b"])
    parser.add_argument("--kinds", nargs="+", default=["distill", "weigh"])
    args = parser.parse_args()
    if args.one:
        print(json.dumps(_one(json.loads(args.one))))
        return
    report = []
    for model in args.models:
        depths = [1, 2] if args.quick or "llama" in model else [1, 2, 4]
        for kind in args.kinds:
            s = _settings(model, kind)
            rows = [_run({"model": model, "kind": kind, "depth": d, **s}) for d in depths]
            for row in rows:
                row["ratio"] = round(row["measured_mib"] / row["estimate_mib"], 3)
            per = {}
            for key in ("measured_mib", "estimate_mib"):
                per[key] = round((rows[-1][key] - rows[0][key]) / (depths[-1] - depths[0]), 1)
            intercept = {key: round(rows[0][key] - per[key] * depths[0], 1) for key in per}
            report.append({"model": model, "kind": kind, "settings": s, "depths": rows,
                           "per_layer": {**per, "ratio": round(per["measured_mib"] / per["estimate_mib"], 3)},
                           "intercept": {**intercept,
                                         "ratio": round(intercept["measured_mib"] / intercept["estimate_mib"], 3)}})
            print(json.dumps(report[-1]), file=sys.stderr, flush=True)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
