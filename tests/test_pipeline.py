"""The end-to-end pipeline (App. B, Algorithm 1): the tiny task, the ablation inputs, the results table."""

import csv
import io
import json
import re

import pytest
import torch

import dataclasses

from kpod_lite import cli, data, pipeline, synthetic
from kpod_lite.config import preset


def test_tiny_questions_follow_the_calibrated_task_and_the_ood_sets_differ(tmp_path):
    cfg = preset("tiny")
    paths = pipeline.stage_questions(cfg, tmp_path)
    train = [r for _, r in data.read_jsonl(paths["train"])]
    assert len(train) == cfg.train_size
    expected = synthetic.generate_dataset(len(train) + cfg.test_size, seed=cfg.seed, config=cfg.synthetic)
    assert [r["question"] for r in train] == [p.question for p in expected[:len(train)]]
    for record in train:
        program = record["meta"]["program"]
        assert 2 <= len(program) <= 3 and {step["op"] for step in program} <= {"+", "-"}
        assert all(o["given"] <= 9 for step in program for o in step["operands"] if "given" in o)
    four = [r for _, r in data.read_jsonl(paths["ood"]["four-steps"])]
    assert four and all(len(r["meta"]["program"]) == 4 for r in four)
    distractors = [r for _, r in data.read_jsonl(paths["ood"]["distractors"])]
    irrelevant = [re.compile(re.escape(t).replace(r"\{name\}", r"\w+").replace(r"\{n\}", r"\d+"))
                  for t in synthetic.DISTRACTORS]
    assert distractors and all(any(p.search(r["question"]) for p in irrelevant) for r in distractors)
    assert not any(any(p.search(r["question"]) for p in irrelevant) for r in train)
    sets = [train, [r for _, r in data.read_jsonl(paths["test"])], four, distractors]
    questions = [r["question"] for records in sets for r in records]
    assert len(questions) == len(set(questions)), "no question is in two sets"


def _write_eval(directory, accuracies: dict[str, float]) -> None:
    directory.mkdir(parents=True)
    (directory / "eval.json").write_text(json.dumps(
        {name: {"accuracy": value, "no_answer": 0, "questions": 10} for name, value in accuracies.items()}))


def test_results_table_is_mean_and_sample_std_over_seeds(tmp_path):
    _write_eval(tmp_path / "students" / "before", {"test": 0.1, "ood-x": 0.0})
    _write_eval(pipeline.student_dir(tmp_path, "kpod", 0), {"test": 0.2, "ood-x": 0.5})
    _write_eval(pipeline.student_dir(tmp_path, "kpod", 1), {"test": 0.4, "ood-x": 0.5})
    rows = pipeline.results_table(tmp_path, ["kpod"], [0, 1, 2])
    assert [r["method"] for r in rows] == ["before", "kpod"], "no teacher row without its eval.json"
    kpod = rows[1]
    assert kpod["seeds"] == 2, "a seed without a result is not counted"
    assert kpod["test_mean"] == 30.0 and kpod["test_std"] == pytest.approx(14.14, abs=0.01)
    assert kpod["ood-x_mean"] == 50.0 and kpod["ood-x_std"] == 0.0 and kpod["test_per_seed"] == [20.0, 40.0]
    markdown = pipeline.table_markdown(rows)
    assert "| KPOD (Eq. 15) | 2 | 30.0 ± 14.1 | 50.0 ± 0.0 |" in markdown
    parsed = list(csv.DictReader(io.StringIO(pipeline.table_csv(rows))))
    assert parsed[1]["test_mean"] == "30.0" and parsed[0]["method"] == "before"
    assert parsed[1]["test_per_seed"] == "20.0 40.0"


