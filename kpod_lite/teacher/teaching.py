"""Running a teacher over a dataset: `teach` and the `TeachReport` it returns (§3.1).

`teach` asks a back-end for `samples` rationales per question, grades each answer against the
gold one, and keeps the rationales that reach it (§3.1, following Ho et al., 2023). Every
answer goes to the crash-safe cache first (`kpod_lite.teacher.cache`), so a killed run resumes
where it stopped; the rationale file is rewritten whole from the cache's finished answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from tqdm.auto import tqdm

from filelock import FileLock, Timeout

from kpod_lite.data import Example, append_jsonl, write_jsonl
from kpod_lite.errors import IncompleteWork
from kpod_lite.teacher.cache import default_cache_path, split_cached
from kpod_lite.teacher.cleaning import grade
from kpod_lite.teacher.protocol import Rationale, TeacherBackend, TeacherError, TeacherRequest
from kpod_lite.templates import ZERO_SHOT_COT_PROMPT


@dataclass
class TeachReport:
    """What one `teach` run did. Every (question, sample) pair is exactly one of generated,
    reused or failed; every generated or reused one is kept or dropped."""

    teacher: str
    questions: int
    samples: int
    out: Path
    cache: Path
    generated: int = 0
    reused: int = 0
    failed: int = 0
    correct: int = 0
    kept: int = 0
    dropped: int = 0
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        answered = self.generated + self.reused
        accuracy = f"{self.correct}/{answered} teacher answers correct" if answered else "no teacher answers"
        failed = f"{self.failed} failed (in {self.cache.name}; rerun to retry)" if self.failed else "0 failed"
        return (
            f"{self.teacher} on {self.questions} questions x {self.samples} sample(s): "
            f"{self.generated} generated, {self.reused} reused from cache, {failed}; {accuracy}; "
            f"kept {self.kept}, dropped {self.dropped} with a wrong answer -> {self.out}"
        )


def teach(
    examples: Sequence[Example],
    backend: TeacherBackend,
    *,
    out: Path | str,
    cache: Path | str | None = None,
    samples: int = 1,
    temperature: float = 0.0,
    max_tokens: int = 256,
    seed: int = 0,
    filter_correct: bool = True,
    progress: bool = True,
) -> TeachReport:
    """Ask `backend` for `samples` rationales per question and write the ones to keep to `out`.

    Every answer is appended to `cache` (JSON Lines, flushed and synced) the moment it
    arrives, so a killed run loses only the requests in flight; the next run reuses every
    finished (id, sample) pair and asks only for the rest. The cache belongs to one teacher
    setting: use a new one for a new teacher, model or temperature. `out` is rewritten whole
    (atomically) with the records to keep, in question order: those whose answer matches the
    gold answer when `filter_correct` (Ho et al., 2023), every answered one otherwise.

    A run in which every request failed and nothing was cached raises `IncompleteWork` and
    writes no `out`: an empty rationale file would pass for a finished teacher. Fewer failures
    are counted in the report; `check_failures` says whether they are too many.
    """
    _check_requests(examples, samples)
    out = Path(out)
    cache = Path(cache) if cache is not None else default_cache_path(out)
    report = TeachReport(teacher=backend.name, questions=len(examples), samples=samples, out=out, cache=cache)
    cache.parent.mkdir(parents=True, exist_ok=True)
    # One writer per cache: two runs appending to one file would ask, and pay for, the same
    # questions twice and leave duplicate lines.
    lock = FileLock(f"{cache}.lock", timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise TeacherError(f"another teach run is writing {cache}; wait for it to finish, or give this run "
                           f"its own cache") from None
    try:
        results, requests = split_cached(cache, examples, samples)
        report.reused = len(examples) * samples - len(requests)  # every pair is reused or asked
        _ask_into_cache(backend, requests, cache, results, report, progress=progress,
                        temperature=temperature, max_tokens=max_tokens, seed=seed)
    finally:
        lock.release()
    if report.failed and not (report.generated or report.reused):
        raise IncompleteWork(f"every one of the {report.failed} teacher requests failed ({_first_error(report)}), "
                             f"so no rationale was written to {out}; fix what the error names (the server, "
                             f"the model, the key), then run the same command again")
    keep = _to_keep(examples, samples, results, filter_correct, report)
    report.kept = len(keep)
    write_jsonl(out, (r.to_record() for r in keep))
    return report


def _first_error(report: TeachReport) -> str:
    return f"first error: {report.failures[0]}" if report.failures else "no error recorded"


def check_failures(report: TeachReport, allowed_share: float = 0.0, retry: str = "run the same command again") -> None:
    """Raise `IncompleteWork` (exit code 1) unless the run did what it was asked: at most
    `allowed_share` of the (question, sample) requests failed, and at least one rationale was
    kept. The answers that arrived stay in the cache either way, so `retry` asks only the rest."""
    asked = report.questions * report.samples
    if asked and report.failed / asked > allowed_share:
        answered = report.generated + report.reused
        raise IncompleteWork(
            f"{report.failed} of {asked} teacher requests failed ({report.failed / asked:.1%}, more than the "
            f"{allowed_share:.1%} allowed; {_first_error(report)}). The {answered} answer(s) that arrived are kept "
            f"in {report.cache} and their rationales in {report.out}; {retry} to ask only the failed requests "
            f"again, or allow a share of failures (--allow-failed SHARE of teach and run)")
    if asked and report.kept == 0:
        raise IncompleteWork(f"no rationale was kept in {report.out}: none of the {report.generated + report.reused} "
                             f"teacher answers reached the gold answer (§3.1), so there is nothing to distil; check "
                             f"the questions' --format and answers, or keep them all (teach --keep-incorrect; "
                             f"for run: --set filter_correct=false)")


def _check_requests(examples: Sequence[Example], samples: int) -> None:
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    ids = [example.id for example in examples]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise TeacherError(f"question ids must be unique (the cache is keyed on them); {duplicate!r} repeats")


def _ask_into_cache(backend: TeacherBackend, requests: list[TeacherRequest], cache: Path,
                    results: dict[tuple[str, int], Rationale], report: TeachReport, *,
                    progress: bool, **sampling) -> None:
    """Send `requests`, appending each graded answer to `cache` as it arrives; the finished
    ones join `results`, the failed ones only the report (the next run asks them again)."""
    with tqdm(total=len(requests), desc=f"teacher {backend.name}", unit="rationale", disable=not progress) as bar:
        for request, output in backend.generate(requests, **sampling):
            # The prompted back-ends carry the <p> they asked with; the offline ones ask nothing.
            rationale = grade(request, output, backend.name, getattr(backend, "cot_prompt", ZERO_SHOT_COT_PROMPT))
            append_jsonl(cache, rationale.to_record())
            if rationale.failed:
                report.failed += 1
                report.failures.append(rationale.error)
            else:
                report.generated += 1
                results[(rationale.id, rationale.sample)] = rationale
            bar.update(1)


def _to_keep(examples: Sequence[Example], samples: int, results: dict[tuple[str, int], Rationale],
             filter_correct: bool, report: TeachReport) -> list[Rationale]:
    """The answered rationales in question order: the correct ones when `filter_correct` (Ho et al., 2023)."""
    keep = []
    for example in examples:
        for sample in range(samples):
            rationale = results.get((example.id, sample))
            if rationale is None:
                continue
            report.correct += rationale.correct
            if rationale.correct or not filter_correct:
                keep.append(rationale)
            else:
                report.dropped += 1
    return keep
