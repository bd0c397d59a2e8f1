"""Tests for kpod_lite.schedule: h_i (Eq. 9), D(t) (Eq. 10), the stages of Eq. 11, clusters."""

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpod_lite.config import preset
from kpod_lite.schedule import (
    Schedule,
    build_schedule,
    build_schedule_from_config,
    cluster_questions,
    embed_questions,
    growth_rate,
    load_glove,
    mean_word_embeddings,
    overall_difficulty,
    step_difficulty_sum,
    total_difficulty,
)

DIFFS = {"a": [1.0, 2.0, 3.0], "b": [4.0], "c": [0.5, 0.5, 1.0, 2.0], "d": [2.0, 0.0]}
LABELS = {"a": 0, "b": 1, "c": 0, "d": 2}


# --- Eq. 9-10 ---------------------------------------------------------------------------------


def test_h_is_the_sum_of_the_generated_steps_eq9():
    d = [1.0, 2.0, 3.0]
    assert [step_difficulty_sum(d, c) for c in range(4)] == [6.0, 5.0, 3.0, 0.0]
    with pytest.raises(ValueError):
        step_difficulty_sum(d, 4)
    assert total_difficulty(DIFFS) == 16.0  # B


def test_difficulty_curve_eq10():
    B, T, p = 100.0, 10, 0.5
    C0 = 0.3 * B
    u = growth_rate(B, C0, T, p)
    assert u == pytest.approx((B - C0) * 1.5 / 10**1.5)
    assert overall_difficulty(0, B, T, p, C0) == C0  # D(0) = C_0
    assert overall_difficulty(T, B, T, p, C0) == B  # D(T) = B, exactly
    assert overall_difficulty(4, B, T, p, C0) == pytest.approx(u * 4**1.5 / 1.5 + C0)
    assert overall_difficulty(3 * T, B, T, p, C0) == B  # App. B: flat after T
    D = [overall_difficulty(t, B, T, p, C0) for t in range(T + 1)]
    assert all(x < y for x, y in zip(D, D[1:]))
    # dD/dt = u t^p: the increments grow (p > 0, a convex curve)
    steps = np.diff(D)
    assert np.all(np.diff(steps) > 0)


# --- the stages of Eq. 11 --------------------------------------------------------------------


def h_total(difficulties, c):
    return math.fsum(step_difficulty_sum(d, c[i]) for i, d in difficulties.items())


def check_invariants(sched, difficulties, delta_s, initial):
    B = total_difficulty(difficulties)
    assert sched.D[sched.T] == B  # D(T) = B (Eq. 10)
    assert sched.D[0] == pytest.approx(sched.params["C0"])
    assert len(sched.stages) == sched.T + 1
    previous = dict(initial)
    for t, stage in enumerate(sched.stages):
        assert stage.t == t
        assert stage.delta_D == pytest.approx(sched.D[t] - h_total(difficulties, previous), abs=1e-9)
        moved = set()
        for i, c in stage.c.items():
            assert 0 <= c <= previous[i]  # never up, never below 0
            assert previous[i] - c in (0, min(delta_s, previous[i]))
            if c < previous[i]:
                moved.add(i)
        assert moved == set(stage.selected)
        if stage.selected:
            assert stage.delta_H <= stage.delta_D + 1e-9 * max(1.0, abs(stage.delta_D))
        actual = h_total(difficulties, stage.c) - h_total(difficulties, previous)
        assert stage.delta_H == pytest.approx(actual, abs=1e-9)
        previous = stage.c
    for epoch in range(sched.T, sched.T + 4):  # 0-based: epochs e = T+1, T+2, ... of Algorithm 1
        assert set(sched.input_steps(epoch).values()) == {0}  # "post-epoch T": complete rationales


