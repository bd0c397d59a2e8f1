"""The published architectures as local student folders (`models.published.save_published`):
what benchmarks/real_architectures.py and flan_t5_large_full.py run every stage on.

A folder written here must load through the same path a hub checkpoint takes
(`models.load_student`: `from_pretrained`, safetensors), as the published class, with the
family's SentencePiece stand-in tokenizer (`models.standins`), and the family seam
(`kpod_lite.families`) must pick seq2seq for FlanT5 and causal for LLaMA from the folder's own
config. FlanT5-Large is built at depth 1 (full width, ~96M parameters); LLaMA-7B even at depth 1
is ~0.5B parameters (2 GB in float32), so its folder holds the config and the tokenizer only and
the model is built on the meta device.
"""

import shutil

import pytest
import torch
from transformers import LlamaForCausalLM, LlamaTokenizerFast, T5ForConditionalGeneration, T5TokenizerFast

from kpod_lite.config import preset
from kpod_lite.errors import ConfigError
from kpod_lite.families import CAUSAL, SEQ2SEQ
from kpod_lite.memory import estimate_memory, load_model_config, model_shape
from kpod_lite.models import load_student, load_tokenizer, student_family, student_input_embeddings
from kpod_lite.models.published import build_published, published_config, save_published
from kpod_lite.models.standins import standin_tokenizer_path


@pytest.fixture(scope="module")
def flan_t5_large_depth1(tmp_path_factory):
    return save_published("google/flan-t5-large", tmp_path_factory.mktemp("flan") / "student", depth=1)


def test_a_saved_flan_t5_large_loads_as_the_published_class_with_the_standin(flan_t5_large_depth1):
    folder = flan_t5_large_depth1
    assert (folder / "model.safetensors").is_file() and (folder / "spiece.model").is_file()
    cfg = preset("flan-t5-large", student=str(folder))
    assert student_family(cfg) is SEQ2SEQ
    model, tokenizer = load_student(cfg, device="cpu")
    assert isinstance(model, T5ForConditionalGeneration) and isinstance(tokenizer, T5TokenizerFast)
    # Full width (App. A: d_model 1024, d_ff 2816, 16 heads), one layer per stack.
    assert (model.config.d_model, model.config.d_ff, model.config.num_heads) == (1024, 2816, 16)
    assert (len(model.encoder.block), len(model.decoder.block)) == (1, 1)
    assert any(getattr(m, "gradient_checkpointing", False) for m in model.modules()), "the preset's checkpointing is on"
    # Every stand-in id indexes the published 32128-row table (the §3.3 Emb the weighter copies).
    assert student_input_embeddings(model).weight.shape == (32128, 1024)
    assert len(tokenizer) <= 32128
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id) == (model.config.pad_token_id, model.config.eos_token_id)
    # The saved weights are the seeded random build, exactly.
    reference = build_published("google/flan-t5-large", depth=1, seed=0)
    assert torch.equal(model.shared.weight, reference.shared.weight)
    assert torch.equal(model.decoder.block[0].layer[2].DenseReluDense.wo.weight,
                       reference.decoder.block[0].layer[2].DenseReluDense.wo.weight)


def test_a_saved_flan_t5_large_answers_a_stand_in_prompt(flan_t5_large_depth1):
    cfg = preset("flan-t5-large", student=str(flan_t5_large_depth1), max_new_tokens=3)
    model, tokenizer = load_student(cfg, device="cpu")
    model.eval()
    batch = tokenizer(["Q: Ben has 3 eggs and buys 4. How many eggs? A: Let's think step by step."],
                      return_tensors="pt")
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=cfg.max_new_tokens, do_sample=False)
    assert generated.shape[1] <= 1 + cfg.max_new_tokens and generated[0, 0] == model.config.decoder_start_token_id


def test_the_memory_estimate_reads_the_saved_folder_as_the_published_config(flan_t5_large_depth1):
    cfg = preset("flan-t5-large", student=str(flan_t5_large_depth1))
    from_folder = model_shape(load_model_config(cfg.student))
    assert from_folder == model_shape(published_config("google/flan-t5-large", depth=1))
    found = estimate_memory(cfg, load_model_config(cfg.student), device="cpu")
    model = build_published("google/flan-t5-large", depth=1)
    assert found["distill"].parts["weights"] == 4 * sum(p.numel() for p in model.parameters())


def test_a_llama_7b_folder_is_causal_with_the_llama_standin(tmp_path):
    folder = tmp_path / "llama"
    published_config("huggyllama/llama-7b", depth=1).save_pretrained(folder)  # config.json only: no 2 GB weights
    for item in standin_tokenizer_path("llama").iterdir():
        shutil.copy2(item, folder / item.name)
    cfg = preset("llama-7b", student=str(folder))
    assert student_family(cfg) is CAUSAL
    tokenizer = load_tokenizer(cfg)
    assert isinstance(tokenizer, LlamaTokenizerFast)
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == 2, "no pad in LLaMA: </s> pads (load_tokenizer)"
    config = load_model_config(cfg.student)
    assert (config.bos_token_id, config.eos_token_id) == (tokenizer.bos_token_id, tokenizer.eos_token_id)
    with torch.device("meta"):
        model = CAUSAL.model_class.from_config(config)
    assert isinstance(model, LlamaForCausalLM)
    assert model.get_input_embeddings().weight.shape == (32000, 4096) and len(tokenizer) <= 32000
    shape = model_shape(config)
    assert (shape.hidden, shape.ffn, shape.heads, shape.layers) == (4096, 11008, 32, 1)


def test_save_published_refuses_an_unknown_name(tmp_path):
    with pytest.raises(ConfigError, match="no published architecture named 'google/flan-t5-small'"):
        save_published("google/flan-t5-small", tmp_path / "x")
