"""The `kpod-lite` command line and the run folder of `pipeline.run` (App. B)."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kpod_lite import cli, data, pipeline, synthetic, templates
from kpod_lite.config import ConfigError, preset

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"


def test_synth_command_writes_the_three_splits(tmp_path, capsys):
    assert cli.main(["synth", "--out", str(tmp_path), "--train", "12", "--validation", "3", "--test", "4"]) == 0
    counts = {split: len(data.load_examples(tmp_path / f"{split}.jsonl", "kpod"))
              for split in ("train", "validation", "test")}
    assert counts == {"train": 12, "validation": 3, "test": 4}
    assert "train: 12 problems" in capsys.readouterr().out


def test_teach_command_filters_and_reports(tmp_path, capsys):
    out = tmp_path / "rationales.jsonl"
    code = cli.main(["teach", "--data", str(SAMPLES / "synthetic" / "train.jsonl"), "--format", "kpod",
                     "--teacher", "template", "--out", str(out), "--limit", "40", "--samples", "2",
                     "--temperature", "1.0", "--no-progress"])
    assert code == 0
    printed = capsys.readouterr().out
    kept = [r for _, r in data.read_jsonl(out)]
    cached = [r for _, r in data.read_jsonl(out.with_suffix(".cache.jsonl"))]
    assert len(cached) == 80
    assert all(r["correct"] for r in kept) and len(kept) == sum(r["correct"] for r in cached) < 80
    assert f"kept {len(kept)}, dropped {80 - len(kept)}" in printed
    # --keep-incorrect keeps everything the cache holds, without asking the teacher again.
    assert cli.main(["teach", "--data", str(SAMPLES / "synthetic" / "train.jsonl"), "--teacher", "template",
                     "--out", str(out), "--limit", "40", "--samples", "2", "--temperature", "1.0",
                     "--no-progress", "--keep-incorrect", "--cache", str(out.with_suffix(".cache.jsonl"))]) == 0
    assert "0 generated, 80 reused" in capsys.readouterr().out
    assert sum(1 for _ in data.read_jsonl(out)) == 80


def test_bad_input_is_one_clear_line_with_exit_code_2(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "What is 2 + 2?", "answer": "2 + 2 = <<2+2=4>>4.\\n#### 4"}\n{"question": "Half?", "answer": "no answer line"}\n')
    code = cli.main(["teach", "--data", str(bad), "--format", "gsm8k", "--teacher", "gold",
                     "--out", str(tmp_path / "r.jsonl"), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:2" in err and "answer" in err and "Traceback" not in err
    # --skip-invalid skips and counts the bad record; the good one is taught.
    code = cli.main(["teach", "--data", str(bad), "--format", "gsm8k", "--teacher", "gold", "--skip-invalid",
                     "--out", str(tmp_path / "r.jsonl"), "--no-progress"])
    assert code == 0
    assert "skipped 1 invalid record" in capsys.readouterr().err
    assert [r["answer"] for _, r in data.read_jsonl(tmp_path / "r.jsonl")] == ["4"]


def test_unknown_preset_is_a_clear_error(capsys):
    assert cli.main(["run", "--preset", "flan-t5-small"]) == 2
    assert "unknown preset 'flan-t5-small'" in capsys.readouterr().err


def test_pipeline_run_reuses_finished_stages(tmp_path):
    cfg = preset("tiny", train_size=30, validation_size=5, test_size=10)
    first = pipeline.run(cfg, tmp_path, stages=("questions", "teach"))
    summary = json.loads((tmp_path / "results" / "summary.json").read_text())
    assert summary["train_questions"] == 30 and summary["test_questions"] == 10
    assert summary["rationales_kept"] == 30 and summary["teacher_accuracy"] == 1.0
    assert 2 <= summary["steps_per_rationale_mean"] <= 4
    assert "rationales_kept | 30" in first
    stamp = (tmp_path / "rationales.jsonl").stat().st_mtime_ns
    pipeline.run(cfg, tmp_path, stages=("questions", "teach"))
    assert (tmp_path / "rationales.jsonl").stat().st_mtime_ns == stamp, "a finished stage is reused"
    pipeline.run(cfg, tmp_path, force=True, stages=("questions", "teach"))
    assert (tmp_path / "rationales.jsonl").stat().st_mtime_ns != stamp, "--force runs it again"
    assert json.loads((tmp_path / "config.json").read_text())["name"] == "tiny"


def test_with_the_default_synthetic_task_the_pipeline_writes_the_shipped_splits(tmp_path):
    cfg = preset("tiny", synthetic=synthetic.SyntheticConfig(), train_size=None, test_size=None, ood=())
    paths = pipeline.stage_questions(cfg, tmp_path)
    for split in ("train", "test"):
        assert paths[split].read_bytes() == (SAMPLES / "synthetic" / f"{split}.jsonl").read_bytes()


def test_console_script_runs(tmp_path):
    # The installed entry point, as a user types it.
    result = subprocess.run([sys.executable, "-m", "kpod_lite.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "teach" in result.stdout and "run" in result.stdout


def test_schedule_command_builds_a_schedule_from_difficulty_records(tmp_path, capsys):
    # Difficulty records as `kpod-lite difficulty` writes them (Eq. 8): one d_k per step.
    questions = data.load_examples(SAMPLES / "synthetic" / "train.jsonl", "kpod")[:60]
    records = [{"id": q.id, "steps": [s.text for s in data.split_steps(q.meta["rationale"])]}
               for q in questions]
    for r in records:
        r["difficulty"] = [1.0 + len(step) / 40 for step in r["steps"]]
    data.write_jsonl(tmp_path / "difficulty.jsonl", records)
    out = tmp_path / "schedule.json"
    code = cli.main(["schedule", "--difficulty", str(tmp_path / "difficulty.jsonl"),
                     "--questions", str(SAMPLES / "synthetic" / "train.jsonl"), "--epochs", "6", "--out", str(out)])
    assert code == 0
    assert "up to T = 3" in capsys.readouterr().out
    saved = json.loads(out.read_text())
    assert saved["T"] == 3 and len(saved["D"]) >= 4
    assert saved["meta"]["embeddings"] == "tfidf"
    # Every question starts by generating its last step only, and c_i(t) never increases (Eq. 11).
    first, last = saved["stages"][0]["c"], saved["stages"][-1]["c"]
    n_steps = {r["id"]: len(r["steps"]) for r in records}
    assert set(first) == set(n_steps)
    assert all(last[i] <= first[i] <= n_steps[i] - 1 for i in n_steps)


def test_schedule_command_names_a_missing_question(tmp_path, capsys):
    data.write_jsonl(tmp_path / "difficulty.jsonl", [{"id": "nowhere-1", "steps": ["a."], "difficulty": [1.0]}])
    code = cli.main(["schedule", "--difficulty", str(tmp_path / "difficulty.jsonl"),
                     "--questions", str(SAMPLES / "synthetic" / "train.jsonl"), "--epochs", "4",
                     "--out", str(tmp_path / "s.json")])
    assert code == 2
    err = capsys.readouterr().err
    assert "train.jsonl" in err and "question" in err and "nowhere-1" in err


def test_difficulty_command_scores_every_step(tmp_path, capsys):
    from kpod_lite import difficulty, models

    rationales = tmp_path / "rationales.jsonl"
    assert cli.main(["teach", "--data", str(SAMPLES / "synthetic" / "train.jsonl"), "--teacher", "template",
                     "--out", str(rationales), "--limit", "6", "--no-progress"]) == 0
    tokenizer = models.load_tokenizer(preset("tiny"))
    weights = []
    for _, r in data.read_jsonl(rationales):
        ids, offsets = templates.rationale_tokens(tokenizer, r["rationale"])
        weights.append({"id": r["id"], "sample": r["sample"], "tokens": tokenizer.convert_ids_to_tokens(ids),
                        "offsets": [list(o) for o in offsets], "weights": [0.5] * len(ids)})
    data.write_jsonl(tmp_path / "weights.jsonl", weights)
    capsys.readouterr()
    assert cli.main(["difficulty", "--rationales", str(rationales), "--weights", str(tmp_path / "weights.jsonl"),
                     "--out", str(tmp_path / "difficulty.jsonl")]) == 0
    summary = json.loads(capsys.readouterr().out)
    records = [r for _, r in data.read_jsonl(tmp_path / "difficulty.jsonl")]
    assert summary["rationales"] == len(records) == 6
    for record, (_, r) in zip(records, data.read_jsonl(rationales)):
        assert len(record["difficulty"]) == len(data.split_steps(r["rationale"])) == len(record["steps"])
        assert all(d > 0 for d in record["difficulty"])  # a step's weighted NLL is positive (Eq. 8)


def test_run_replays_an_earlier_teacher_cache_with_the_teach_commands_settings(tmp_path, capsys):
    cfg = preset("tiny", train_size=20, validation_size=2, test_size=4, ood=())
    pipeline.run(cfg, tmp_path / "first", stages=("teach",))
    cache = tmp_path / "first" / "rationales.cache.jsonl"
    replayed = cfg.replace(teacher="replay", teacher_replay_from=str(cache))
    pipeline.run(replayed, tmp_path / "second", stages=("teach",))
    first, second = (data.read_jsonl(tmp_path / run / "rationales.jsonl") for run in ("first", "second"))
    assert [r["rationale"] for _, r in first] == [r["rationale"] for _, r in second]
    # Without a cache, the error names the setting `run` has, not only the teach command's flag.
    out = tmp_path / "third"
    assert cli.main(["run", "--set", 'teacher="replay"', "--until", "teach", "--out", str(out)]) == 2
    assert "--set teacher_replay_from=" in capsys.readouterr().err


def test_a_benchmark_preset_without_data_never_falls_back_to_synthetic_questions(tmp_path):
    with pytest.raises(ConfigError, match="trains on gsm8k, but names no data: set train_file"):
        pipeline.stage_questions(preset("flan-t5-large"), tmp_path)
    assert not (tmp_path / "questions" / "train.jsonl").exists()


def test_a_run_folder_refuses_other_settings_instead_of_claiming_them(tmp_path):
    cfg = preset("tiny", train_size=20, validation_size=2, test_size=4, ood=())
    pipeline.run(cfg, tmp_path, stages=("teach",))
    written = (tmp_path / "config.json").read_text()
    with pytest.raises(ConfigError, match=r"its teach stage was made with teacher_samples=1.*asks for 2.*--force"):
        pipeline.run(cfg.replace(teacher_samples=2, teacher_temperature=0.7), tmp_path, stages=("teach",))
    assert (tmp_path / "config.json").read_text() == written, "the folder still says what made it"
    pipeline.run(cfg.replace(teacher_samples=2, teacher_temperature=0.7), tmp_path, force=True, stages=("teach",))
    assert json.loads((tmp_path / "config.json").read_text())["teacher_samples"] == 2


@pytest.mark.parametrize("data_arg, extra, message", [
    ("DIR", [], "is a directory"),
    ("svamp.json", ["--format", "svamp"], "svamp.json.*not UTF-8"),
    ("empty.jsonl", [], "empty.jsonl.*no questions to teach"),
    ("train", ["--format", "mathqa"], "unknown data format 'mathqa'"),
    ("train", ["--samples", "0"], "--samples.*must be >= 1"),
    ("train", ["--limit", "-1"], "--limit.*must be >= 1"),
    ("train", ["--temperature", "-1"], "--temperature.*must be >= 0"),
])
def test_teach_refuses_bad_input_in_one_line(tmp_path, capsys, data_arg, extra, message):
    """Each of these was once a traceback or a silent run on the wrong thing."""
    (tmp_path / "svamp.json").write_bytes(b'[{"ID": "a", "Body": "caf\xe9", "Question": "q?", "Answer": 3}]')
    (tmp_path / "empty.jsonl").write_text("")
    paths = {"DIR": tmp_path, "train": SAMPLES / "synthetic" / "train.jsonl"}
    argv = ["teach", "--data", str(paths.get(data_arg, tmp_path / data_arg)), "--format", "kpod",
            "--out", str(tmp_path / "r.jsonl"), "--no-progress", *extra]
    if message.startswith("--"):  # argparse refuses the value itself, after its usage line
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        assert exited.value.code == 2
    else:
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and "Traceback" not in err, err


def test_evaluate_names_a_missing_student_folder_instead_of_asking_the_hub(tmp_path, capsys):
    code = cli.main(["evaluate", "--model", str(tmp_path / "nope"), "--data", str(SAMPLES / "synthetic/test.jsonl"),
                     "--out", str(tmp_path / "p.jsonl")])
    err = capsys.readouterr().err
    assert code == 2 and "no saved student at" in err and "Traceback" not in err


def test_one_run_at_a_time_per_run_folder(tmp_path):
    from filelock import FileLock

    cfg = preset("tiny", train_size=20, validation_size=2, test_size=4, ood=())
    with FileLock(str(tmp_path / "run.lock")):  # another run holds the folder
        with pytest.raises(ConfigError, match="another kpod-lite run is using"):
            pipeline.run(cfg, tmp_path, stages=("questions",))
    assert not (tmp_path / "questions").exists(), "the refused run wrote nothing"
    pipeline.run(cfg, tmp_path, stages=("questions",))
    assert (tmp_path / "questions" / "train.jsonl").exists()
