"""The split answered after every epoch (`epoch_eval_split`): the number of epochs is chosen on a
validation curve, so the test set never takes part in the choice."""

import pytest

from kpod_lite.config import ConfigError, preset
from kpod_lite.pipeline.stages import _epoch_eval_file, stage_questions


def test_the_validation_split_is_answered_when_asked_and_refused_when_missing(tmp_path):
    cfg = preset("tiny", train_size=8, validation_size=6, test_size=4, ood=(), epoch_eval_size=5,
                 epoch_eval_split="validation")
    stage_questions(cfg, tmp_path)
    assert _epoch_eval_file(cfg, tmp_path) == tmp_path / "questions" / "validation.jsonl"
    assert _epoch_eval_file(cfg.replace(epoch_eval_split="test"), tmp_path).name == "test.jsonl"
    (tmp_path / "questions" / "validation.jsonl").unlink()  # a benchmark file run has no validation split
    with pytest.raises(ConfigError, match="epoch_eval_split 'validation'.*no validation.jsonl"):
        _epoch_eval_file(cfg, tmp_path)
    with pytest.raises(ConfigError, match="epoch_eval_split"):
        preset("tiny", epoch_eval_split="train")
