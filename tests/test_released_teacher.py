"""The released teacher: rationales shipped with a dataset (MCC-KD's Table 4 splits) as the
teacher of §3.1, graded and filtered like any other, every sample kept through the pipeline."""

import json

import pytest

from kpod_lite import data, pipeline, teacher
from kpod_lite.config import preset

# Written for this test in the shape of the released files: "output" lists several rationales
# per training question, in GPT-3.5's style (no answer sentence of the template), some wrong.
_TRAIN = [
    {"instruction": "Mia has 4 red pens and 3 blue pens. How many pens does she have?\n",
     "output": ["Mia has 4 red pens and 3 blue pens.\nSo she has 4 + 3 = 7 pens in total.",
                "She has 4 + 3 = 7 pens.\nTherefore, Mia has 7 pens.",
                "Mia has 4 - 3 = 1 more red pen than blue pens, so she has 1 pen."],
     "label": "7"},
    {"instruction": "A box holds 6 eggs. How many eggs are in 5 boxes?\n",
     "output": ["Each box holds 6 eggs.\n5 boxes hold 5 x 6 = 30 eggs.\nTherefore, there are 30 eggs.",
                "6 x 5 = 30\n\nThere are 30 eggs in all.",
                "Five boxes and six eggs make 5 + 6 = 11 eggs."],
     "label": "30"},
    {"instruction": "Tom had 12 stickers and gave away 5. How many are left?\n",
     "output": ["Tom started with 12 stickers.\nHe gave away 5, so 12 - 5 = 7 stickers are left.",
                "12 - 5 = 7. Tom has 7 stickers left.",
                "Tom has 12 + 5 = 17 stickers left."],
     "label": "7"},
    {"instruction": "There are 9 birds and 2 fly away. How many birds stay?\n",
     "output": ["9 - 2 = 7 birds stay on the tree."],
     "label": "7"},
]
_TEST = [{"instruction": "Ann has 2 cats and 2 dogs. How many pets does she have?\n", "output": "", "label": "4"},
         {"instruction": "A pack has 3 apples. How many apples are in 2 packs?\n", "output": "", "label": "6"}]


@pytest.fixture
def released_files(tmp_path):
    train, test = tmp_path / "train.json", tmp_path / "test.json"
    train.write_text(json.dumps(_TRAIN, indent=1), encoding="utf-8")
    test.write_text(json.dumps(_TEST, indent=1), encoding="utf-8")
    return train, test


def test_every_released_rationale_is_graded_and_filtered_by_its_answer(released_files, tmp_path):
    questions = data.load_examples(released_files[0], "instruction")
    report = teacher.teach(questions, teacher.make_backend("released"), out=tmp_path / "r.jsonl", samples=3,
                           progress=False)
    kept = [r for _, r in data.read_jsonl(tmp_path / "r.jsonl")]
    # 10 released rationales: 3 + 3 + 3 + 1; the third of each of the first three answers wrongly (§3.1).
    assert (report.generated, report.kept, report.dropped) == (10, 7, 3)
    assert {(r["id"], r["sample"]) for r in kept} == {
        ("instruction-0", 0), ("instruction-0", 1), ("instruction-1", 0), ("instruction-1", 1),
        ("instruction-2", 0), ("instruction-2", 1), ("instruction-3", 0)}
    # The fourth question ships one rationale: its samples 1 and 2 fail, by name, and are counted.
    assert report.failed == 2 and "has 1 released rationale(s), no sample 1" in report.failures[0]
    assert all(r["teacher"] == "released" for r in kept)


def test_questions_without_released_rationales_are_refused_by_name(released_files, tmp_path):
    questions = data.load_examples(released_files[1], "instruction")  # a test split: output ""
    with pytest.raises(teacher.TeacherError, match=r"none of these 2 question\(s\) has any, e.g. 'instruction-0'"):
        teacher.teach(questions, teacher.make_backend("released"), out=tmp_path / "r.jsonl", progress=False)