def test_the_whole_pipeline_runs_its_ablations_and_reuses_what_it_finished(tmp_path):
    cfg = preset("tiny")
    cfg = cfg.replace(epochs=2, weighting_epochs=1, max_new_tokens=16, train_size=16, validation_size=0, test_size=4,
                      weighting_predictor_warmup_steps=4,
                      ood=tuple(dataclasses.replace(spec, size=3) for spec in cfg.ood))
    methods = ("plain-cot", "kpod", "w.o.-sig-dif", "w.o.-div")
    table = pipeline.run(cfg, tmp_path, methods=methods, seeds=[0, 1])

    # Each ablation trained on its own inputs (w.o.-sig-dif: unweighted Eq. 8; w.o.-div: beta = 0).
    for name in ("weights.jsonl", "difficulty.jsonl", "difficulty.w.o.-sig-dif.jsonl", "schedule.json",
                 "schedule.w.o.-sig-dif.json", "schedule.w.o.-div.json"):
        assert (tmp_path / name).exists(), name
    weighted = {r["id"]: r["difficulty"] for _, r in data.read_jsonl(tmp_path / "difficulty.jsonl")}
    unweighted = {r["id"]: r["difficulty"] for _, r in data.read_jsonl(tmp_path / "difficulty.w.o.-sig-dif.jsonl")}
    assert weighted.keys() == unweighted.keys() and weighted != unweighted
    histories = {m: json.loads((pipeline.student_dir(tmp_path, m, 0) / "history.json").read_text())
                 for m in methods}
    assert histories["plain-cot"]["token_weights"] is False and histories["plain-cot"]["progressive"] is False
    assert histories["kpod"]["token_weights"] is True and histories["kpod"]["progressive"] is True

    written = json.loads((tmp_path / "results" / "results.json").read_text())
    rows = written["rows"]
    assert written["config"] == json.loads(json.dumps(cfg.to_dict())) and written["provenance"]["torch"] == torch.__version__
    assert len(written["provenance"]["commit"] or "0" * 40) == 40  # None only outside a git checkout
    assert [r["method"] for r in rows] == ["teacher", "before", *methods]
    assert rows[0]["test_mean"] == 100.0, "the template teacher answers its own questions"
    assert all(r["seeds"] == 2 for r in rows[2:]) and {"test_mean", "ood-four-steps_mean"} <= rows[2].keys()
    assert "KPOD w.o.-div" in table and (tmp_path / "results" / "results.md").read_text().endswith(table)
    for figure in ("accuracy.png", "training_loss.png", "curriculum.png"):
        assert (tmp_path / "results" / "figures" / figure).read_bytes()[:4] == b"\x89PNG"
    histories = json.loads((tmp_path / "results" / "histories.json").read_text())
    assert set(histories) == set(methods) and all(len(runs) == 2 and len(runs[0]) == 2 for runs in histories.values())
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert set(summary["seconds_by_stage"]) == set(pipeline.STAGES)
    assert 0 < summary["keypoint_auroc_vs_filler"] <= 1
    # The tiny preset's limits fit its data: no stage of any student cut an input or a target.
    assert summary["inputs_cut_most_in_a_stage"] == 0 and summary["targets_cut_most_in_a_stage"] == 0

    model = pipeline.student_dir(tmp_path, "kpod", 1) / "model" / "model.safetensors"
    stamp = model.stat().st_mtime_ns
    assert pipeline.run(cfg, tmp_path, methods=methods, seeds=[0, 1]) == table
    assert model.stat().st_mtime_ns == stamp, "a finished student is not trained again"


@pytest.mark.parametrize("argv, message", [
    (["run", "--seeds", "0"], "argument --seeds: must be >= 1"),
    (["run", "--methods", "kpod", "distil-everything"], "unknown distillation method 'distil-everything'"),
])
def test_run_command_rejects_bad_options_in_one_line(tmp_path, capsys, argv, message):
    try:
        code = cli.main(argv + ["--out", str(tmp_path / "run")])
    except SystemExit as exited:  # argparse refuses a bad number itself, after its usage line
        code = exited.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and err.strip().splitlines()[-1].startswith("kpod-lite run: error: ")
    assert "Traceback" not in err


def test_several_teacher_samples_flow_through_every_stage(tmp_path):
    cfg = preset("tiny").replace(train_size=8, validation_size=0, test_size=2, ood=(), epochs=2, weighting_epochs=1,
                                 weighting_predictor_warmup_steps=2, teacher_samples=2, teacher_temperature=0.7)
    pipeline.run(cfg, tmp_path, stages=("distill",))
    rationales = [r for _, r in data.read_jsonl(tmp_path / "rationales.jsonl")]  # the correct ones (§3.1)
    n = len(rationales)
    assert len({r["id"] for r in rationales if r["sample"] == 1} & {r["id"] for r in rationales if r["sample"] == 0})
    for name in ("weights.jsonl", "difficulty.jsonl"):
        assert len(list(data.read_jsonl(tmp_path / name))) == n, f"{name} keeps every sample"
    schedule = json.loads((tmp_path / "schedule.json").read_text())
    assert sorted(schedule["stages"][0]["c"]) == sorted(data.rationale_name(r) for r in rationales)
    history = json.loads((pipeline.student_dir(tmp_path, "kpod", 0) / "history.json").read_text())["history"]
    assert history[0]["target_tokens"] > 0 and len(history) == 2


def test_the_summary_reports_the_most_a_length_limit_cut(tmp_path):
    for method, cuts in (("kpod", [0.0, 0.25]), ("plain-cot", [0.5])):
        folder = pipeline.student_dir(tmp_path, method, 0)
        folder.mkdir(parents=True)
        rows = [{"stage": i, "truncated_inputs": cut, "truncated_targets": cut / 5} for i, cut in enumerate(cuts)]
        (folder / "history.json").write_text(json.dumps({"history": rows}))
    summary = pipeline.results.summarise(tmp_path)
    assert summary["inputs_cut_most_in_a_stage"] == 0.5 and summary["targets_cut_most_in_a_stage"] == 0.1


def test_every_long_stage_shows_a_progress_bar(tmp_path, capsys):
    cfg = preset("tiny").replace(train_size=8, validation_size=0, test_size=2, ood=(), epochs=2, weighting_epochs=1,
                                 weighting_predictor_warmup_steps=2, max_new_tokens=8)
    pipeline.run(cfg, tmp_path, progress=True)
    err = capsys.readouterr().err
    for bar in ("teacher template", "token weighting (Eq. 7)", "step difficulty (Eq. 8)", "generating"):
        assert re.search(re.escape(bar) + r".*100%", err), f"no finished bar for {bar!r}"
    assert re.search(r"\d+/\d+ \[\d+:\d+<\d+:\d+", err), "bars show elapsed<remaining (the ETA)"
