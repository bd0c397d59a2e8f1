"""kpod_lite.gpu_time: the arithmetic behind the README's "Which preset on which GPU" hours."""

import pytest

from kpod_lite import gpu_time
from kpod_lite.config import preset
from kpod_lite.memory import GiB, estimate_memory, model_shape
from kpod_lite.models.published import published_config

T4 = gpu_time.GPUS["T4"]


def _hours(cfg, data=gpu_time.SVAMP, gpu=T4):
    parameters = model_shape(published_config(cfg.student)).parameters
    return gpu_time.estimate_hours(cfg, parameters, data, gpu)


def test_distillation_time_grows_with_epochs_and_questions():
    cfg = preset("colab")
    base = _hours(cfg)["distill"]
    assert _hours(cfg.replace(epochs=12))["distill"] == pytest.approx(2 * base)
    assert _hours(cfg.replace(train_size=400))["distill"] == pytest.approx(2 * base)
    assert _hours(cfg.replace(lora=False))["distill"] > base, "a full fine-tune's backward costs more"


def test_a_gpu_without_bfloat16_computes_in_float32():
    cfg = preset("colab")
    assert T4.peak_tflops(cfg) == T4.fp32_tflops and T4.bytes_per_parameter(cfg) == 4
    a100 = gpu_time.GPUS["A100"]
    assert a100.peak_tflops(cfg) == a100.bf16_tflops and a100.peak_tflops(cfg.replace(bf16=False)) == a100.fp32_tflops


def test_the_colab_preset_fits_a_t4_and_finishes_within_the_hour_by_the_estimates():
    """What the preset's comment and the README claim, from the same two estimators."""
    cfg = preset("colab")
    assert _hours(cfg)["total"] < 1.0
    estimates = estimate_memory(cfg, published_config(cfg.student), bf16=False)
    assert max(e.total for e in estimates.values()) < (T4.memory_mib / 1024 - 0.5) * GiB
