"""The course's one thread: the tiny preset's run folder, shipped, and the question it follows.

`data_samples/thread/` is what ``kpod-lite run --preset tiny --until schedule`` writes (the
questions, the template teacher's rationales after answer filtering, the token weights of
Eq. 2-7, the step difficulties of Eq. 8, the schedule of Eq. 9-14), less its caches and lock.
Every notebook reads it, so the weights notebook 02 learns are the weights notebook 03 scores
steps with, notebook 04 schedules with and notebook 06 distils with. The weighting stage alone
costs several CPU minutes, more than a notebook may spend, which is why the folder is shipped and
not rebuilt in each notebook; `tests/test_thread.py` rebuilds its cheap stages and checks them.

A notebook that extends the run (notebook 06 distils students) works on `extend()`'s copy,
so the shipped folder never changes and the pipeline reuses every finished stage of the copy.

The named question, `NAMED_ID`, is the first question of the training split: chosen by that
rule, not for how its figures look.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from kpod_lite.data.jsonl import read_jsonl

THREAD = Path(__file__).resolve().parent.parent / "data_samples" / "thread"
NAMED_ID = "syn-00000"

# The command that made the folder; tests and docs quote it from here.
COMMAND = "kpod-lite run --preset tiny --until schedule --out data_samples/thread"


def thread_folder() -> Path:
    """The shipped run folder, or a clear error naming what to do when it is missing."""
    if not (THREAD / "stages.json").is_file():
        raise FileNotFoundError(
            f"{THREAD}: the course's shipped run folder is missing; restore it from the repository "
            f"(git checkout -- data_samples/thread) or rebuild it with `{COMMAND}`")
    return THREAD


def records(name: str) -> list[dict]:
    """Every record of one JSON Lines file of the thread, e.g. ``records("weights.jsonl")``."""
    return [record for _, record in read_jsonl(thread_folder() / name)]


def named(name: str, record_id: str = NAMED_ID) -> dict:
    """The named question's record in one JSON Lines file of the thread (sample 0)."""
    for record in records(name):
        if record.get("id") == record_id and record.get("sample", 0) == 0:
            return record
    raise KeyError(f"{thread_folder() / name}: no record with id {record_id!r}")


def extend(dest: str | Path | None = None) -> Path:
    """A writable copy of the thread (a new temporary folder unless `dest` is given), for a
    notebook that runs the stages after the schedule: ``pipeline.run`` reuses the rest."""
    dest = Path(tempfile.mkdtemp(prefix="kpod-thread-")) / "run" if dest is None else Path(dest)
    if dest.exists() and any(dest.iterdir()):
        raise FileExistsError(f"{dest}: not empty; extend() copies the thread into a new folder")
    if dest.exists():
        dest.rmdir()
    shutil.copytree(thread_folder(), dest)
    return dest