@settings(max_examples=40, deadline=None)
@given(
    diffs=st.lists(st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=6),
                   min_size=1, max_size=25),
    labels=st.data(),
    epochs=st.integers(1, 12),
    delta_s=st.integers(1, 3),
    beta=st.sampled_from([0.0, 12.0]),
    c0=st.sampled_from([0.0, 0.3, 1.0]),
)
def test_schedule_invariants(diffs, labels, epochs, delta_s, beta, c0):
    difficulties = {i: d for i, d in enumerate(diffs)}
    clusters = {i: labels.draw(st.integers(0, 4)) for i in difficulties}
    sched = build_schedule(difficulties, clusters, epochs=epochs, delta_s=delta_s, beta=beta,
                           c0_fraction=c0)
    check_invariants(sched, difficulties, delta_s, {i: len(d) - 1 for i, d in difficulties.items()})
    # At stage T the budget B - Σh covers every possible move, so every candidate moves.
    if sched.T >= 1:
        before, last = sched.stages[sched.T - 1].c, sched.stages[sched.T].c
        assert all(last[i] == max(0, before[i] - delta_s) for i in difficulties)


def test_a_budget_below_zero_by_rounding_still_moves_zero_cost_steps():
    # Found by hypothesis: at T, ΔD = D(T) - Σh is 0 up to float rounding (here -8.9e-16);
    # the last step to give up costs 0, so it must still be given up (App. B: whole rationales).
    diffs = {0: [0.0, 1.3178624270816721, 3.6409599263264476, 0.5237297794877517]}
    sched = build_schedule(diffs, {0: 0}, epochs=1, delta_s=2, beta=0.0, c0_fraction=1.0)
    assert sched.stages[1].delta_D < 0
    assert sched.stages[0].c == {0: 1} and sched.stages[1].c == {0: 0}


def test_defaults_follow_app_a_and_stage0_reaches_c0():
    sched = build_schedule(DIFFS, LABELS, epochs=10)
    assert sched.T == 5 and sched.params["p"] == 0.5
    assert sched.params["C0"] == pytest.approx(0.3 * 16.0)
    # Start: last step only, Σh = 3 + 4 + 2 + 0 = 9 > C_0 = 4.8, so stage 0 selects nothing.
    assert sched.stages[0].delta_D == pytest.approx(4.8 - 9.0)
    assert sched.stages[0].selected == []
    assert sched.input_steps(0) == {"a": 2, "b": 0, "c": 3, "d": 1}


def test_stage0_selection_spends_c0_when_last_steps_are_easy():
    difficulties = {i: [5.0, 5.0, 5.0, 0.5] for i in range(10)}
    clusters = {i: i % 3 for i in difficulties}
    with_sel = build_schedule(difficulties, clusters, epochs=8, stage0_selection=True)
    without = build_schedule(difficulties, clusters, epochs=8, stage0_selection=False)
    # Σh(start) = 5 < C_0 = 0.3 * 155 = 46.5: stage 0 moves questions towards C_0.
    assert with_sel.stages[0].selected and not without.stages[0].selected
    assert with_sel.stages[0].delta_H <= with_sel.stages[0].delta_D
    assert set(without.input_steps(0).values()) == {3}


def test_single_step_rationales_and_configurable_start():
    sched = build_schedule({"x": [2.0], "y": [1.0, 1.0, 1.0]}, {"x": 0, "y": 0}, epochs=6)
    assert all(s.c["x"] == 0 and "x" not in s.selected for s in sched.stages)
    capped = build_schedule(DIFFS, LABELS, epochs=6, initial_input_steps=1, stage0_selection=False)
    assert capped.input_steps(0) == {"a": 1, "b": 0, "c": 1, "d": 1}
    given_ = build_schedule(DIFFS, LABELS, epochs=6, initial_input_steps={"a": 0},
                            stage0_selection=False)
    assert given_.input_steps(0)["a"] == 0 and given_.input_steps(0)["c"] == 3
    with pytest.raises(ValueError):
        build_schedule(DIFFS, LABELS, epochs=6, initial_input_steps={"a": 9})


