"""Tests for benchmarks/gpu_check.py, the prepared GPU check: its `--smoke` mode runs the same
code at toy size on the CPU, so the check cannot rot between the rare runs on a GPU.

The smoke runs in a subprocess (it narrows the published architectures in its own process), and
so do a run cut by its time budget and one killed from outside. The FLOP count (the basis of
every MFU figure) and the section time limit are checked in this process."""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_check.py"
RUNS = ("flan-t5-large/float32", "flan-t5-large/bf16", "llama-7b/bf16")
SECTIONS = ("student", "weigh", "difficulty", "distill", "evaluate", "generation", "overhead")
STAGES = ("weigh", "difficulty", "distill", "evaluate")


def _smoke(out: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--out", str(out), *extra], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """The whole smoke: (the JSON file, the JSON printed on stdout, seconds)."""
    out = tmp_path_factory.mktemp("gpu-check") / "gpu_check.json"
    started = time.perf_counter()
    done = _smoke(out)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), json.loads(done.stdout), seconds


@pytest.fixture(scope="module")
def gpu_check():
    """The script as a module. Importing it sets HF_HUB_OFFLINE for its own process: given back here."""
    before = {key: os.environ.get(key) for key in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    sys.path.insert(0, str(REPO / "benchmarks"))
    import gpu_check as module

    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return module


# --- the smoke ---------------------------------------------------------------------------------------


def test_the_smoke_finishes_every_section_of_every_run(smoke):
    report, printed, seconds = smoke
    assert report == printed  # the file's last state is what it prints
    assert report["smoke"] is True and report["status"] == "complete", report["checks"]
    assert report["sections"]["device"]["status"] == "done"
    assert report["checks"]["sections_not_done"] == []
    for run in RUNS:
        assert tuple(report["sections"][run]) == SECTIONS
        for section in SECTIONS:
            assert report["sections"][run][section]["status"] == "done", (run, section)
    assert seconds < 120  # about 30 s on the 2-core machine; loose for a busy one


def test_every_stage_has_finite_step_time_throughput_and_mfu(smoke):
    report = smoke[0]
    matmul = report["sections"]["device"]["matmul_tflops"]
    assert _finite(matmul["float32"]) and matmul["float32"] > 0
    for run in RUNS:
        for stage in STAGES:
            result = report["sections"][run][stage]
            assert result["steps"] >= 1, (run, stage)
            for key in ("step_seconds", "tokens_per_s", "positions_per_s", "tflops", "mfu_vs_matmul"):
                assert _finite(result[key]) and result[key] > 0, (run, stage, key, result[key])
            assert result["tokens_per_s"] <= result["positions_per_s"]
            assert result["mfu_vs_peak"] is None  # a CPU has no entry in the table of peaks
            memory = result["memory"]
            assert memory["null_reason"] == "no CUDA" and memory["peak_allocated_mib"] is None
            assert _finite(memory["estimate_mib"]) and memory["estimate_mib"] > 0


def test_the_smoke_students_are_the_published_architectures_narrowed(smoke, gpu_check):
    report = smoke[0]
    for run in RUNS:
        student = report["sections"][run]["student"]
        assert student["depth"] == 1 and student["narrowed"] == gpu_check.SMOKE_SHAPES[student["architecture"]]
    assert report["sections"]["flan-t5-large/bf16"]["student"]["build"].startswith("reused")
    # The presets' own settings stay: LoRA at App. A's ranks, gradient checkpointing.
    assert report["sections"]["flan-t5-large/float32"]["student"]["config"]["lora_rank"] == 128
    assert report["sections"]["llama-7b/bf16"]["student"]["config"]["lora_rank"] == 64
    assert all(report["sections"][run]["student"]["config"]["gradient_checkpointing"] for run in RUNS)


def test_no_training_step_has_a_nan_loss(smoke):
    report = smoke[0]
    assert report["checks"]["no_nan_loss"] is True
    for run in RUNS:
        for section in ("weigh", "distill"):
            losses = report["sections"][run][section]["losses"]
            assert losses and all(_finite(loss) for loss in losses), (run, section, losses)
        distill = report["sections"][run]["distill"]
        assert len(distill["losses"]) == distill["steps"]  # one per training step


def test_batched_generation_writes_what_each_prompt_alone_writes(smoke):
    report = smoke[0]
    for run, side in (("flan-t5-large/float32", "right"), ("llama-7b/bf16", "left")):
        generation = report["sections"][run]["generation"]
        assert generation["batch_equals_single"] is True, generation["differences"]
        assert generation["padding_side"] == side
        # Texts, not empty strings: equal empty strings would say nothing about the padding.
        assert generation["nonempty_texts"] == generation["prompts"] >= 2
        assert generation["distinct_texts"] >= 2


def test_the_overhead_arms_train_on_the_same_batches(smoke):
    report = smoke[0]
    for run in RUNS:
        overhead = report["sections"][run]["overhead"]
        assert overhead["same_batches"].startswith("checked")
        assert _finite(overhead["per_token_time_ratio_b_over_a"]) and overhead["per_token_time_ratio_b_over_a"] > 0
        assert overhead["losses_finite"] is True


# --- cut runs ---------------------------------------------------------------------------------------------


def test_a_run_cut_by_its_budget_leaves_valid_json_with_what_it_reached(tmp_path):
    out = tmp_path / "cut.json"
    done = _smoke(out, "--budget-s", "4", timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["status"] == "incomplete" and report["sections"]["device"]["status"] == "done"
    statuses = {(run, section): result["status"] for run in RUNS
                for section, result in report["sections"][run].items()}
    assert len(statuses) == len(RUNS) * len(SECTIONS)  # every section is accounted for
    assert all(s == "done" or s.startswith(("cut: time budget", "skipped: time budget", "skipped: needs"))
               for s in statuses.values()), statuses
    not_done = [key for key, status in statuses.items() if status != "done"]
    assert not_done and sorted(report["checks"]["sections_not_done"]) == sorted(f"{r}/{s}" for r, s in not_done)
    assert any(status.startswith(("cut: time budget", "skipped: time budget")) for status in statuses.values())


def test_a_killed_run_keeps_the_sections_it_had_finished(tmp_path):
    out = tmp_path / "killed.json"
    process = subprocess.Popen([sys.executable, str(SCRIPT), "--smoke", "--runs", "llama-7b/bf16", "--out", str(out)],
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        seen_while_running = None
        while time.monotonic() < deadline and process.poll() is None:
            if out.is_file():
                report = json.loads(out.read_text())  # written whole and renamed: never half a file
                if report["sections"].get("llama-7b/bf16", {}).get("student", {}).get("status") == "done":
                    seen_while_running = process.poll() is None
                    break
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert seen_while_running, "the student section was not in the file while the run went on"
    report = json.loads(out.read_text())
    assert report["sections"]["device"]["status"] == "done"
    assert report["sections"]["llama-7b/bf16"]["student"]["status"] == "done"


def test_without_cuda_it_refuses_unless_smoke(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the check would run")
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "x.json")], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "no CUDA device" in done.stderr and "--smoke" in done.stderr
    assert not (tmp_path / "x.json").exists()


# --- in this process: the FLOP count and the time limit ------------------------------------------------


def _toy_llama():
    from kpod_lite.families import family_of
    from kpod_lite.models.published import published_config

    config = published_config("huggyllama/llama-7b", 1)
    for key, value in {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_key_value_heads": 2,
                       "head_dim": 16, "vocab_size": 128}.items():
        setattr(config, key, value)
    torch.manual_seed(0)
    return family_of(config).model_class.from_config(config)


def test_flops_are_two_per_parameter_and_position_forward_and_six_for_a_full_training_step(gpu_check):
    model = _toy_llama()
    body = sum(p.numel() for name, p in model.model.named_parameters() if "embed_tokens" not in name)
    head = model.lm_head.weight.numel()
    ids = torch.randint(0, 128, (3, 7))
    mask = torch.ones(3, 7, dtype=torch.long)
    mask[0, :4] = 0  # left padding: 4 positions computed but no tokens
    meter = gpu_check.FlopMeter("cpu", steps="forward")
    with meter.on(model), torch.no_grad():
        model(input_ids=ids, attention_mask=mask)
    assert meter.flops == 2 * (body + head) * 21
    assert meter.steps[0]["positions"] == 21 and meter.steps[0]["tokens"] == 17 and meter.forwards == 1
    # Training every parameter: forward, input gradients, weight gradients.
    training = gpu_check.FlopMeter("cpu", steps="optimizer")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    with training.on(model):
        model(input_ids=ids, attention_mask=mask).logits.sum().backward()
        optimizer.step()
    assert training.steps[0]["flops"] == 6 * (body + head) * 21
    assert not model.lm_head._forward_pre_hooks  # detached


def test_a_frozen_base_gets_no_weight_gradient_flops_and_checkpointing_one_more_forward(gpu_check):
    model = _toy_llama()
    model.activation_checkpointing_enable()  # transformers 5's name of gradient_checkpointing_enable
    model.train()
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = model.model.layers[0].self_attn.q_proj.weight
    trainable.requires_grad_(True)
    body = sum(p.numel() for name, p in model.model.named_parameters() if "embed_tokens" not in name)
    head = model.lm_head.weight.numel()
    meter = gpu_check.FlopMeter("cpu", steps="forward")
    with meter.on(model):
        model(input_ids=torch.randint(0, 128, (2, 5)))
    positions = 10
    # body: forward + input gradients + recomputed forward, and its one trainable matrix's gradient
    assert meter.flops == 2 * body * positions * 3 + 2 * trainable.numel() * positions + 2 * head * positions * 2


def test_a_section_past_its_limit_is_cut_even_through_a_catch_all(gpu_check):
    budget = gpu_check.Budget(60)
    started = time.perf_counter()
    with pytest.raises(gpu_check.SectionCut):
        with budget.limit(0.2):
            try:
                time.sleep(10)
            except Exception:  # a library's catch-all must not swallow the cut
                pass
    assert time.perf_counter() - started < 5
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_known_peaks_by_device_name(gpu_check):
    assert gpu_check.peak_tflops("NVIDIA H100 80GB HBM3") == {"bf16": 989.0, "float32": 67.0}
    assert gpu_check.peak_tflops("NVIDIA H200") == {"bf16": 989.0, "float32": 67.0}
    assert gpu_check.peak_tflops("NVIDIA H100 PCIe")["bf16"] == 756.0
    assert gpu_check.peak_tflops("NVIDIA A100-SXM4-80GB") == {"bf16": 312.0, "float32": 19.5}
    assert gpu_check.peak_tflops("Tesla T4") is None
