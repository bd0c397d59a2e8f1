"""kpod_lite.stats: paired differences of two methods with two-level bootstrap intervals."""

import json

import numpy as np
import pytest

from kpod_lite import stats
from kpod_lite.pipeline.results import student_dir


def test_identical_methods_differ_by_nothing():
    rng = np.random.default_rng(1)
    table = (rng.random((5, 400)) < 0.4).astype(float)
    result = stats.paired_bootstrap(table, table.copy(), resamples=2000)
    assert result["difference"] == 0 and result["interval"] == (0.0, 0.0)
    low, high = result["interval_a"]
    assert low < result["accuracy_a"] < high


def test_a_uniformly_better_method_gets_an_interval_above_zero():
    rng = np.random.default_rng(2)
    a = (rng.random((5, 500)) < 0.3).astype(float)
    b = np.maximum(a, (rng.random((5, 500)) < 0.2))  # right wherever a is, and on some more
    result = stats.paired_bootstrap(a, b, resamples=2000)
    assert result["difference"] > 0 and result["interval"][0] > 0


def test_with_one_seed_the_interval_matches_the_normal_approximation():
    """One seed: the bootstrap of a mean of paired differences has the textbook width 1.96 sd / sqrt(n)."""
    rng = np.random.default_rng(3)
    a = (rng.random((1, 2000)) < 0.5).astype(float)
    b = (rng.random((1, 2000)) < 0.55).astype(float)
    result = stats.paired_bootstrap(a, b, resamples=4000)
    d = (b - a)[0] * 100
    half = 1.96 * d.std(ddof=1) / np.sqrt(d.size)
    low, high = result["interval"]
    assert (high - low) / 2 == pytest.approx(half, rel=0.1)
    assert (low + high) / 2 == pytest.approx(d.mean(), abs=0.5)


def test_the_bonferroni_interval_has_the_normal_width_at_its_level():
    """K comparisons: the adjusted interval is the (1 - 0.05/K) one, z = 2.734 for K = 8."""
    rng = np.random.default_rng(4)
    a = (rng.random((1, 2000)) < 0.5).astype(float)
    b = (rng.random((1, 2000)) < 0.55).astype(float)
    result = stats.paired_bootstrap(a, b, resamples=20000, comparisons=8)
    d = (b - a)[0] * 100
    low, high = result["interval_adjusted"]
    assert (high - low) / 2 == pytest.approx(2.734 * d.std(ddof=1) / np.sqrt(d.size), rel=0.1)
    assert low < result["interval"][0] and high > result["interval"][1]
    assert "interval_adjusted" not in stats.paired_bootstrap(a, b, resamples=100)


def test_a_run_folder_is_compared_by_question_id_and_seed(tmp_path, capsys):
    for method, right in (("plain-cot", {"q1", "q2"}), ("kpod", {"q1", "q2", "q3"})):
        for seed in (0, 1):
            folder = student_dir(tmp_path, method, seed)
            folder.mkdir(parents=True)
            ids = ["q1", "q2", "q3", "q4"] if seed == 0 else ["q4", "q3", "q2", "q1"]  # any order
            lines = [json.dumps({"id": q, "correct": q in right}) for q in ids]
            (folder / "test.predictions.jsonl").write_text("\n".join(lines) + "\n")
    assert stats.main([str(tmp_path), "plain-cot", "kpod", "--seeds", "2"]) == 0
    out = capsys.readouterr().out
    assert "kpod 75.0% vs plain-cot 50.0% (2 seeds x 4 questions); difference +25.0 points" in out
    with pytest.raises(FileNotFoundError, match="no predictions for plain-cot seed 2"):
        stats.compare(tmp_path, "plain-cot", "kpod", [0, 1, 2])


def test_methods_are_paired_by_question_id_and_a_run_seed_is_honoured(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"seed": 3}))
    for method, ids, right in (("plain-cot", ["q1", "q2"], {"q1"}), ("kpod", ["q2", "q1"], {"q2"})):
        folder = student_dir(tmp_path, method, 3)
        folder.mkdir(parents=True)
        lines = [json.dumps({"id": q, "correct": q in right}) for q in ids]
        (folder / "test.predictions.jsonl").write_text("\n".join(lines) + "\n")
    assert stats.run_seeds(tmp_path, 1) == [3]
    result = stats.compare(tmp_path, "plain-cot", "kpod", [3])
    assert result.per_seed_difference == (0.0,)  # q1 lost, q2 won: by id, not by line
    (student_dir(tmp_path, "kpod", 3) / "test.predictions.jsonl").write_text(json.dumps({"id": "q9", "correct": 1}) + "\n")
    with pytest.raises(ValueError, match="other questions than the first student's"):
        stats.compare(tmp_path, "plain-cot", "kpod", [3])


def test_an_exported_table_gives_the_same_comparison_as_the_run_folder(tmp_path, capsys):
    rng = np.random.default_rng(5)
    ids = [f"q{i}" for i in range(30)]
    for method in ("plain-cot", "kpod"):
        for seed in (0, 1, 2):
            folder = student_dir(tmp_path, method, seed)
            folder.mkdir(parents=True)
            lines = [json.dumps({"id": q, "correct": bool(rng.random() < 0.5)}) for q in ids]
            (folder / "test.predictions.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "correct.json"
    assert stats.main([str(tmp_path), "--seeds", "3", "--export", str(out), "--methods", "plain-cot", "kpod"]) == 0
    table = json.loads(out.read_text())
    assert table["questions"]["test"] == ids and len(table["correct"]["kpod"]["test"]) == 3
    direct = stats.compare(tmp_path, "plain-cot", "kpod", [0, 1, 2], resamples=500)
    shipped = stats.paired_bootstrap(stats.read_correctness(table, "plain-cot"), stats.read_correctness(table, "kpod"),
                                     resamples=500)
    assert shipped["interval"] == direct.interval and shipped["difference"] == direct.difference
    with pytest.raises(SystemExit):
        stats.main([str(tmp_path), "--seeds", "3"])


def test_the_two_by_two_shares_its_draws_with_the_paired_comparisons():
    """Weights x schedule (kpod, w.o.-prog and their uniform-weight controls): each simple effect
    is the paired comparison of its two methods, draw for draw, and an effect present only with
    the schedule shows as an interaction whose interval excludes 0."""
    rng = np.random.default_rng(3)
    base = (rng.random((5, 400)) < 0.5).astype(float)
    better = np.maximum(base, (rng.random((5, 400)) < 0.3).astype(float))  # about 15 points more
    correct = {"kpod": better, "w.o.-prog": base.copy(), "kpod-uniform": base.copy(), "w.o.-prog-uniform": base.copy()}
    result = stats.weights_by_schedule(correct, resamples=2000)
    effects = result["effects"]
    with_schedule = effects["weights, schedule on (kpod - kpod-uniform)"]
    assert with_schedule["interval"] == stats.paired_bootstrap(correct["kpod-uniform"], correct["kpod"],
                                                               resamples=2000)["interval"]
    assert with_schedule["interval"][0] > 0
    assert effects["weights, schedule off (w.o.-prog - w.o.-prog-uniform)"]["difference"] == 0
    interaction = effects["interaction (weights with schedule - without)"]
    assert interaction["difference"] == with_schedule["difference"] and interaction["interval"][0] > 0
