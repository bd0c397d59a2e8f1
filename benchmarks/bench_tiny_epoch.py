"""Where one epoch of the tiny preset's distillation spends its time, and how far it is from the CPU's bound.

A converged tiny student trains N_e = 40-60 epochs (docs/RESULTS.md), each one epoch of Eq. 15
over the 800 training rationales and, for the per-epoch curves, greedy answers to the
validation questions. This times the parts of one such epoch on one torch thread (a pipeline
worker's setting, `pipeline.workers`), in one process:

- **train**: the Trainer's epoch (`distill`, plain CoT, whole rationales; KPOD's loss costs the
  same, benchmarks/bench_distill_overhead.py), per step and per sample;
- **answers**: `evaluate.generate` on the validation questions at the preset's batch size,
  with the student after those epochs (its answers have their trained length);
- **the bound**: the FLOPs of a training step (6 x parameters x tokens, padding included, plus
  attention) against a matmul of the step's largest shape timed in the same run, so the ratio
  says how much of the step is arithmetic at the speed this core reaches, and what remains is
  overhead (the elementwise kernels of a 128-wide model, the optimiser, Python).

Each part is timed on the wall clock and on the process's CPU clock; on a machine shared with
other jobs read the CPU seconds (one thread: they are the compute the part needs).

    .venv/bin/python benchmarks/bench_tiny_epoch.py                 # 2 epochs, 400 answers, ~1 min
    .venv/bin/python benchmarks/bench_tiny_epoch.py --epochs 3 --answers 200
    .venv/bin/python benchmarks/bench_tiny_epoch.py --optim adamw_torch_fused  # the fused optimiser

Prints one JSON object. Inputs are built offline as `make tiny` builds them: the tiny task's
questions, the template teacher (§3.1).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch


def _matmul_gflops(m: int, k: int, n: int, repeats: int = 50) -> float:
    a, b = torch.randn(m, k), torch.randn(k, n)
    for _ in range(5):
        a @ b
    started = time.process_time()  # CPU time, like the epoch's (see `main`)
    for _ in range(repeats):
        a @ b
    return 2 * m * k * n * repeats / (time.process_time() - started) / 1e9


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--answers", type=int, default=400, help="validation questions answered after training")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--optim", default=None,
                        help="another TrainingArguments optim than distill's adamw_torch, e.g. adamw_torch_fused")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from transformers import TrainerCallback

    from kpod_lite.config import preset
    from kpod_lite.data import load_examples, read_jsonl, write_jsonl
    from kpod_lite.distill import distill
    from kpod_lite.evaluate import generate, prompts_for
    from kpod_lite.synthetic import generate_dataset
    from kpod_lite.teacher import TemplateTeacher, teach

    cfg = preset("tiny").replace(epochs=args.epochs, method="plain-cot")
    work = Path(tempfile.mkdtemp(prefix="bench_tiny_epoch."))
    problems = generate_dataset(cfg.train_size + args.answers, seed=cfg.seed, config=cfg.synthetic)
    write_jsonl(work / "train.jsonl", [p.to_record() for p in problems[: cfg.train_size]])
    write_jsonl(work / "validation.jsonl", [p.to_record() for p in problems[cfg.train_size:]])
    teach(load_examples(work / "train.jsonl", "kpod"), TemplateTeacher(), out=work / "rationales.jsonl", progress=False)
    rationales = [record for _, record in read_jsonl(work / "rationales.jsonl")]
    validation = load_examples(work / "validation.jsonl", "kpod")

    class Clock(TrainerCallback):
        def __init__(self):
            self.epoch_seconds, self.epoch_cpu_seconds, self._start = [], [], None

        def on_epoch_begin(self, args, state, control, **kwargs):
            self._start = (time.perf_counter(), time.process_time())

        def on_epoch_end(self, args, state, control, **kwargs):
            self.epoch_seconds.append(time.perf_counter() - self._start[0])
            self.epoch_cpu_seconds.append(time.process_time() - self._start[1])

    clock = Clock()
    if args.optim:  # the measured alternative: distill's own arguments with only the optimiser changed
        import kpod_lite.distill.run as distill_run

        own = distill_run.training_arguments

        def with_optim(*a, **k):
            training = own(*a, **k)
            training.optim = args.optim
            return training

        distill_run.training_arguments = with_optim
    model, tokenizer, _ = distill(rationales, None, None, cfg, work / "student", callbacks=[clock], progress=False)
    # Padded tokens per epoch: the batches as the Trainer's data order pads them is not exposed,
    # so count the mean padded width of random batches of the same size (the sampler is random).
    from kpod_lite.distill.trainer import ProgressiveDataset
    from kpod_lite.families import family_of

    family = family_of(model)
    dataset = ProgressiveDataset(rationales, None, None, tokenizer, cfg, family, progressive=False)
    lengths = [len(e["input_ids"]) for e in dataset.examples]
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    batches = [order[i:i + cfg.batch_size] for i in range(0, len(order), cfg.batch_size)]
    padded_tokens = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    real_tokens = sum(lengths)

    prompts = prompts_for(validation)
    generate(model, tokenizer, prompts[: cfg.generation_batch_size], cfg)  # warm-up
    started, started_cpu = time.perf_counter(), time.process_time()
    answers = generate(model, tokenizer, prompts, cfg)
    answer_seconds, answer_cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
    answer_tokens = sum(len(tokenizer(a).input_ids) for a in answers)

    parameters = sum(p.numel() for p in model.parameters())
    hidden, layers = model.config.hidden_size, model.config.num_hidden_layers
    width = max(lengths)
    # 6 N per token for the weights (forward 2 N, backward 4 N), plus the attention scores and
    # their weighted sum (4 L^2 d per layer forward, twice that backward) over a padded row.
    step_flops = sum(6 * parameters * max(lengths[i] for i in b) * len(b)
                     + 12 * layers * hidden * max(lengths[i] for i in b) ** 2 * len(b) for b in batches)
    train_seconds = statistics.mean(clock.epoch_seconds[1:] or clock.epoch_seconds)
    train_cpu_seconds = statistics.mean(clock.epoch_cpu_seconds[1:] or clock.epoch_cpu_seconds)
    matmul = _matmul_gflops(cfg.batch_size * width, hidden, model.config.intermediate_size)
    result = {
        "benchmark": "bench_tiny_epoch",
        "machine": {"python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
                    "processor": platform.processor() or platform.machine()},
        "student": cfg.student, "optim": args.optim or "adamw_torch", "parameters": parameters, "train_rationales": len(rationales),
        "batch_size": cfg.batch_size, "epochs_timed": len(clock.epoch_seconds),
        "train_seconds_per_epoch": round(train_seconds, 2),
        "train_seconds_each_epoch": [round(s, 2) for s in clock.epoch_seconds],
        "train_cpu_seconds_per_epoch": round(train_cpu_seconds, 2),
        "samples_per_second": round(len(rationales) / train_seconds, 1),
        "padding_share": round(1 - real_tokens / padded_tokens, 3),
        "answers": len(prompts), "answer_seconds": round(answer_seconds, 2),
        "answer_cpu_seconds": round(answer_cpu_seconds, 2),
        "answer_tokens_per_second": round(answer_tokens / answer_seconds, 1),
        "step_gflops_per_cpu_second": round(step_flops / train_cpu_seconds / 1e9, 1),
        "matmul_gflops_per_cpu_second": round(matmul, 1),
        # On a shared machine the process's CPU time is the steadier clock: time given to other
        # processes is not counted (one thread: CPU seconds are compute seconds).
        "arithmetic_share_of_epoch_cpu": round(step_flops / (matmul * 1e9) / train_cpu_seconds, 3),
        "epoch_cpu_seconds_with_answers": round(train_cpu_seconds + answer_cpu_seconds, 2),
        "epoch_seconds_with_answers": round(train_seconds + answer_seconds, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
