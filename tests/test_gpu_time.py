"""kpod_lite.gpu_time: the arithmetic behind the README's "Which preset on which GPU" hours."""

import importlib.util
import math
from pathlib import Path

import pytest

from kpod_lite import gpu_time
from kpod_lite.config import preset
from kpod_lite.memory import ANSWER_TOKENS, TRIGGER_TOKENS, GiB, estimate_memory, load_model_config, model_shape
from kpod_lite.models.published import published_config

T4, H200 = gpu_time.GPUS["T4"], gpu_time.GPUS["H200"]
ROOT = Path(__file__).resolve().parents[1]


def _hours(cfg, data=gpu_time.SVAMP, gpu=T4):
    model_config = published_config(cfg.student)
    return gpu_time.estimate_hours(cfg, model_shape(model_config).parameters, data, gpu, model_config=model_config)


def _shape(name="google/flan-t5-large"):
    return model_shape(published_config(name))


def _benchmark():
    spec = importlib.util.spec_from_file_location("gpu_presets", ROOT / "benchmarks" / "gpu_presets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- FLOPs per token: encoder, decoder and lm_head apart ------------------------------------------------


def test_a_t5_token_costs_the_weights_of_its_own_stack_not_2p():
    shape = _shape()
    flops = gpu_time.token_flops(shape)
    embeddings = shape.vocab * shape.hidden  # the shared input table: a lookup, no FLOPs
    # Every matmul weight is counted once: encoder + cross-attention keys/values, decoder, lm_head.
    assert (flops.source + flops.target + flops.head) / 2 == pytest.approx(shape.parameters - embeddings, rel=1e-3)
    # So a source token costs less than half of 2P, and a target token (cross-attention, lm_head) more
    # than a source token: 2P per token each, as before, counted every weight twice.
    assert flops.source < flops.target + flops.head < shape.parameters
    one_each = gpu_time.forward_flops(flops, rows=1, source=1, target=1)
    assert one_each < 0.55 * (2 * 2 * shape.parameters)


def test_a_causal_token_meets_every_layer_and_the_head():
    shape = _shape("huggyllama/llama-7b")
    flops = gpu_time.token_flops(shape)
    assert not flops.seq2seq and flops.source == 0
    assert (flops.target + flops.head) / 2 == pytest.approx(shape.parameters - shape.vocab * shape.hidden, rel=1e-3)
    # source and target are one sequence: moving a token from one to the other changes nothing
    assert gpu_time.forward_flops(flops, 2, 100, 50) == gpu_time.forward_flops(flops, 2, 50, 100)


def test_attention_scores_grow_with_the_square_of_the_length():
    flops = gpu_time.token_flops(_shape())
    short, long = (gpu_time.forward_flops(flops, 1, n, 0) / n for n in (64, 512))
    assert long > short  # per token, more keys to score
    # ~8% of an encoder token at 512 keys (the module docstring's figure)
    assert 0.05 < flops.score * flops.encoder_layers * 512 / flops.source < 0.12


def test_a_training_step_is_three_forwards_two_with_lora_plus_one_recomputed():
    cfg = preset("flan-t5-large")
    assert gpu_time.training_passes(cfg.replace(lora=False, gradient_checkpointing=False)) == 3
    assert gpu_time.training_passes(cfg.replace(lora=False, gradient_checkpointing=True)) == 4
    assert gpu_time.training_passes(cfg.replace(gradient_checkpointing=False)) == 2
    assert gpu_time.training_passes(cfg) == 3


# --- padding: a batch costs its longest row ------------------------------------------------------------


def test_expected_longest_is_the_mean_for_one_row_and_grows_with_the_batch_up_to_the_cap():
    assert gpu_time.expected_longest(100, 1) == pytest.approx(100, rel=1e-3)
    four, sixteen = gpu_time.expected_longest(100, 4), gpu_time.expected_longest(100, 16)
    assert 100 < four < sixteen
    assert gpu_time.expected_longest(100, 16, cap=120) <= 120
    assert gpu_time.expected_longest(100, 4, sigma=0) == 100


def test_mask_learning_rows_are_padded_to_the_longest_question_and_whole_rationale():
    """prefix_mode "steps": every row of a step is as long as its longest, not question + half a rationale."""
    cfg = preset("flan-t5-large", weighting_max_tokens=100_000)  # no rationale cut
    shape, data = _shape(), gpu_time.GSM8K
    flops = gpu_time.token_flops(shape)

    def per_row(weighting_batch_size):
        c = cfg.replace(weighting_batch_size=weighting_batch_size)
        epochs = gpu_time.stage_work(c, shape, data, T4)["weigh"][1]
        return epochs.flops / (weighting_batch_size * data.steps_per_rationale)

    question = data.question_tokens + gpu_time.PROMPT_TOKENS
    whole = gpu_time.training_passes(cfg) * gpu_time.forward_flops(
        flops, 1, question + data.rationale_tokens + TRIGGER_TOKENS, ANSWER_TOKENS, ANSWER_TOKENS)
    assert per_row(1) == pytest.approx(whole, rel=0.02)  # one rationale: its rows at its own length
    assert per_row(8) > per_row(4) > 1.2 * per_row(1)  # more rationales a step: a longer longest


def test_distillation_pads_each_batch_to_its_longest_target():
    cfg = preset("flan-t5-large")
    shape = _shape()
    small, large = (gpu_time.stage_work(cfg.replace(batch_size=b), shape, gpu_time.GSM8K, T4)["distill"][0]
                    for b in (1, 8))
    assert large.flops / 8 > 1.2 * small.flops


# --- lengths: SVAMP's words as FlanT5 tokens --------------------------------------------------------------


def test_svamp_rationales_are_words_converted_at_a_stated_tokens_per_word():
    assert gpu_time.SVAMP.rationale_tokens == pytest.approx(gpu_time.SVAMP_RATIONALE_WORDS * gpu_time.TOKENS_PER_WORD)
    assert gpu_time.SVAMP.rationale_tokens > 88.7  # words are fewer than tokens
    assert gpu_time.GSM8K.rationale_tokens == pytest.approx(1.7 * gpu_time.SVAMP.rationale_tokens)


def test_tokens_per_word_lies_between_the_english_rule_and_the_over_splitting_stand_in():
    measured = _benchmark().tokens_per_word()
    assert measured["standin_vocabulary"] < 32100  # why the stand-in over-splits
    assert 1.3 <= gpu_time.TOKENS_PER_WORD <= measured["standin"]
    assert gpu_time.TOKENS_PER_WORD == pytest.approx(measured["plain_words_whole"], abs=0.05)


# --- generation: a batch runs until its longest row stops -------------------------------------------------


def test_a_generation_batch_costs_its_longest_row_capped_by_max_new_tokens():
    cfg, shape, data = preset("colab", max_new_tokens=100_000), _shape(), gpu_time.SVAMP
    evaluations = 3

    def tokens_per_batch(c):
        work = gpu_time.stage_work(c, shape, data, T4)["evaluate"][0]
        return work.steps / (evaluations * math.ceil(data.test_questions / c.generation_batch_size))

    one = tokens_per_batch(cfg.replace(eval_batch_size=1))
    assert one == pytest.approx(data.rationale_tokens + TRIGGER_TOKENS + ANSWER_TOKENS, rel=0.02)
    assert tokens_per_batch(cfg.replace(eval_batch_size=16)) > 1.5 * one
    assert tokens_per_batch(cfg.replace(eval_batch_size=16, max_new_tokens=60)) == pytest.approx(60, rel=0.01)


def test_a_seq2seq_generated_token_reads_the_decoder_and_head_not_the_encoder():
    shape = _shape()
    flops = gpu_time.token_flops(shape)
    assert flops.decoder_weights == pytest.approx((flops.target + flops.head) / 2)
    assert flops.decoder_weights < 0.6 * shape.parameters


# --- fixed costs -----------------------------------------------------------------------------------------


def test_install_download_and_a_load_per_stage_are_counted_once():
    cfg = preset("colab")
    hours = _hours(cfg)
    checkpoint = _shape().parameters * 4  # FlanT5's released checkpoints are float32: ~3.1 GB
    assert 3.0e9 < checkpoint < 3.3e9
    loads = 2 + 2 + 3  # weigh, difficulty, two distillations, three evaluations
    expected = (gpu_time.INSTALL_SECONDS + checkpoint / gpu_time.DOWNLOAD_BYTES_PER_SECOND
                + loads * checkpoint / gpu_time.LOAD_BYTES_PER_SECOND) / 3600
    assert hours["fixed"] == pytest.approx(expected)
    stages = ("weigh", "difficulty", "distill", "evaluate", "fixed")
    assert hours["total"] == pytest.approx(sum(hours[stage] for stage in stages))
    # the same fixed cost however many epochs
    assert _hours(cfg.replace(epochs=12))["fixed"] == hours["fixed"]


# --- ranges, and the launch floor --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["colab", "flan-t5-large", "llama-7b"])
def test_every_estimate_is_a_range_with_the_central_figure_inside(name):
    cfg = preset(name)
    data = gpu_time.SVAMP if name == "colab" else gpu_time.GSM8K
    for gpu in gpu_time.GPUS.values():
        hours = _hours(cfg, data, gpu)
        assert hours["low"] < hours["total"] < hours["high"]
        for stage, (low, high) in hours["ranges"].items():
            assert low <= hours[stage] <= high, stage


def test_a_tiny_model_at_batch_4_on_an_h200_is_bound_by_kernel_launches():
    cfg = preset("tiny").replace(batch_size=4)
    model_config = load_model_config(cfg.student)
    shape = model_shape(model_config)
    hours = gpu_time.estimate_hours(cfg, shape.parameters, gpu_time.SVAMP, H200, model_config=model_config)
    assert hours["dominant"] == "launches" and hours["bound"]["distill"] == "launches"
    work = gpu_time.stage_work(cfg, shape, gpu_time.SVAMP, H200)["distill"][0]
    launches = work.kernels * gpu_time.CENTRAL.kernel_seconds
    assert launches > 10 * work.flops / (H200.peak_tflops(cfg) * 1e12 * gpu_time.CENTRAL.mfu)
    assert hours["distill"] == pytest.approx(work.steps * launches / 3600)
    # the launch time per kernel is then what the range spans
    low, high = hours["ranges"]["distill"]
    assert high / low == pytest.approx(gpu_time.HIGH.kernel_seconds / gpu_time.LOW.kernel_seconds)


def test_a_7b_model_on_a_t4_is_bound_by_arithmetic_and_its_range_is_the_mfu_range():
    hours = _hours(preset("llama-7b"), gpu_time.GSM8K, T4)
    assert hours["dominant"] == "MFU" and hours["bound"]["distill"] == "MFU"
    low, high = hours["ranges"]["distill"]
    assert high / low == pytest.approx(gpu_time.LOW.mfu / gpu_time.HIGH.mfu)


def test_flan_t5_large_on_an_a100_is_slower_than_its_flops_alone_say():
    cfg = preset("flan-t5-large")
    a100 = gpu_time.GPUS["A100"]
    shape = _shape()
    work = gpu_time.stage_work(cfg, shape, gpu_time.GSM8K, a100)["distill"][0]
    flops_only = work.steps * work.flops / (a100.peak_tflops(cfg) * 1e12 * gpu_time.CENTRAL.mfu) / 3600
    assert _hours(cfg, gpu_time.GSM8K, a100)["distill"] > 1.5 * flops_only


def test_the_kernel_counts_are_what_the_benchmark_counts():
    bench = _benchmark()
    one, two = (bench.count_kernels("flan-t5-large", "train_checkpointed", depth) for depth in (1, 2))
    assert gpu_time.KERNELS[True].train_checkpointed == (two - one, 2 * one - two)


# --- what the README and the presets claim ------------------------------------------------------------------


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
    """What the preset's comment and the README claim, from the same two estimators: even the slow end."""
    cfg = preset("colab")
    assert _hours(cfg)["high"] < 1.0
    estimates = estimate_memory(cfg, published_config(cfg.student), bf16=False)
    assert max(e.total for e in estimates.values()) < (T4.memory_mib / 1024 - 0.5) * GiB


def test_the_notebook_call_without_a_model_config_reads_the_published_one():
    cfg = preset("colab")
    parameters = _shape().parameters
    assert gpu_time.estimate_hours(cfg, parameters, gpu_time.SVAMP, T4)["total"] == pytest.approx(_hours(cfg)["total"])
