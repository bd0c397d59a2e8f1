"""What the sub-commands read: state files, files checked against each other, exit codes that mean something."""

import json
import math
import re
from pathlib import Path

import pytest

from kpod_lite import cli, data, stats
from kpod_lite.config import preset
from kpod_lite.errors import IncompleteWork
from kpod_lite.pipeline.results import student_dir
from kpod_lite.schedule import Schedule, Stage

SAMPLES = Path(__file__).resolve().parents[1] / "data_samples"
TRAIN = str(SAMPLES / "synthetic" / "train.jsonl")


def failed(argv, capsys, code=2, main=cli.main) -> str:
    """stderr of a command that exits with `code`, checked to be one paragraph without a traceback."""
    try:
        got = main(argv)
    except SystemExit as exited:
        got = exited.code
    err = capsys.readouterr().err
    assert got == code, err
    assert "Traceback" not in err
    return err


@pytest.fixture
def rationales(tmp_path, capsys) -> Path:
    out = tmp_path / "rationales.jsonl"
    assert cli.main(["teach", "--data", TRAIN, "--out", str(out), "--limit", "4", "--no-progress"]) == 0
    capsys.readouterr()
    return out


# --- python -m kpod_lite.stats ------------------------------------------------------------------------------


def write_predictions(run_dir: Path, method: str, seed: int, lines: list[str]) -> Path:
    folder = student_dir(run_dir, method, seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test.predictions.jsonl").write_text("".join(line + "\n" for line in lines))
    return folder / "test.predictions.jsonl"


def test_stats_names_what_is_missing_or_broken_in_a_run_folder(tmp_path, capsys):
    err = failed([str(tmp_path / "nope"), "plain-cot", "kpod", "--seeds", "1"], capsys, main=stats.main)
    assert f"run folder {tmp_path / 'nope'} does not exist: give the folder kpod-lite run wrote" in err
    err = failed([str(tmp_path), "plain-cot", "kpod", "--seeds", "1"], capsys, main=stats.main)
    assert "holds no students yet: run kpod-lite run" in err
    good = [json.dumps({"id": "q1", "correct": True})]
    write_predictions(tmp_path, "plain-cot", 0, good)
    err = failed([str(tmp_path), "plain-cot", "kpod", "--seeds", "1"], capsys, main=stats.main)
    assert "has no students of method 'kpod'; it has plain-cot" in err
    write_predictions(tmp_path, "kpod", 0, [*good, '{"id": "q2", "corr'])
    err = failed([str(tmp_path), "plain-cot", "kpod", "--seeds", "1"], capsys, main=stats.main)
    assert "kpod/seed-0/test.predictions.jsonl:2: invalid JSON" in err
    write_predictions(tmp_path, "kpod", 0, [json.dumps({"id": "q1"})])
    err = failed([str(tmp_path), "plain-cot", "kpod", "--seeds", "1"], capsys, main=stats.main)
    assert "test.predictions.jsonl:1: field 'correct': missing from a prediction record" in err
    err = failed([str(tmp_path), "plain-cot", "kpod", "--seeds", "0"], capsys, main=stats.main)
    assert "argument --seeds: must be >= 1, got 0" in err
    err = failed([str(tmp_path), "plain-cot", "kpod", "--seeds", "2"], capsys, main=stats.main)
    assert "no predictions for plain-cot seed 1" in err and "compare the seeds it has (seeds 0)" in err
    (tmp_path / "config.json").write_text('{"seed": 0,')
    err = failed([str(tmp_path), "plain-cot", "kpod", "--seeds", "1"], capsys, main=stats.main)
    assert "config.json:1: the run folder's settings is not valid JSON" in err and "--force" in err


# --- exit codes: 0 only when the command did what it was asked -------------------------------------------------


def test_a_teacher_that_answered_nothing_exits_1_and_writes_no_rationales(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")  # the discard port: nothing listens
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    out = tmp_path / "r.jsonl"
    err = failed(["teach", "--data", TRAIN, "--teacher", "openai", "--model", "m", "--out", str(out), "--limit", "2",
                  "--max-attempts", "1", "--timeout", "2", "--no-progress"], capsys, code=1)
    assert "every one of the 2 teacher requests failed" in err and "run the same command again" in err
    assert not out.exists(), "an empty rationale file would pass for a finished teacher"
    cached = [r for _, r in data.read_jsonl(tmp_path / "r.cache.jsonl")]
    assert len(cached) == 2 and all(r["error"] for r in cached)  # the cache shows what failed


def test_a_teacher_with_some_failures_exits_1_unless_they_are_allowed(tmp_path, capsys):
    from kpod_lite import teacher

    report = teacher.TeachReport("openai:m", questions=10, samples=1, out=tmp_path / "r.jsonl",
                                 cache=tmp_path / "r.cache.jsonl", generated=9, failed=1, correct=9, kept=9,
                                 failures=["question 'q3' sample 0: timed out"])
    with pytest.raises(IncompleteWork, match=r"1 of 10 teacher requests failed \(10.0%, more than the 0.0% allowed; "
                                              r"first error: question 'q3'.*run the same command again"):
        teacher.check_failures(report)
    teacher.check_failures(report, allowed_share=0.1)  # within the documented allowance: done
    with pytest.raises(IncompleteWork, match="no rationale was kept.*--keep-incorrect"):
        teacher.check_failures(teacher.TeachReport("template", 3, 1, tmp_path / "r", tmp_path / "c", generated=3))


@pytest.mark.parametrize("extra, message", [
    (["--timeout", "-1"], "argument --timeout: must be a number of seconds > 0, got -1"),
    (["--timeout", "nan"], "argument --timeout: must be a number of seconds > 0"),
    (["--allow-failed", "2"], "argument --allow-failed: must be a share between 0 and 1"),
    (["--teacher", "hf", "--model", "./nope"], "the hf teacher's model ./nope is not there: give the folder"),
])
def test_teach_refuses_a_bad_setting_in_one_paragraph(extra, message, tmp_path, capsys):
    err = failed(["teach", "--data", TRAIN, "--out", str(tmp_path / "r.jsonl"), "--no-progress", *extra], capsys)
    assert message in err


# --- state files: a broken one is named, with what to do ----------------------------------------------------------


@pytest.mark.parametrize("name, text, message", [
    ("config.json", '{"seed": 0,\n "name": ', r"config.json:2: the run folder's settings is not valid JSON"),
    ("stages.json", "[1, 2]", r"stages.json: the digests of the files each stage read should hold a JSON object"),
    ("stages.json", '{"teach": {"inputs": 3}}', r"stages.json: field 'teach.inputs': should map each file"),
])
def test_a_broken_run_folder_state_file_is_named(name, text, message, tmp_path, capsys):
    (tmp_path / name).write_text(text)
    err = failed(["run", "--out", str(tmp_path), "--until", "questions"], capsys)
    assert str(tmp_path / name) in err and re.search(message, err), err
    assert "re-run with --force" in err


def test_a_cut_mask_learning_checkpoint_is_named_not_an_index_error(tmp_path):
    from kpod_lite.weighting.checkpoint import load_state

    path = tmp_path / "weights.jsonl.checkpoint.pt"
    path.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(data.DataFormatError, match=r"weights.jsonl.checkpoint.pt: a mask-learning checkpoint that "
                                                   r"cannot be read .*delete it to start"):
        load_state(path, "fingerprint")


def saved_student(folder: Path, *, tokenizer=True, cut=False) -> Path:
    """A folder shaped like distill's model/: its config, safetensors weights and (optionally) tokenizer."""
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "t5"}))
    save_file({"shared.weight": torch.zeros(64, 8)}, str(folder / "model.safetensors"))
    if cut:
        blob = (folder / "model.safetensors").read_bytes()
        (folder / "model.safetensors").write_bytes(blob[: len(blob) - 100])
    if tokenizer:
        (folder / "tokenizer.json").write_text("{}")
    return folder


