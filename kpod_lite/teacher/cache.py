"""The teacher's crash-safe cache: one JSON line per answer, appended the moment it arrives.

A teacher run is the slow, often paid, step of the pipeline, so `teach` appends every answer
to the cache (flushed and synced) as soon as a back-end returns it: a killed run loses only
the requests in flight. The next run reads the cache back (`read_cache`, which skips a line
cut short by the kill), reuses every finished (id, sample) pair and asks only for the rest
(`split_cached`). Failed requests are written too, so the cache shows them, but never reused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

from kpod_lite.data import DataFormatError, Example, read_jsonl
from kpod_lite.teacher.protocol import Rationale, TeacherRequest
from kpod_lite.templates import pose_question

log = logging.getLogger(__name__)


def default_cache_path(out: Path | str) -> Path:
    """The cache beside the output file: rationales.jsonl -> rationales.cache.jsonl."""
    return Path(out).with_suffix(".cache.jsonl")


def read_cache(path: Path) -> dict[tuple[str, int], Rationale]:
    """The finished answers of a cache file by (id, sample); the last line for a pair wins.

    A line cut short by a killed run is ignored, and so are failed requests: they are asked
    again.
    """
    finished: dict[tuple[str, int], Rationale] = {}
    if not Path(path).exists():
        return finished
    for line, record in read_jsonl(path, tolerate_truncated_tail=True):
        rationale = _cached_rationale(path, line, record)
        if not rationale.failed:
            finished[(rationale.id, rationale.sample)] = rationale
    return finished


def _cached_rationale(path: Path, line: int, record: dict) -> Rationale:
    """One cache line as a `Rationale`, or a `DataFormatError` naming the line and the field."""
    for key in ("id", "question", "answer", "rationale", "correct", "teacher"):
        if key not in record:
            raise DataFormatError(path, line, key, "missing from a teacher cache line; delete the line (its "
                                  "question is asked again) or give this run a cache of its own (--cache)")
    try:
        return Rationale.from_record(record)
    except (TypeError, ValueError) as error:
        raise DataFormatError(path, line, "sample", f"not a whole number ({error}); delete the line (its question "
                              f"is asked again)") from None


def split_cached(
    cache: Path, examples: Sequence[Example], samples: int
) -> tuple[dict[tuple[str, int], Rationale], list[TeacherRequest]]:
    """The cached answers to reuse by (id, sample), and the requests still to send.

    A cached answer is reused only if it was asked with the same question text: an edited
    dataset with the same ids would otherwise keep rationales of the old questions.
    """
    results = read_cache(cache)
    stale = 0
    requests = []
    for example in examples:
        for sample in range(samples):
            cached = results.get((example.id, sample))
            if cached is not None and cached.question == pose_question(example.question, example.choices):
                continue
            stale += cached is not None
            results.pop((example.id, sample), None)
            requests.append(TeacherRequest(example, sample))
    if stale:
        log.warning("%d cached answer(s) belong to a different question text and are asked again", stale)
    return results, requests
