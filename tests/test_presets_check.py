"""kpod_lite.presets_check: a preset's per-family settings (App. A: FlanT5 lr 5e-5 and LoRA r 128,
LLaMA-7B lr 1e-5 and r 64, and the mask-learning batch) are refused for a student of the other
family, before any stage runs; the message names what to change."""

import logging

import pytest
from transformers import LlamaConfig, T5Config

from kpod_lite import presets_check
from kpod_lite.config import preset
from kpod_lite.errors import ConfigError


@pytest.fixture
def llama_folder(tmp_path):
    """A local LLaMA checkpoint as a user names it in notebook 06 (its config is all that is read)."""
    LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
                vocab_size=100).save_pretrained(tmp_path / "llama")
    return str(tmp_path / "llama")


def test_a_llama_under_the_colab_preset_is_refused_naming_the_settings_and_the_llama_preset(llama_folder):
    with pytest.raises(ConfigError) as error:
        presets_check.check_student_family(preset("colab", student=llama_folder))
    message = str(error.value)
    assert "preset 'colab'" in message and "is causal" in message and "seq2seq" in message
    assert "learning_rate=5e-05, lora_rank=128, lora_alpha=256, weighting_batch_size=None" in message
    assert "Use preset 'llama-7b'" in message
    assert "learning_rate=1e-05, lora_rank=64, lora_alpha=128, weighting_batch_size=1" in message, "what llama-7b uses"
    assert "name='my-run'" in message, "how to keep the values on purpose"


def test_a_flan_t5_under_the_llama_preset_is_refused_too():
    # A published id: its architecture is known here, nothing is downloaded.
    with pytest.raises(ConfigError, match=r"preset 'llama-7b'.*is seq2seq.*Use preset 'flan-t5-large'"):
        presets_check.check_student_family(preset("llama-7b", student="google/flan-t5-xl"))


def test_only_the_settings_still_at_the_presets_values_are_named(llama_folder):
    cfg = preset("colab", student=llama_folder, learning_rate=1e-5, lora_rank=64, lora_alpha=128)
    with pytest.raises(ConfigError) as error:
        presets_check.check_student_family(cfg)
    assert "weighting_batch_size=None is still the preset's" in str(error.value)
    assert "lora_rank" not in str(error.value).split("Use preset")[0]
    presets_check.check_student_family(cfg.replace(weighting_batch_size=1))  # all set for LLaMA: accepted


def test_what_is_not_checked(llama_folder, tmp_path):
    T5Config(d_model=64, d_ff=128, num_layers=1, num_heads=2, vocab_size=100).save_pretrained(tmp_path / "t5")
    presets_check.check_student_family(preset("colab", student=str(tmp_path / "t5")))  # the same family
    presets_check.check_student_family(preset("colab"))  # the preset's own student
    presets_check.check_student_family(preset("colab").replace(name="my-run", student=llama_folder))  # the user's
    presets_check.check_student_family(preset("tiny", student="tiny-t5"))  # tiny: calibrated for both families


def test_a_student_whose_config_cannot_be_read_is_not_checked_and_says_so(monkeypatch, caplog):
    def offline(name, trust_remote_code=False):
        raise OSError(f"We couldn't connect to 'https://huggingface.co' to load the files of {name}")

    monkeypatch.setattr("kpod_lite.memory.load_model_config", offline)
    with caplog.at_level(logging.WARNING, logger="kpod_lite.presets_check"):
        presets_check.check_student_family(preset("colab", student="someone/llama-7b-hf"))
    assert "someone/llama-7b-hf" in caplog.text and "not checked" in caplog.text


def test_the_presets_made_for_each_family_need_no_download(monkeypatch):
    monkeypatch.setattr("transformers.AutoConfig.from_pretrained", pytest.fail)
    assert presets_check.presets_for_family("causal")[0] == "llama-7b"
    assert presets_check.presets_for_family("seq2seq")[0] == "flan-t5-large"
    assert "tiny" not in presets_check.presets_for_family("causal")


def test_pipeline_run_refuses_a_changed_family_before_touching_the_run_folder(tmp_path):
    from kpod_lite import pipeline
    from kpod_lite.config import preset
    from kpod_lite.errors import ConfigError

    cfg = preset("colab-rehearsal").replace(student="rehearsal-llama-7b")  # FlanT5's settings on a LLaMA
    with pytest.raises(ConfigError, match="learning_rate.*llama-7b-rehearsal|llama-7b"):
        pipeline.run(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()
