"""kpod_lite.gpu_time.plan: what a GPU run still needs, and its estimated hours and memory per GPU."""

import pytest

from kpod_lite import gpu_time
from kpod_lite.config import ConfigError, preset
from kpod_lite.gpu_time.plan import accuracy_noise, format_span, gpu_key


def test_the_colab_preset_needs_nothing_and_the_paper_presets_name_what_to_set(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    gpu_time.check_ready(preset("colab"))  # released rationales: no key, no DATASET
    have, need = gpu_time.needs(preset("flan-t5-large"))
    assert any(n.startswith("DATASET") for n in need) and any(n.startswith("TEACHER") for n in need)
    with pytest.raises(ConfigError, match="DATASET"):
        gpu_time.check_ready(preset("flan-t5-large"))
    gpu_time.check_ready(preset("flan-t5-large").replace(train_file="mcckd-gsm8k:train", test_file="mcckd-gsm8k:test",
                                                          teacher="released"))


def test_the_plan_is_estimate_hours_and_estimate_memory_per_gpu():
    cfg = preset("colab")
    plan = gpu_time.run_plan(cfg, gpus=("T4", "A100"))
    from kpod_lite.memory import estimate_memory
    from kpod_lite.models.published import published_config

    arch = published_config(cfg.student)
    hours = gpu_time.estimate_hours(cfg, plan.parameters, gpu_time.SVAMP, gpu_time.GPUS["T4"], model_config=arch)
    t4 = plan.on("T4")
    assert t4.hours == (hours["low"], hours["high"]) and t4.hours[0] < t4.hours[1]
    assert t4.peak_bytes == max(e.total for e in estimate_memory(cfg, arch, bf16=False).values())
    assert t4.precision == "float32" and plan.on("A100").precision == "bf16"  # a T4 has no native bf16
    assert plan.download_bytes == plan.parameters * 4  # FlanT5's checkpoints are float32
    assert plan.train_questions == cfg.train_size and "T4 16 GB" in str(plan)


def test_a_student_too_large_for_the_gpu_is_said_not_to_fit():
    plan = gpu_time.run_plan(preset("llama-7b"), gpus=("T4", "A100"))
    assert not plan.on("T4").fits and plan.on("A100").fits
    assert "does not fit" in str(plan)


def test_a_locally_built_student_downloads_nothing():
    assert gpu_time.run_plan(preset("colab-rehearsal"), gpus=("T4",)).download_bytes == 0


def test_helpers():
    assert format_span(0.4, 0.9) == "24-54 min" and format_span(0.5, 1.5) == "30 min-1.5 h"
    assert format_span(9.2, 34.4) == "9-34 h"
    assert gpu_key("Tesla T4") == "T4" and gpu_key("NVIDIA GeForce RTX 3090") == "RTX3090"
    assert gpu_key("NVIDIA A100-SXM4-40GB") == "A100" and gpu_key("NVIDIA L40S") is None
    one, difference = accuracy_noise(100)
    assert one == pytest.approx(5.0) and difference == pytest.approx(5.0 * 2 ** 0.5)