def test_not_progressive_trains_full_rationales_always():
    sched = build_schedule(DIFFS, LABELS, epochs=10, progressive=False)
    assert sched.stages == [] and sched.D[-1] == 16.0
    assert all(set(sched.input_steps(e).values()) == {0} for e in range(10))


@pytest.mark.parametrize("ids", [["q1", "q2", "q3"], [3, 1, 2]])
def test_json_round_trip_keeps_ids(ids, tmp_path):
    difficulties = {i: [1.0, 2.0, 3.0] for i in ids}
    sched = build_schedule(difficulties, {i: 0 for i in ids}, epochs=6, meta={"embedding": "tfidf"})
    back = Schedule.from_json(sched.to_json())
    assert back == sched
    assert back.input_steps(2) == sched.input_steps(2) and set(back.input_steps(2)) == set(ids)
    assert Schedule.load(sched.save(tmp_path / "schedule.json")) == sched
    record = sched.to_dict()
    assert {"T", "D", "stages"} <= set(record)
    assert set(record["stages"][0]) == {"t", "delta_D", "delta_H", "selected", "c"}


def test_hand_written_record_without_ids():
    record = {"T": 1, "D": [1.0, 2.0], "stages": [
        {"t": 0, "delta_D": 0.0, "delta_H": 0.0, "selected": [], "c": {"a": 1}},
        {"t": 1, "delta_D": 1.0, "delta_H": 1.0, "selected": ["a"], "c": {"a": 0}}]}
    sched = Schedule.from_dict(record)
    assert sched.input_steps(0) == {"a": 1} and sched.input_steps(5) == {"a": 0}


def test_config_wiring_and_ablations():
    cfg = preset("tiny")
    sched = build_schedule_from_config(cfg, DIFFS, LABELS)
    assert sched.T == cfg.stage_T and sched.params["beta"] == cfg.beta
    assert build_schedule_from_config(cfg.replace(method="w.o.-div"), DIFFS, LABELS).params["beta"] == 0.0
    assert build_schedule_from_config(cfg.replace(method="w.o.-prog"), DIFFS, LABELS).stages == []


@pytest.mark.parametrize(
    "difficulties, clusters, kwargs",
    [
        ({"a": [1.0, -1.0]}, {"a": 0}, {}),
        ({"a": [1.0, float("nan")]}, {"a": 0}, {}),
        ({"a": []}, {"a": 0}, {}),
        ({"a": [1.0]}, {}, {}),  # no cluster label
        ({1: [1.0], "1": [2.0]}, {1: 0, "1": 0}, {}),  # ids collide as JSON keys
        ({"a": [1.0]}, {"a": 0}, {"T": 20}),  # T > epochs
        ({"a": [1.0]}, {"a": 0}, {"delta_s": 0}),
        ({"a": [1.0]}, {"a": 0}, {"p": 0.0}),
    ],
)
def test_bad_input_raises(difficulties, clusters, kwargs):
    with pytest.raises(ValueError):
        build_schedule(difficulties, clusters, epochs=10, **kwargs)


def test_negative_epoch_raises():
    with pytest.raises(ValueError):
        build_schedule(DIFFS, LABELS, epochs=4).input_steps(-1)


# --- question clusters -----------------------------------------------------------------------


def test_clusters_recover_separated_blobs_and_are_seeded():
    rng = np.random.default_rng(0)
    centres = np.eye(5) * 10
    X = np.concatenate([c + rng.normal(0, 0.1, (20, 5)) for c in centres])
    labels = cluster_questions(X, k=5, seed=0)
    assert all(len(set(labels[i * 20:(i + 1) * 20])) == 1 for i in range(5))
    assert len(set(labels)) == 5
    assert np.array_equal(labels, cluster_questions(X, k=5, seed=0))


