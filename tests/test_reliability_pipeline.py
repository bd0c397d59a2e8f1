"""What `pipeline.run` checks when it is called from Python (a notebook) as well as from the
command line: its state files, its teacher's failed requests, its evaluation's cut questions."""

import json
from pathlib import Path

import pytest

from kpod_lite import cli, data, pipeline
from kpod_lite.config import preset
from kpod_lite.errors import IncompleteWork

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"

# Rationales released with the questions (the released teacher): the second question ships one,
# so with two samples a question its sample 1 fails, 1 of 4 requests, and would every time.
_TRAIN = [
    {"instruction": "Mia has 4 red pens and 3 blue pens. How many pens does she have?\n",
     "output": ["She has 4 + 3 = 7 pens.", "Mia has 3 + 4 = 7 pens in all."], "label": "7"},
    {"instruction": "A box holds 6 eggs. How many eggs are in 5 boxes?\n",
     "output": ["5 boxes hold 5 x 6 = 30 eggs."], "label": "30"},
]
_TEST = [{"instruction": "Ann has 2 cats and 2 dogs. How many pets does she have?\n", "output": "", "label": "4"}]


def released_config(tmp_path: Path):
    train, test = tmp_path / "train.json", tmp_path / "test.json"
    train.write_text(json.dumps(_TRAIN), encoding="utf-8")
    test.write_text(json.dumps(_TEST), encoding="utf-8")
    return preset("tiny").replace(train_file=str(train), test_file=str(test), data_format="instruction",
                                  dataset="svamp", teacher="released", teacher_samples=2, ood=())


@pytest.mark.parametrize("name, text, message", [
    ("config.json", '{"seed": 0,\n', r"config\.json:2: the run folder's settings is not valid JSON"),
    ("config.json", "[1, 2]\n", r"config\.json: the run folder's settings should hold a JSON object"),
    ("stages.json", '{"teach": {"inputs": ["train.jsonl"]}}\n', r"stages\.json: field 'teach\.inputs'"),
])
def test_pipeline_run_from_python_names_a_broken_state_file(name, text, message, tmp_path):
    cfg = preset("tiny", train_size=20, validation_size=2, test_size=4, ood=())
    (tmp_path / name).write_text(text)
    with pytest.raises(data.DataFormatError, match=message) as refused:
        pipeline.run(cfg, tmp_path, stages=("questions",))
    assert str(tmp_path / name) in str(refused.value) and "re-run with --force (force=True)" in str(refused.value)
    assert not (tmp_path / "questions").exists(), "refused before any stage ran"
    pipeline.run(cfg, tmp_path, stages=("questions",), force=True)  # what the message says to do works
    assert json.loads((tmp_path / "config.json").read_text())["seed"] == cfg.seed


def test_run_is_incomplete_when_teacher_requests_failed_and_asks_only_those_again(tmp_path):
    cfg, run_dir = released_config(tmp_path), tmp_path / "run"
    cache = run_dir / "rationales.cache.jsonl"
    with pytest.raises(IncompleteWork, match=r"1 of 4 teacher requests failed \(25\.0%, more than the 0\.0% allowed; "
                                             r"first error: question 'instruction-1' has 1 released rationale"
                                             r".*run the same kpod-lite run command"):
        pipeline.run(cfg, run_dir, stages=("teach",))
    # Not taken for a finished teach stage: the next run teaches again.
    assert not (run_dir / "rationales.jsonl").exists()
    assert len(list(data.read_jsonl(run_dir / "rationales.incomplete.jsonl"))) == 3
    asked = len(cache.read_text().splitlines())
    pipeline.run(cfg, run_dir, stages=("teach",), allow_failed=0.25)  # within the allowance: done
    assert len(cache.read_text().splitlines()) == asked + 1, "only the failed request was asked again"
    assert len(list(data.read_jsonl(run_dir / "rationales.jsonl"))) == 3
    assert not (run_dir / "rationales.incomplete.jsonl").exists()


def test_the_run_command_exits_1_when_teacher_requests_failed(tmp_path, capsys):
    cfg = released_config(tmp_path)
    settings = [f"{key}={json.dumps(getattr(cfg, key))}" for key in
                ("train_file", "test_file", "data_format", "dataset", "teacher", "teacher_samples")]
    code = cli.main(["run", "--out", str(tmp_path / "run"), "--until", "teach", "--no-progress", "--set", *settings,
                     "--set", "ood=[]"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "kpod-lite run: error: 1 of 4 teacher requests failed" in err and "Traceback" not in err
    assert "--allow-failed SHARE of teach and run" in err
    code = cli.main(["run", "--out", str(tmp_path / "run"), "--until", "teach", "--no-progress", "--set", *settings,
                     "--set", "ood=[]", "--allow-failed", "0.25"])
    assert code == 0, capsys.readouterr().err


def test_the_run_command_with_force_rebuilds_a_broken_run_folder(tmp_path, capsys):
    """The refusal says to re-run with --force; that must then work from the command line too."""
    (tmp_path / "config.json").write_text('{"seed": 0,\n')
    args = ["run", "--out", str(tmp_path), "--until", "questions", "--no-progress", "--set", "train_size=8",
            "--set", "validation_size=2", "--set", "test_size=2", "--set", "ood=[]"]
    assert cli.main(args) == 2
    assert "config.json:2" in capsys.readouterr().err
    assert cli.main([*args, "--force"]) == 0, capsys.readouterr().err
    assert json.loads((tmp_path / "config.json").read_text())["train_size"] == 8


def test_each_students_eval_json_keeps_the_questions_cut_to_the_source_limit(tmp_path):
    cfg = preset("tiny", max_source_length=64, max_new_tokens=4)
    questions = tmp_path / "test.jsonl"
    data.save_examples(questions, [data.Example(id="long", question="How many apples? " * 40, answer="3"),
                                   data.Example(id="short", question="What is 1 + 2?", answer="3")])
    result = pipeline.stage_evaluate(cfg, tmp_path / "before", {"test": questions})
    saved = json.loads((tmp_path / "before" / "eval.json").read_text())
    assert saved == result and saved["test"]["questions"] == 2
    assert saved["test"]["truncated_questions"] == 1