@pytest.mark.parametrize("broken, message", [
    ({"cut": True}, r"model.safetensors: field 'shared.weight': the tensor ends at byte 2048 of the data, which "
                    r"holds 1948: the file was cut short"),
    ({"tokenizer": False}, r"model: holds no tokenizer \(none of tokenizer.json"),
])
def test_a_broken_student_folder_is_named_before_it_is_loaded(broken, message, tmp_path, capsys):
    model = saved_student(tmp_path / "model", **broken)
    err = failed(["evaluate", "--model", str(model), "--data", TRAIN, "--out", str(tmp_path / "p.jsonl")], capsys)
    assert re.search(message, err), err
    assert "copy it again, or distill the student again" in err or "save_pretrained" in err


# --- files checked against each other, as `run` makes them -----------------------------------------------------------


def write_schedule(path: Path, c: dict) -> Path:
    Schedule(T=1, D=[0.0, 1.0], stages=[Stage(0, 0.0, 0.0, [], c)], ids=list(c),
             params={"epochs": 2, "progressive_epochs": 1}, meta={"method": "w.o.-sig"}).save(path)
    return path


def test_distill_refuses_a_schedule_that_does_not_fit_the_rationales(rationales, tmp_path, capsys):
    records = [r for _, r in data.read_jsonl(rationales)]
    steps = {r["id"]: len(data.split_steps(r["rationale"])) for r in records}
    first = records[0]["id"]
    argv = ["distill", "--rationales", str(rationales), "--method", "w.o.-sig", "--out", str(tmp_path / "s"),
            "--schedule"]
    too_many = write_schedule(tmp_path / "a.json", {**{i: 0 for i in steps}, first: steps[first] + 3})
    err = failed([*argv, str(too_many)], capsys)
    assert f"a.json: field \"stages[0].c[{first!r}]\": c_i = {steps[first] + 3} input steps, but the rationale has " \
           f"{steps[first]} step(s); rebuild the schedule" in err
    stranger = write_schedule(tmp_path / "b.json", {**{i: 0 for i in steps}, "syn-99999": 0})
    err = failed([*argv, str(stranger)], capsys)
    assert "b.json: field \"stages[0].c['syn-99999']\": a rationale that is not in" in err
    short = write_schedule(tmp_path / "c.json", {i: 0 for i in list(steps)[1:]})
    err = failed([*argv, str(short)], capsys)
    assert f"rationales.jsonl:1: id {first!r} sample 0: field 'id': no c_i for this rationale in stage 0" in err
    assert not (tmp_path / "s" / "checkpoints").exists(), "refused before the student was loaded"


