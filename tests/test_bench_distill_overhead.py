"""Tests for benchmarks/bench_distill_overhead.py: the GPU architectures it builds have the
sizes of App. A's students (checked on the configs; built only shrunk), and a minimal run of
the two arms trains on identical batches, with Eq. 15 at weight 1 equal to the model's own loss."""

import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import bench_distill_overhead as bench  # noqa: E402
from kpod_lite.config import preset  # noqa: E402
from kpod_lite.models import load_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def tokenizers():
    return {family: load_tokenizer(preset("tiny", student=name))
            for family, name in (("t5", "tiny-t5"), ("llama", "tiny-llama"))}


def test_full_size_configs_are_flan_t5_large_and_llama_7b(tokenizers):
    t5 = bench.arch_config("flan-t5-large-arch", tokenizers["t5"])
    assert (t5.vocab_size, t5.d_model, t5.num_layers, t5.num_decoder_layers, t5.num_heads, t5.d_kv, t5.d_ff) == (
        32128, 1024, 24, 24, 16, 64, 2816)
    assert t5.is_gated_act and t5.dense_act_fn == "gelu_new"
    llama = bench.arch_config("llama-7b-arch", tokenizers["llama"])
    assert (llama.vocab_size, llama.hidden_size, llama.num_hidden_layers, llama.num_attention_heads,
            llama.intermediate_size) == (32000, 4096, 32, 32, 11008)


@pytest.mark.parametrize("name,family", [("flan-t5-large-arch", "t5"), ("llama-7b-arch", "llama")])
def test_shrunk_architectures_build_and_run_on_tiny_token_ids(tokenizers, name, family):
    tokenizer = tokenizers[family]
    shrink = ({"d_model": 32, "num_layers": 1, "num_decoder_layers": 1, "num_heads": 2, "d_kv": 16, "d_ff": 64}
              if family == "t5" else
              {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
               "intermediate_size": 64})
    model = bench.build_arch_model(name, tokenizer, "cpu", seed=3, **shrink)
    again = bench.build_arch_model(name, tokenizer, "cpu", seed=3, **shrink)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    if family == "t5":  # its own output layer, as FlanT5's checkpoints have
        assert model.lm_head.weight.data_ptr() != model.shared.weight.data_ptr()
    ids = torch.tensor([tokenizer("Q: 2 + 3?")["input_ids"]])
    labels = torch.tensor([tokenizer("5")["input_ids"]]) if family == "t5" else ids
    out = model(input_ids=ids, labels=labels)
    assert out.logits.shape[-1] == model.config.vocab_size >= len(tokenizer)
    assert torch.isfinite(out.loss)


@pytest.fixture
def one_thread():
    """One torch thread while training (two threads on a busy 2-core machine are far slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_a_minimal_run_compares_identical_batches(tmp_path, one_thread):
    options = bench.argparse.Namespace(batch_size=2, steps=2, repeats=1, lora=False, lora_rank=8, bf16=False,
                                       device="cpu", seed=0)
    records = bench.rationale_records(2, tmp_path)
    for name in ("tiny-t5", "tiny-llama"):
        result = bench.bench_model(name, options, records, tmp_path)
        assert result["same_batches_checked"]  # bench_model raises otherwise
        assert result["epochs"] == 2 and result["target_tokens_per_run"] > 0
        assert result["per_token_time_ratio_b_over_a"]["cpu"]["median"] > 0
        # KPODTrainer.compute_loss with every weight 1 is the model's own mean cross-entropy.
        assert result["micro"]["loss"]["max_abs_diff_all_weights_1_vs_model_ce"] < 1e-4