def test_clusters_with_fewer_questions_than_k():
    assert cluster_questions(np.zeros((0, 3))).size == 0
    assert sorted(cluster_questions(np.eye(3), k=5)) == [0, 1, 2]
    assert set(cluster_questions(np.ones((4, 2)), k=5)) == {0}  # all alike: one cluster
    with pytest.raises(ValueError):
        cluster_questions(np.ones(3))


def test_glove_file_and_mean_embeddings(tmp_path):
    path = tmp_path / "glove.tiny.txt"
    path.write_text("apples 1 0 0\nhas 0 1 0\ntom 0 0 2\nunused 9 9 9\n")
    vectors = load_glove(path, vocab={"apples", "has", "tom"})
    assert set(vectors) == {"apples", "has", "tom"}
    X = mean_word_embeddings(["Tom has apples.", "zzz"], vectors)
    assert np.allclose(X[0], [1 / 3, 1 / 3, 2 / 3]) and np.allclose(X[1], 0)
    X2, source = embed_questions(["Tom has apples.", "zzz"], glove_path=path)
    assert source == "glove:glove.tiny.txt" and np.allclose(X2, X)
    bad = tmp_path / "bad.txt"
    bad.write_text("a 1 2\nb 1\n")
    with pytest.raises(ValueError):
        load_glove(bad)


def test_embedding_sources():
    questions = ["How many apples?", "How many pears?", "A train leaves at noon."]
    X, source = embed_questions(questions)
    assert source == "tfidf" and X.shape[0] == 3
    given_, source = embed_questions(questions, embeddings=np.ones((3, 4)))
    assert source == "given" and given_.shape == (3, 4)
    with pytest.raises(ValueError):
        embed_questions(questions, embeddings=np.ones((2, 4)))


def test_every_teacher_sample_is_its_own_schedule_item_eq9_eq10(tmp_path):
    """Two rationales of one question (teacher_samples = 2) are both trained on, so both count in
    h_i and B (Eq. 9-10) and each gets its own c_i(t); their question text is shared."""
    from kpod_lite.data import DataFormatError, write_jsonl
    from kpod_lite.schedule import schedule_file

    records = [{"id": "q1", "sample": 0, "difficulty": [1.0, 2.0]},
               {"id": "q1", "sample": 1, "difficulty": [1.0, 2.0, 3.0, 4.0]},
               {"id": "q2", "sample": 0, "difficulty": [5.0]}]
    write_jsonl(tmp_path / "difficulty.jsonl", records)
    write_jsonl(tmp_path / "questions.jsonl", [{"id": "q1", "question": "How many apples?"},
                                               {"id": "q2", "question": "How many pears?"}])
    built = schedule_file(tmp_path / "difficulty.jsonl", tmp_path / "questions.jsonl", tmp_path / "schedule.json",
                          preset("tiny", epochs=4, n_clusters=2))
    assert sorted(built.ids) == ["q1", "q1#1", "q2"]
    assert built.params["B"] == 18.0, "B sums the steps of every sample (3 + 10 + 5)"
    assert built.stages[0].c["q1#1"] in range(0, 4) and built.stages[0].c["q1"] in range(0, 2)
    write_jsonl(tmp_path / "twice.jsonl", records + records[:1])
    with pytest.raises(DataFormatError, match="a second difficulty record for 'q1'"):
        schedule_file(tmp_path / "twice.jsonl", tmp_path / "questions.jsonl", tmp_path / "s.json", preset("tiny"))