def test_distill_called_from_python_refuses_a_schedule_that_does_not_fit(rationales, tmp_path):
    # The check is distill's own, so a notebook and `kpod-lite run` get it too, naming the file.
    from kpod_lite import distill

    records = [r for _, r in data.read_jsonl(rationales)]
    stranger = write_schedule(tmp_path / "b.json", {**{r["id"]: 0 for r in records}, "syn-99999": 0})
    with pytest.raises(data.DataFormatError, match=r"b\.json: field \"stages\[0\]\.c\['syn-99999'\]\": a rationale "
                                                   r"that is not in"):
        distill.distill(records, None, Schedule.load(stranger), preset("tiny", epochs=2), tmp_path / "s",
                        method="w.o.-sig")
    assert not (tmp_path / "s").exists(), "refused before the student was loaded"


@pytest.mark.parametrize("edit, field, message", [
    (lambda r: r.update(D=r["D"][:-1]), "'D'", "must list D(0..T), 2 numbers for T = 1, got 1 value(s)"),
    (lambda r: r["D"].__setitem__(1, math.nan), "'D[1]'", "must be a finite number (Eq. 10), got nan"),
    (lambda r: r["stages"][0].update(t=3), "'stages[0].t'", "must be 0, the stage's place in the list, got 3"),
    (lambda r: r["stages"][0].update(delta_D="x"), "'stages[0].delta_D'", "must be a finite number"),
    (lambda r: r["stages"][0].update(delta_H=math.inf), "'stages[0].delta_H'", "must be a finite number"),
    (lambda r: r["stages"][0].pop("selected"), "'stages[0].selected'", "must list the questions S(t) selected"),
    (lambda r: r["stages"][0].update(selected=["zz"]), "'stages[0].selected[0]'", "'zz' is not one of the stage's"),
    (lambda r: r.update(ids=["a", "a"]), "'ids'", "'a' twice"),
    (lambda r: r.update(params="x"), "'params'", "must be a dict"),
    (lambda r: r["meta"].update(method=[]), "'meta.method'", "must name the method"),
])
def test_every_field_of_a_schedule_is_checked_when_it_is_read(edit, field, message, tmp_path):
    record = write_schedule(tmp_path / "s.json", {"a": 1, "b": 0})
    text = json.loads(record.read_text())
    edit(text)
    record.write_text(json.dumps(text))
    with pytest.raises(data.DataFormatError) as refused:
        Schedule.load(record)
    assert f"s.json: field {field}: {message}" in str(refused.value) and "rebuild it" in str(refused.value)


@pytest.mark.parametrize("sample", ["1", 1.5, True, -1, None])
def test_a_rationale_key_refuses_a_sample_that_is_not_a_whole_number(sample):
    with pytest.raises(data.DataFormatError, match=r"r\.jsonl:3: id 'q' sample: field 'sample': must be a whole "
                                                   r"number >= 0"):
        data.rationale_key({"id": "q", "sample": sample}, path="r.jsonl", line=3, label="id 'q' sample")
    assert data.rationale_key({"id": 7, "sample": 2}) == ("7", 2)
    assert data.rationale_name({"id": 7}) == "7"