def test_the_pipeline_trains_on_every_released_sample(released_files, tmp_path):
    train, test = released_files
    cfg = preset("tiny").replace(train_file=str(train), test_file=str(test), data_format="instruction",
                                 dataset="svamp", teacher="released", teacher_samples=3, ood=(), epochs=2,
                                 weighting_epochs=1, weighting_predictor_warmup_steps=2)
    # The fourth question ships one rationale, so its samples 1 and 2 fail (2 of 12): allowed here.
    pipeline.run(cfg, tmp_path / "run", stages=("schedule",), allow_failed=0.2)
    run = tmp_path / "run"
    kept = [r for _, r in data.read_jsonl(run / "rationales.jsonl")]
    assert len(kept) == 7
    for name in ("weights.jsonl", "difficulty.jsonl"):
        assert len(list(data.read_jsonl(run / name))) == 7, f"{name} keeps every sample"
    schedule = json.loads((run / "schedule.json").read_text())
    assert sorted(schedule["stages"][0]["c"]) == sorted(data.rationale_name(r) for r in kept)
    # B (Eq. 10) sums the step difficulties of every rationale trained on, not of one sample a question.
    difficulty = [r for _, r in data.read_jsonl(run / "difficulty.jsonl")]
    assert schedule["params"]["B"] == pytest.approx(sum(sum(r["difficulty"]) for r in difficulty))
    assert sum(len(r["steps"]) for r in difficulty) == sum(len(data.split_steps(r["rationale"])) for r in kept)


def test_a_train_size_takes_a_seeded_subset_of_a_data_file(released_files, tmp_path):
    train, test = released_files
    cfg = preset("tiny").replace(train_file=str(train), test_file=str(test), data_format="instruction",
                                 dataset="svamp", train_size=2, test_size=None, ood=())
    first = pipeline.stage_questions(cfg, tmp_path / "a")
    again = pipeline.stage_questions(cfg, tmp_path / "b")
    other = pipeline.stage_questions(cfg.replace(seed=3), tmp_path / "c")
    ids = [[e.id for e in data.load_examples(q["train"], "kpod")] for q in (first, again, other)]
    assert len(ids[0]) == 2 and ids[0] == ids[1] and ids[0] == sorted(ids[0]), "seeded, in file order"
    assert ids[2] != ids[0]
    assert len(data.load_examples(first["test"], "kpod")) == len(_TEST), "test_size None: the whole test file"


def test_records_a_data_file_cannot_use_are_skipped_counted_and_summarised(tmp_path):
    train = tmp_path / "train.json"
    records = [*_TRAIN, {"instruction": "Who baked the most pies?\n", "output": ["Mrs. Hilt baked 9 pies."],
                         "label": "Mrs. Hilt"}]
    train.write_text(json.dumps(records), encoding="utf-8")
    test = tmp_path / "test.json"
    test.write_text(json.dumps(_TEST), encoding="utf-8")
    cfg = preset("tiny").replace(train_file=str(train), test_file=str(test), data_format="instruction",
                                 dataset="svamp", ood=())
    pipeline.stage_questions(cfg, tmp_path / "run")
    report = json.loads((tmp_path / "run" / "questions" / "train.load.json").read_text())
    assert (report["read"], report["skipped"]) == (len(_TRAIN), 1)
    assert "record [4]" in report["first_errors"][0] and "'label'" in report["first_errors"][0]
    summary = pipeline.results.summarise(tmp_path / "run")
    assert summary["train_records_read"] == len(_TRAIN) and summary["train_records_skipped"] == 1
    assert summary["test_records_skipped"] == 0


def test_the_teach_command_reads_the_shipped_mcckd_sample_as_a_teacher(tmp_path, capsys):
    """data_samples/formats/mcckd_train.json: 12 questions x 3 GPT-3.5-style rationales, of
    which 29 reach the label (the third of seven questions is written wrong on purpose)."""
    from kpod_lite import cli

    out = tmp_path / "rationales.jsonl"
    assert cli.main(["teach", "--data", "data_samples/formats/mcckd_train.json", "--format", "instruction",
                     "--teacher", "released", "--samples", "3", "--out", str(out)]) == 0
    kept = [r for _, r in data.read_jsonl(out)]
    assert len(kept) == 29 and len({r["id"] for r in kept}) == 12
    assert "kept 29, dropped 7" in capsys.readouterr().out


def test_a_question_without_released_rationales_fails_alone(tmp_path):
    records = [*_TRAIN, {"instruction": "How many legs do 2 cats have?\n", "output": [], "label": "8"}]
    path = tmp_path / "train.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    report = teacher.teach(data.load_examples(path, "instruction"), teacher.make_backend("released"),
                           out=tmp_path / "r.jsonl", progress=False)
    assert report.generated == len(_TRAIN) and report.failed == 1
    assert "'instruction-4' has no released rationale" in report.failures[0]