@pytest.mark.parametrize("edit, field", [
    (lambda r: r["stages"][1]["c"].pop(next(iter(r["stages"][1]["c"]))), "stages[1].c"),
    (lambda r: r["stages"][0]["c"].update({next(iter(r["stages"][0]["c"])): -2}), "stages[0].c"),
    (lambda r: r["stages"][0]["c"].update({next(iter(r["stages"][0]["c"])): "two"}), "stages[0].c"),
    (lambda r: r.pop("T"), "'T'"),
    (lambda r: r.update(stages=r["stages"][:1]), "'stages'"),
    (lambda r: r["stages"][1]["c"].update({k: v + 1 for k, v in r["stages"][0]["c"].items()}), "grows"),
])
def test_a_hand_edited_schedule_is_refused_naming_the_field(tmp_path, edit, field):
    import json

    from kpod_lite.data import DataFormatError

    record = build_schedule(DIFFS, LABELS, epochs=10).to_dict()
    edit(record)
    (tmp_path / "schedule.json").write_text(json.dumps(record))
    with pytest.raises(DataFormatError, match=rf"schedule.json.*{re.escape(field)}.*rebuild it"):
        Schedule.load(tmp_path / "schedule.json")


def test_a_cut_or_misplaced_schedule_file_is_named(tmp_path):
    from kpod_lite.data import DataFormatError

    (tmp_path / "schedule.json").write_text(build_schedule(DIFFS, LABELS, epochs=10).to_json()[:200])
    with pytest.raises(DataFormatError, match="schedule.json.*not a whole JSON schedule"):
        Schedule.load(tmp_path / "schedule.json")
    with pytest.raises(DataFormatError, match="is a directory"):
        Schedule.load(tmp_path)


# --- Algorithm 1: which epochs train which stage ------------------------------------------------------


@pytest.mark.parametrize("epochs, T", [(2, 1), (3, 1), (6, 3), (8, 4), (7, 2), (20, 10), (5, 5)])
def test_algorithm_1_trains_epochs_1_to_T_progressively_and_the_rest_whole(epochs, T):
    # "if e <= T: c_i(t) by Eq. 11", else c_i = 0: epoch e (counted from 1) takes stage e - 1.
    difficulties = {i: [1.0] * (2 + i % 4) for i in range(12)}
    sched = build_schedule(difficulties, {i: i % 3 for i in difficulties}, epochs=epochs, T=T,
                           initial_input_steps=None)
    assert sched.params["progressive_epochs"] == T
    for e in range(1, epochs + 1):
        expected = sched.stages[e - 1].c if e <= T else {i: 0 for i in difficulties}
        assert sched.input_steps(e - 1) == expected, f"epoch {e} of {epochs}, T = {T}"
    # Stage 0 gives input steps (the schedule starts easy), so epoch 1 is not a whole-rationale one.
    assert any(sched.input_steps(0).values())
    whole = sum(not any(sched.input_steps(e - 1).values()) for e in range(1, epochs + 1))
    assert whole >= epochs - T


def test_a_schedule_made_before_algorithm_1s_mapping_is_refused(tmp_path):
    sched = build_schedule(DIFFS, LABELS, epochs=4)
    record = sched.to_dict()
    del record["params"]["progressive_epochs"]  # as kpod-lite wrote schedules before
    path = tmp_path / "schedule.json"
    path.write_text(__import__("json").dumps(record))
    with pytest.raises(Exception, match=r"schedule\.json.*progressive_epochs.*epoch T \+ 1 still trained stage T.*--force"):
        Schedule.load(path)
    assert Schedule.load(sched.save(tmp_path / "new.json")).input_steps(sched.T) == {i: 0 for i in DIFFS}


def test_a_run_folder_with_such_a_schedule_trains_no_student_from_it(tmp_path, capsys):
    import json

    from kpod_lite import cli, thread

    run = thread.extend(tmp_path / "run")  # the tiny preset's run folder, every stage up to the schedule
    path = run / "schedule.json"
    record = json.loads(path.read_text())
    del record["params"]["progressive_epochs"]
    path.write_text(json.dumps(record))
    assert cli.main(["run", "--preset", "tiny", "--methods", "kpod", "--no-progress", "--out", str(run)]) == 2
    err = capsys.readouterr().err
    assert "schedule.json: field 'params.progressive_epochs': missing" in err and "--force" in err
    assert "Traceback" not in err and not (run / "students" / "kpod").exists()
