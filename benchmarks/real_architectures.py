"""Every pipeline stage on a published architecture at full width, on CPU.

FlanT5-Large or LLaMA-7B is built from its published config (`kpod_lite.models.published`:
full width, `--depth` layers per stack, random weights), saved as a local student folder with
the family's SentencePiece stand-in tokenizer (`save_published`), and the GPU preset of that
name runs on it end to end (App. B, Algorithm 1): questions, teach (`released`: the GPT-3.5-style
rationales shipped in data_samples/formats/mcckd_train.json, §3.1), symbols and weigh (§3.3,
Eq. 2-7), difficulty (Eq. 8), schedule (Eq. 9-13), distill (Eq. 15, LoRA as the preset has it)
and evaluate (§4). The preset's settings stay (LoRA rank and alpha, targets, gradient
checkpointing, batch_size, weighting_batch_size, eval_batch_size, learning rate); what a CPU
budget cannot take is reduced (`REDUCED`, printed with the result).

Each stage is its own `kpod-lite run --until STAGE` process on one run folder, as in
benchmarks/bench_pipeline.py: a stage finds the outputs of those before it and does only its
own work, and its peak resident memory comes from the kernel (`os.wait4`'s ru_maxrss), so it is
that stage's peak. A last `--until evaluate` run on the finished folder only imports and reads
files: its peak ("startup") is subtracted from each stage's before it is compared with
`kpod_lite.memory.estimate_memory(cfg, model_config, device="cpu")` (float32, CPU dropout masks,
SDPA's math path), whose parts are summed without the GPU slack (x1.10 + 512 MiB, a CUDA
allowance). Prints one JSON object:

    PYTHONPATH=$PWD OMP_NUM_THREADS=2 .venv/bin/python benchmarks/real_architectures.py \\
        --arch llama-7b --depth 2 --out /tmp/kpod-real-llama
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MiB = 2 ** 20
ARCHS = {"flan-t5-large": "google/flan-t5-large", "llama-7b": "huggyllama/llama-7b"}
SAMPLES = REPO / "data_samples" / "formats"

# What a 2-core CPU budget cannot take, and why (everything else is the preset's).
REDUCED = {
    # 6 of the 12 sample questions, one released rationale each (the preset's teacher_samples);
    # 2 of the 8 test questions.
    "train_size": 6, "test_size": 2,
    # Two epochs: T = 1, one progressive stage and one of whole rationales (Eq. 11).
    "epochs": 2, "weighting_epochs": 1, "weighting_predictor_warmup_steps": 2,
    # The sample's questions reach 61 stand-in tokens and its rationales 97 (T5 stand-in):
    # these bounds hold question + every step (Eq. 14) and a whole rationale, without the
    # preset's 512-token headroom, so the estimate (which pads every row to them) stays close.
    "max_source_length": 160, "max_target_length": 128,
    "max_new_tokens": 16,  # a few greedy tokens per prompt: generation speed, not accuracy
}


def sample_data() -> dict:
    """The MCC-KD-style sample (instruction format, SVAMP-like questions), needing no network."""
    return {"dataset": "svamp", "data_format": "instruction", "teacher": "released",
            "train_file": str(SAMPLES / "mcckd_train.json"), "test_file": str(SAMPLES / "mcckd_test.json"),
            "ood": []}


def settings_args(settings: dict) -> list[str]:
    """`--set KEY=JSON ...` for the CLI."""
    return ["--set", *(f"{key}={json.dumps(value)}" for key, value in settings.items())]


def measured(command: list[str], env: dict, label: str, logs: Path) -> dict:
    """Run one process: wall seconds, CPU seconds and its own peak RSS (MiB, from the kernel).
    Its output goes to `logs/<label>.{out,err}` (files, so a chatty stage cannot fill a pipe)."""
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / f"{label}.out", logs / f"{label}.err"
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=stdout, stderr=stderr)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{label} failed ({err}):\n{err.read_text(errors='replace')[-3000:]}")
    return {"seconds": round(seconds, 1), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def build_student(name: str, depth: int, folder: Path, env: dict, logs: Path) -> dict:
    """`save_published` in its own process (its peak is the build's, not a stage's)."""
    code = ("import sys; from kpod_lite.models.published import save_published; "
            "save_published(sys.argv[1], sys.argv[2], depth=int(sys.argv[3]))")
    return measured([sys.executable, "-c", code, name, str(folder), str(depth)], env, "build", logs)


def estimates(cfg, student: Path, steps_per_rationale: int) -> dict:
    """`estimate_memory` in CPU mode for the stages that hold the student, in MiB: parts summed
    (no GPU slack) and the GPU-style total with slack. `steps_per_rationale`: the run's
    longest rationale in steps (Eq. 5's prefix rows; the preflight assumes 8)."""
    from transformers import AutoConfig

    from kpod_lite.memory import estimate_memory

    found = estimate_memory(cfg, AutoConfig.from_pretrained(student), device="cpu",
                            steps_per_rationale=steps_per_rationale)
    return {stage: {"parts_sum_mib": round(sum(e.parts.values()) / MiB, 1),
                    "with_gpu_slack_mib": round(e.total / MiB, 1),
                    "parts_mib": {k: round(v / MiB, 1) for k, v in e.parts.items()}} for stage, e in found.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), required=True)
    parser.add_argument("--depth", type=int, default=2, help="layers per stack (full width always)")
    parser.add_argument("--out", type=Path, required=True, help="a folder to create (removed first)")
    parser.add_argument("--threads", type=int, default=2, help="OMP_NUM_THREADS of the stages")
    parser.add_argument("--set", default="{}", help="more config changes, JSON (e.g. '{\"train_size\": 2}')")
    args = parser.parse_args(argv)

    from kpod_lite.config import preset
    from kpod_lite.pipeline import STAGES

    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "PYTHONPATH": str(REPO)}
    student = args.out / "student"
    logs = args.out / "logs"
    build = build_student(ARCHS[args.arch], args.depth, student, env, logs)
    changes = {**REDUCED, **sample_data(), "student": str(student), **json.loads(args.set)}
    run_dir = args.out / "run"
    base = [sys.executable, "-m", "kpod_lite.cli", "run", "--preset", args.arch, "--out", str(run_dir),
            *settings_args(changes)]
    stages = {}
    for stage in STAGES:
        stages[stage] = measured([*base, "--until", stage], env, stage, logs)
        print(json.dumps({stage: stages[stage]}), file=sys.stderr, flush=True)
    startup = measured([*base, "--until", "evaluate"], env, "startup", logs)
    table = (logs / "startup.out").read_text()

    cfg = preset(args.arch, **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()})
    summary = json.loads((run_dir / "results" / "summary.json").read_text())
    estimate = estimates(cfg, student, summary["steps_per_rationale_max"])
    for stage, e in estimate.items():
        net = stages[stage]["peak_rss_mib"] - startup["peak_rss_mib"]
        stages[stage]["net_of_startup_mib"] = round(net, 1)
        stages[stage]["estimate_cpu_mib"] = e["parts_sum_mib"]
        stages[stage]["measured_over_estimate"] = round(net / e["parts_sum_mib"], 3)
    from kpod_lite.models.published import parameter_count, published_config

    print(json.dumps({
        "arch": args.arch, "student": ARCHS[args.arch], "depth": args.depth, "threads": args.threads,
        "parameters_m": round(parameter_count(published_config(ARCHS[args.arch], args.depth)) / 1e6, 1),
        "preset_kept": {k: getattr(cfg, k) for k in (
            "lora_rank", "lora_alpha", "lora_target_modules", "gradient_checkpointing", "batch_size",
            "weighting_batch_size", "eval_batch_size", "learning_rate", "bf16")},
        "reduced": {k: changes[k] for k in REDUCED},
        "build": build, "stages": stages, "startup_and_reuse_only": startup,
        "total_seconds": round(sum(s["seconds"] for s in stages.values()), 1),
        "estimates": estimate, "run_summary": {k: summary[k] for k in (
            "train_questions", "test_questions", "rationales_kept", "steps_per_rationale_max", "mean_token_weight",
            "weighting_collapse", "inputs_cut_most_in_a_stage", "targets_cut_most_in_a_stage")},
        "results_table": table.strip(),
    }, indent=1))


if __name__ == "__main__":
    main()