def test_weights_for_other_rationales_are_refused_by_distill_and_difficulty(rationales, tmp_path, capsys):
    from kpod_lite import difficulty

    weights = tmp_path / "weights.jsonl"
    data.write_jsonl(weights, [{"id": "syn-99999", "sample": 0, "tokens": [], "weights": []}])
    err = failed(["distill", "--rationales", str(rationales), "--weights", str(weights), "--method", "w.o.-prog",
                  "--out", str(tmp_path / "s")], capsys)
    assert "weights.jsonl:1: id 'syn-99999' sample 0: field 'id': a token weight record for a rationale that is " \
           "not in" in err and "Use the token weight file made from these rationales" in err
    # difficulty: every rationale has its weights, and one more record is for a rationale not given.
    from kpod_lite.models import load_tokenizer
    from kpod_lite.templates import rationale_tokens

    tokenizer = load_tokenizer(preset("tiny"))
    records = [r for _, r in data.read_jsonl(rationales)]
    good = []
    for r in records:
        ids, offsets = rationale_tokens(tokenizer, r["rationale"])
        good.append({"id": r["id"], "sample": 0, "tokens": tokenizer.convert_ids_to_tokens(ids),
                     "offsets": [list(o) for o in offsets], "weights": [0.5] * len(ids)})
    with pytest.raises(data.DataFormatError, match=r"record \[1\].*a token weight record for a rationale that is not"):
        difficulty.difficulty_records(records[:1], good[:2], None, tokenizer, preset("tiny"))


def difficulty_file(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


@pytest.mark.parametrize("change, field, message", [
    ({"difficulty": []}, "difficulty", "must be a non-empty list of step difficulties"),
    ({"difficulty": [1.0, math.nan]}, "difficulty", "value 1 is nan: a step difficulty is a weighted NLL"),
    ({"difficulty": [1.0, "hard"]}, "difficulty", "value 1 is 'hard'"),
    ({"steps": ["a."]}, "steps", "1 steps for 2 difficulties"),
])
def test_schedule_names_the_line_and_field_of_a_bad_difficulty(change, field, message, tmp_path, capsys):
    records = [{"id": "syn-00000", "steps": ["a.", "b."], "difficulty": [1.0, 2.0]},
               {"id": "syn-00001", "steps": ["a.", "b."], "difficulty": [1.0, 2.0], **change}]
    path = difficulty_file(tmp_path / "difficulty.jsonl", records)
    err = failed(["schedule", "--difficulty", str(path), "--questions", TRAIN, "--epochs", "2",
                  "--out", str(tmp_path / "s.json")], capsys)
    assert f"difficulty.jsonl:2: field '{field}': {message}" in err and "run kpod-lite difficulty again" in err


def test_schedule_refuses_more_difficulties_than_the_rationale_has_steps(rationales, tmp_path, capsys):
    records = [r for _, r in data.read_jsonl(rationales)]
    rows = [{"id": r["id"], "difficulty": [1.0] * len(data.split_steps(r["rationale"]))} for r in records]
    rows[2]["difficulty"].append(5.0)
    path = difficulty_file(tmp_path / "difficulty.jsonl", rows)
    err = failed(["schedule", "--difficulty", str(path), "--questions", str(rationales), "--epochs", "2",
                  "--out", str(tmp_path / "s.json")], capsys)
    assert f"difficulty.jsonl:3: id {records[2]['id']!r}: field 'difficulty': {len(rows[2]['difficulty'])} step " \
           f"difficulties for a rationale of {len(rows[2]['difficulty']) - 1} steps" in err


def test_a_malformed_glove_file_is_named_with_its_line(tmp_path, capsys):
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.1 0.2 0.3\nhow 0.1 zero 0.3\n")
    records = [{"id": f"syn-0000{i}", "difficulty": [1.0, 2.0]} for i in range(3)]
    path = difficulty_file(tmp_path / "difficulty.jsonl", records)
    err = failed(["schedule", "--difficulty", str(path), "--questions", TRAIN, "--epochs", "2", "--glove", str(glove),
                  "--out", str(tmp_path / "s.json")], capsys)
    assert "glove.txt:2: setting --glove names a file that is not GloVe text (the vector of 'how' holds " \
           "something that is not a number)" in err and "leave out --glove" in err


# --- limits applied with a word --------------------------------------------------------------------------------------


def test_evaluate_says_how_many_questions_it_cut_to_the_source_limit(caplog):
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    from kpod_lite import evaluate
    from kpod_lite.models import load_tokenizer

    cfg = preset("tiny")
    tokenizer = load_tokenizer(cfg)
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(T5Config(vocab_size=len(tokenizer), d_model=8, d_kv=4, d_ff=8, num_layers=1,
                                                num_heads=1, decoder_start_token_id=tokenizer.pad_token_id))
    long = data.Example(id="long", question="How many apples? " * 6000, answer="3")
    short = data.Example(id="short", question="What is 1 + 2?", answer="3")
    summary = evaluate.evaluate_examples(model, tokenizer, [long, short], cfg,
                                         generate_fn=lambda prompts: ["The answer is 3."] * len(prompts))
    assert summary["truncated_questions"] == 1
    assert f"1 of 2 question(s) are longer than max_source_length={cfg.max_source_length} tokens" in caplog.text
