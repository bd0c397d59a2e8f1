"""The controls for Eq. 15's scale (`kpod_lite.methods.CONTROLS`): every token at the mean of the
learned weights, with KPOD's schedule (kpod-uniform) and without (w.o.-prog-uniform)."""

import json

import pytest

from kpod_lite import data, models
from kpod_lite.config import preset
from kpod_lite.methods import CONTROLS, METHODS
from kpod_lite.pipeline import stages
from kpod_lite.weighting import uniform_weight_file


def test_uniform_weights_are_the_token_mean_of_the_learned_ones(tmp_path):
    learned = [{"id": "a", "tokens": [5, 6, 7], "offsets": [[0, 1], [1, 2], [2, 3]], "weights": [0.0, 0.3, 0.9]},
               {"id": "b", "tokens": [8], "offsets": [[0, 1]], "weights": [0.2]}]
    data.write_jsonl(tmp_path / "weights.jsonl", learned)
    report = uniform_weight_file(tmp_path / "weights.jsonl", tmp_path / "weights.uniform.jsonl")
    out = [r for _, r in data.read_jsonl(tmp_path / "weights.uniform.jsonl")]
    assert report == {"rationales": 2, "tokens": 4, "mean_weight": 0.35}  # (0 + 0.3 + 0.9 + 0.2) / 4, per token
    assert [r["weights"] for r in out] == [[pytest.approx(0.35)] * 3, [pytest.approx(0.35)]]
    assert [(r["id"], r["tokens"], r["offsets"]) for r in out] == [(r["id"], r["tokens"], r["offsets"]) for r in learned]
    data.write_jsonl(tmp_path / "empty.jsonl", [])
    with pytest.raises(data.DataFormatError, match="no token weights"):
        uniform_weight_file(tmp_path / "empty.jsonl", tmp_path / "out.jsonl")


def test_the_controls_change_only_eq_15s_weights():
    kpod, wo_prog = METHODS["kpod"], METHODS["w.o.-prog"]
    uniform, wo_prog_uniform = (METHODS[name] for name in CONTROLS)
    assert uniform.weights_file == wo_prog_uniform.weights_file == "weights.uniform.jsonl"
    assert (uniform.difficulty_file, uniform.schedule_file, uniform.difficulty_weights_file) == (
        kpod.difficulty_file, kpod.schedule_file, "weights.jsonl")
    assert (wo_prog_uniform.progressive, wo_prog_uniform.schedule_file) == (wo_prog.progressive, None)


def test_kpods_difficulty_is_made_from_the_learned_weights_whichever_method_comes_first(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(models, "load_student", lambda cfg: (None, None))
    monkeypatch.setattr("kpod_lite.difficulty.difficulty_file",
                        lambda rationales, weights, out, cfg, **kw: made.append((weights.name, out.name)))
    stages.stage_difficulty(preset("tiny"), tmp_path, ("kpod-uniform", "kpod"))
    assert made == [("weights.jsonl", "difficulty.jsonl")]
