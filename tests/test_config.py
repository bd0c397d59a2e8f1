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
    assert set(PRESETS) == {"tiny", "colab", "flan-t5-large", "flan-t5-xl", "llama-7b", "colab-rehearsal",
                            "llama-7b-rehearsal"}
    large, llama = preset("flan-t5-large"), preset("llama-7b")
    assert (large.student, large.lora_rank, large.learning_rate, large.batch_size) == (
        "google/flan-t5-large", 128, 5e-5, 4)
    assert (llama.lora_rank, llama.learning_rate, llama.epochs) == (64, 1e-5, 20)
    assert llama.stage_T == 10
    # The colab preset is FlanT5-Large as App. A has it, on less data for fewer epochs.
    colab = preset("colab")
    assert (colab.student, colab.lora_rank, colab.learning_rate, colab.batch_size) == (
        large.student, large.lora_rank, large.learning_rate, large.batch_size)
    assert (colab.teacher, colab.train_file, colab.epochs, colab.stage_T) == ("released", "mcckd-svamp:train", 6, 3)


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
    with pytest.raises(ConfigError, match="unknown setting 'alhpa'.*did you mean 'alpha'"):
        preset("tiny", alhpa=0.1)
    with pytest.raises(ConfigError, match="did you mean 'alpha'"):
        preset("tiny").replace(alhpa=0.1)


def test_every_field_has_a_comment_citing_its_source():
    # House rule: every hyper-parameter says where its default comes from (App. A, an Eq., or ours).
    import inspect

    import kpod_lite.config as module

    source = inspect.getsource(module.KPODConfig)
    for f in dataclasses.fields(KPODConfig):
        line = next(l for l in source.splitlines() if l.strip().startswith(f"{f.name}:"))
        assert "#" in line, f"field {f.name} has no comment"


def test_command_line_settings_set_typed_fields_and_name_bad_values():
    from kpod_lite.config import with_settings

    cfg = with_settings(preset("tiny"), ["token_weight_floor=0", 'weighting_predictor="tiny-t5"', "epochs=3"])
    assert cfg.token_weight_floor == 0 and cfg.epochs == 3 and cfg.weighting_predictor == "tiny-t5"
    assert cfg.train_size == preset("tiny").train_size, "other settings stay"
    with pytest.raises(ConfigError, match="'weighting_predictor'.*not JSON"):
        with_settings(preset("tiny"), ["weighting_predictor=tiny-t5"])
    with pytest.raises(ConfigError, match="KEY=JSON"):
        with_settings(preset("tiny"), ["epochs"])
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        with_settings(preset("tiny"), ["epochs=0"])


@pytest.mark.parametrize("setting,message", [
    ("epochs=2.7", "'epochs' takes int"),
    ("epochs=true", "'epochs' takes int"),
    ("student=5", "'student' takes str"),
    ("beta=NaN", "'beta' must be a finite number"),
    ("alpha=Infinity", "'alpha' must be a finite number"),
    ("lora_rank=-4", "lora_rank must be >= 1"),
    ("max_new_tokens=-1", "max_new_tokens must be >= 1"),
    ("max_source_length=0", "max_source_length must be >= 1"),
    ("weighting_epochs=-1", "weighting_epochs must be >= 0"),
    ('seed="abc"', "'seed' takes int"),
    ("weighting_predictor_warmup=10", "did you mean 'weighting_predictor_warmup_steps'"),
    ("synthetic.max_step=3", "did you mean 'max_steps'"),
    ('method="kpod-cl"', "method must be one of"),
    ("ood=5", "'ood' takes a list"),
])
def test_every_setting_is_typed_and_checked(setting, message):
    from kpod_lite.config import with_settings

    with pytest.raises(ConfigError, match=message):
        with_settings(preset("tiny"), [setting])


def test_settings_apply_in_order_and_reach_groups():
    from kpod_lite.config import with_settings

    cfg = with_settings(preset("tiny"), ["epochs=5", "alpha=0.1", "synthetic.max_steps=4"])
    assert (cfg.epochs, cfg.alpha, cfg.synthetic.max_steps) == (5, 0.1, 4)
    assert cfg.synthetic.ops == preset("tiny").synthetic.ops, "the other fields of the group stay"
    cfg = with_settings(preset("tiny"), ['lora_target_modules=["q", "k", "v"]', 'ood=[{"name": "x", "file": "q.jsonl"}]'])
    assert cfg.lora_target_modules == ("q", "k", "v") and cfg.ood[0].file == "q.jsonl"


def test_presets_cannot_be_changed_through_a_returned_config():
    cfg = preset("tiny")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.epochs = 3  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.synthetic.max_steps = 9  # type: ignore[misc]
    assert isinstance(cfg.ood, tuple) and not any(isinstance(v, (dict, list)) for v in vars(cfg).values())
    assert preset("tiny") == cfg


def test_a_config_round_trips_through_json():
    import json

    cfg = preset("tiny")
    assert KPODConfig(**json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_removed_settings_say_what_replaced_them():
    from kpod_lite.config import with_settings

    with pytest.raises(ConfigError, match="'progressive'.*no longer exists.*method=\"w.o.-prog\""):
        preset("tiny", progressive=False)
    with pytest.raises(ConfigError, match="'student_family'.*read off the student's model config"):
        with_settings(preset("tiny"), ['student_family="t5"'])
    with pytest.raises(ConfigError, match="'extra'.*typed fields"):
        preset("tiny").replace(extra={})


def test_ood_sets_change_the_runs_own_task():
    from kpod_lite.config import with_settings

    cfg = with_settings(preset("tiny"), ["synthetic.max_operand=20"])
    four_steps = {s.name: s for s in cfg.ood}["four-steps"].task(cfg.synthetic)
    assert (four_steps.min_steps, four_steps.max_operand, four_steps.ops) == (4, 20, ("+", "-"))
    cfg = with_settings(preset("tiny"), ['ood=[{"name": "long", "synthetic": {"max_steps": 5}}]'])
    assert cfg.ood[0].task(cfg.synthetic) == dataclasses.replace(preset("tiny").synthetic, max_steps=5)
    with pytest.raises(ConfigError, match="OOD set 'short'.*max_steps"):
        with_settings(preset("tiny"), ['ood=[{"name": "short", "synthetic": {"max_steps": 1}}]'])


@pytest.mark.parametrize("rehearsal, original", [("colab-rehearsal", "colab"), ("llama-7b-rehearsal", "llama-7b")])
def test_a_rehearsal_changes_only_sizes_data_and_the_student_of_its_gpu_preset(rehearsal, original):
    # The code path must be the GPU preset's: every switch that picks a path (LoRA and its rank,
    # checkpointing, bf16 where the GPU has it, the prefix mode, the method, the floor) is the same.
    sizes = {"name", "student", "dataset", "data_format", "teacher", "train_file", "test_file", "train_size",
             "epochs", "weighting_epochs", "weighting_predictor_warmup_steps", "max_source_length",
             "max_target_length", "max_new_tokens", "eval_batch_size"}
    a, b = preset(rehearsal).to_dict(), preset(original).to_dict()
    assert {key for key in a if a[key] != b[key]} <= sizes
    assert preset(rehearsal).student.startswith("rehearsal-") and preset(rehearsal).teacher == "released"
