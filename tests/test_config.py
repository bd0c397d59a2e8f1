"""KPODConfig: the paper's App. A defaults, the presets, and clear errors for bad values."""

import dataclasses

import pytest

from kpod_lite.config import PRESETS, ConfigError, KPODConfig, preset


def test_defaults_are_the_papers_appendix_a_values():
    cfg = KPODConfig()
    assert (cfg.alpha, cfg.beta, cfg.p, cfg.c0_fraction, cfg.n_clusters) == (0.5, 12.0, 0.5, 0.3, 5)
    assert (cfg.batch_size, cfg.epochs, cfg.lora_rank, cfg.learning_rate) == (4, 100, 128, 5e-5)
    assert cfg.stage_T == 50  # T is half the epochs (App. A)
    assert cfg.trust_remote_code is False


def test_presets_follow_appendix_a():
    assert set(PRESETS) == {"tiny", "flan-t5-large", "flan-t5-xl", "llama-7b"}
    large, llama = preset("flan-t5-large"), preset("llama-7b")
    assert (large.student, large.lora_rank, large.learning_rate, large.batch_size) == (
        "google/flan-t5-large", 128, 5e-5, 4)
    assert (llama.student_family, llama.lora_rank, llama.learning_rate, llama.epochs) == ("llama", 64, 1e-5, 20)
    assert llama.stage_T == 10


def test_preset_reads_the_environment_and_applies_overrides(monkeypatch):
    monkeypatch.setenv("KPOD_PRESET", "flan-t5-xl")
    assert preset().name == "flan-t5-xl"
    monkeypatch.delenv("KPOD_PRESET")
    cfg = preset(alpha=1.0)
    assert cfg.name == "tiny" and cfg.alpha == 1.0
    assert PRESETS["tiny"].alpha == 0.5, "overrides never change the shared preset"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"p": 0.0}, "p must be > 0"),
        ({"p": -1.0}, "p must be > 0"),
        ({"T": 0}, "T must be >= 1"),
        ({"epochs": 4, "T": 5}, "T must be <= epochs"),
        ({"c0_fraction": 1.5}, "c0_fraction"),
        ({"c0_fraction": -0.1}, "c0_fraction"),
        ({"alpha": -0.5}, "alpha must be >= 0"),
        ({"gumbel_temperature": 0.0}, "gumbel_temperature"),
        ({"teacher_temperature": -1.0}, "teacher_temperature"),
        ({"prefix_mode": "some"}, "prefix_mode"),
        ({"ftgp_eps": 0.5}, "ftgp_eps"),
    ],
)
def test_bad_values_are_clear_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        KPODConfig(**changes)
    with pytest.raises(ConfigError, match=message):
        preset("tiny", **changes)


def test_unknown_preset_and_unknown_field():
    with pytest.raises(ConfigError, match="unknown preset 'flan-t5-small'.*tiny"):
        preset("flan-t5-small")
    with pytest.raises(ConfigError, match="unknown KPODConfig field"):
        preset("tiny", alhpa=0.1)


def test_every_field_has_a_comment_citing_its_source():
    # House rule: every hyper-parameter says where its default comes from (App. A, an Eq., or ours).
    import inspect

    import kpod_lite.config as module

    source = inspect.getsource(module.KPODConfig)
    for f in dataclasses.fields(KPODConfig):
        line = next(l for l in source.splitlines() if l.strip().startswith(f"{f.name}:"))
        assert "#" in line or f.name == "extra", f"field {f.name} has no comment"


def test_command_line_settings_set_fields_or_extra_and_name_bad_values():
    from kpod_lite.config import with_settings

    cfg = with_settings(preset("tiny"), ["token_weight_floor=0", 'weighting_predictor="tiny-t5"', "epochs=3"])
    assert cfg.token_weight_floor == 0 and cfg.epochs == 3 and cfg.extra["weighting_predictor"] == "tiny-t5"
    assert cfg.extra["train_size"] == preset("tiny").extra["train_size"], "other extra settings stay"
    with pytest.raises(ConfigError, match="'weighting_predictor'.*not JSON"):
        with_settings(preset("tiny"), ["weighting_predictor=tiny-t5"])
    with pytest.raises(ConfigError, match="KEY=JSON"):
        with_settings(preset("tiny"), ["epochs"])
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        with_settings(preset("tiny"), ["epochs=0"])
