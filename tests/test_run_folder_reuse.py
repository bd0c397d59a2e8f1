"""A run folder reuses what a changed setting does not touch and refuses what it does
(`kpod_lite.pipeline.made`)."""

import dataclasses
import json

import pytest

from kpod_lite import pipeline
from kpod_lite.config import ConfigError, KPODConfig, preset
from kpod_lite.pipeline import made


def _small(**changes):
    return preset("tiny").replace(train_size=8, validation_size=0, test_size=2, ood=(), epochs=2, weighting_epochs=1,
                                  weighting_predictor_warmup_steps=2, max_new_tokens=8, **changes)


def test_every_setting_says_which_stage_first_reads_it():
    fields = {f.name for f in dataclasses.fields(KPODConfig)}
    assert set(made.FIRST_READ) | made.NEUTRAL == fields, "a new setting must be placed in made.FIRST_READ"
    assert set(made.FIRST_READ.values()) <= set(made.STAGES) and made.STAGES == pipeline.STAGES


def test_a_setting_no_finished_stage_read_is_taken_and_recorded(tmp_path):
    cfg = _small()
    pipeline.run(cfg, tmp_path, stages=("weigh",))
    weights = (tmp_path / "weights.jsonl").read_bytes()
    # epochs and the learning rate are read from the schedule on: nothing made yet read them.
    later = cfg.replace(epochs=3, learning_rate=1e-3, epoch_eval_size=1)
    pipeline.run(later, tmp_path, stages=("schedule",))
    written = json.loads((tmp_path / "config.json").read_text())
    assert written["epochs"] == 3 and written["learning_rate"] == 1e-3, "config.json says what made every stage"
    assert (tmp_path / "weights.jsonl").read_bytes() == weights, "the weights were reused"
    assert json.loads((tmp_path / "schedule.json").read_text())["params"]["epochs"] == 3


def test_a_setting_a_finished_stage_read_is_refused_naming_both(tmp_path):
    cfg = _small()
    pipeline.run(cfg, tmp_path, stages=("weigh",))
    before = (tmp_path / "config.json").read_text()
    with pytest.raises(ConfigError, match=r"its weigh stage was made with alpha=0\.5.*asks for 2\.0.*--force"):
        pipeline.run(cfg.replace(alpha=2.0), tmp_path, stages=("weigh",))
    with pytest.raises(ConfigError, match=r"its questions stage was made with test_size=2"):
        pipeline.run(cfg.replace(test_size=3), tmp_path, stages=("questions",))
    assert (tmp_path / "config.json").read_text() == before, "config.json never claims what was not run"
    pipeline.run(cfg.replace(alpha=2.0), tmp_path, force=True, stages=("weigh",))
    assert json.loads((tmp_path / "config.json").read_text())["alpha"] == 2.0
    # A folder made before a setting existed: the setting's default is what made it.
    written = json.loads((tmp_path / "config.json").read_text())
    del written["teacher_max_attempts"]
    (tmp_path / "config.json").write_text(json.dumps(written))
    pipeline.run(cfg.replace(alpha=2.0), tmp_path, stages=("weigh",))
    with pytest.raises(ConfigError, match="teacher_max_attempts"):
        pipeline.run(cfg.replace(alpha=2.0, teacher_max_attempts=2), tmp_path, stages=("weigh",))


def test_an_input_edited_after_a_stage_used_it_is_refused(tmp_path):
    cfg = _small()
    pipeline.run(cfg, tmp_path, stages=("difficulty",))
    records = json.loads((tmp_path / "stages.json").read_text())
    assert set(records) == {"teach", "weigh", "difficulty"}
    assert "rationales.jsonl" in records["weigh"]["inputs"] and "weights.jsonl" in records["difficulty"]["inputs"]
    path = tmp_path / "rationales.jsonl"
    path.write_text(path.read_text().replace('"rationale": "', '"rationale": "Well. ', 1))
    with pytest.raises(ConfigError, match=r"rationales\.jsonl changed after the weigh stage was made from it"):
        pipeline.run(cfg, tmp_path, stages=("schedule",))


def test_the_default_method_and_the_name_are_read_by_no_stage(tmp_path):
    cfg = _small()
    pipeline.run(cfg, tmp_path, stages=("schedule",))
    pipeline.run(cfg.replace(method="plain-cot", name="renamed"), tmp_path, stages=("schedule",))
    assert json.loads((tmp_path / "config.json").read_text())["method"] == "plain-cot"
