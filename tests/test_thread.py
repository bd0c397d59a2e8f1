"""The shipped thread (`kpod_lite.thread`, data_samples/thread/) is what the tiny preset writes:
its cheap stages are rebuilt here and compared byte for byte, its stage records match its files,
and a copy of it resumes with every stage reused."""
import hashlib
import json
from pathlib import Path

import pytest

from kpod_lite import cli, thread
from kpod_lite.config import preset


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_thread_is_the_tiny_preset_run():
    written = json.loads((thread.thread_folder() / "config.json").read_text())
    assert written["name"] == "tiny"
    assert written["student"] == preset("tiny").student


def test_every_stage_record_matches_the_shipped_files():
    folder = thread.thread_folder()
    stages = json.loads((folder / "stages.json").read_text())
    for stage in ("teach", "weigh", "difficulty", "schedule"):
        for name, sha in stages[stage]["inputs"].items():
            assert digest(folder / name) == sha, f"{name}, an input of {stage}, changed after the stage ran"


def test_the_cheap_stages_rebuild_to_the_same_bytes(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["run", "--preset", "tiny", "--until", "teach", "--no-progress", "--out", str(out)]) == 0
    for name in ["rationales.jsonl", *[f"questions/{p.name}" for p in (thread.THREAD / "questions").iterdir()]]:
        assert digest(out / name) == digest(thread.THREAD / name), name


def test_a_copy_resumes_with_every_stage_reused(tmp_path):
    copy = thread.extend(tmp_path / "copy")
    before = {p.name: digest(p) for p in copy.glob("*.json*")}
    assert cli.main(["run", "--preset", "tiny", "--until", "schedule", "--no-progress", "--out", str(copy)]) == 0
    summary = json.loads((copy / "results" / "summary.json").read_text())
    assert all(seconds < 1.0 for seconds in summary["seconds_by_stage"].values()), summary["seconds_by_stage"]
    assert {p.name: digest(p) for p in copy.glob("*.json*") if p.name in before} == before


def test_the_named_question_is_in_every_stage():
    question = thread.named("questions/train.jsonl")
    assert question["id"] == thread.records("questions/train.jsonl")[0]["id"] == thread.NAMED_ID
    steps = thread.named("difficulty.jsonl")["steps"]
    assert " ".join(steps) == thread.named("rationales.jsonl")["rationale"]
    assert len(thread.named("weights.jsonl")["tokens"]) > 0


def test_extend_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "a").write_text("x")
    with pytest.raises(FileExistsError, match="not empty"):
        thread.extend(tmp_path / "used")
