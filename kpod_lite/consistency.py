"""What one input file says about another: the same rationales, their step counts, c_i in range.

The files of KPOD's arrows are made from one another (rationales -> weights -> difficulties ->
schedule, Eq. 3, 8, 11), so each names the rationales it was made for, by (id, sample)
(`data.rationale_key`; "id#sample" in a schedule, `data.rationale_name`). Files given to a
command from two different runs, or one of them edited, disagree, and the disagreement would
be silent: records for other rationales ignored, a c_i larger than the rationale's step count
clipped to it. Each check here refuses it, naming the file, the line or field, and what to do.
`kpod-lite run` makes its files in one folder, so they agree by construction; the sub-commands
and `distill` (`distill.run.check_inputs`, before the student is loaded) check with these.
"""

from __future__ import annotations

from collections.abc import Iterable

from kpod_lite.data import rationale_key, rationale_name, split_steps
from kpod_lite.data.records import DataFormatError


def record_error(where: dict, field: str | None, message: str) -> DataFormatError:
    """The error for `field` of the record `where` (`weighting.records.record_origin`) points at."""
    return DataFormatError(where["path"], where["line"], field, message, record=where["record"])


def checked_key(where: dict, record: dict) -> tuple[str, int]:
    """`data.rationale_key` of a record, which checks its `id` and `sample`, with its errors
    naming where the record came from (`weighting.records.record_origin`)."""
    return rationale_key(record, path=where["path"], line=where["line"], label=where["record"])


def _source_of(pairs: list[tuple[dict, dict]], fallback: str) -> str:
    return pairs[0][0]["path"] if pairs else fallback


def check_known_rationales(records: Iterable[tuple[dict, dict]], rationales: list[tuple[dict, dict]],
                           what: str, made_by: str) -> None:
    """Refuse a record (of `what`: "token weight", "difficulty") for a rationale that is not
    among `rationales`: it was made for other rationales, and would be ignored.
    `records` and `rationales` are (origin, record) pairs (`weighting.records.record_origin`)."""
    known = {checked_key(where, record) for where, record in rationales}
    source = _source_of(rationales, "the rationale records")
    for where, record in records:
        if checked_key(where, record) not in known:
            raise record_error(where, "id", f"a {what} record for a rationale that is not in {source}: it was made "
                               f"for other rationales. Use the {what} file made from these rationales ({made_by})")


def check_step_counts(difficulties: Iterable[tuple[dict, dict]], rationales: list[tuple[dict, dict]]) -> None:
    """Refuse a difficulty record (Eq. 8) with another number of values than its rationale has
    steps (§3.4, `data.split_steps`): the schedule would give c_i past the rationale's end."""
    steps = {checked_key(where, record): len(split_steps(str(record.get("rationale", ""))))
             for where, record in rationales if "rationale" in record}
    for where, record in difficulties:
        key = checked_key(where, record)
        if key in steps and isinstance(record.get("difficulty"), list) and len(record["difficulty"]) != steps[key]:
            raise record_error(where, "difficulty", f"{len(record['difficulty'])} step difficulties for a rationale "
                               f"of {steps[key]} steps in {_source_of(rationales, 'the rationales')}: made for "
                               f"another rationale text; run kpod-lite difficulty on these rationales again")


def check_schedule_fits(schedule, rationales: list[tuple[dict, dict]], source: str) -> None:
    """Refuse a schedule (Eq. 11) that does not fit the rationales it will train: a c_i for a
    rationale not among them, a rationale without a c_i, or a c_i(t) larger than the
    rationale's number of steps (Eq. 14 would give more steps than there are)."""
    steps = {rationale_name(record): len(split_steps(str(record["rationale"]))) for _, record in rationales}
    rebuild = "rebuild the schedule from these rationales (kpod-lite difficulty, then kpod-lite schedule)"
    by_name = {rationale_name(record): where for where, record in rationales}
    for t, stage in enumerate(schedule.stages):
        c = {str(name): value for name, value in stage.c.items()}
        for name, value in c.items():
            if name not in steps:
                raise DataFormatError(source, None, f"stages[{t}].c[{name!r}]", f"a rationale that is not in "
                                      f"{_source_of(rationales, 'the rationales')}; {rebuild}")
            if value > steps[name]:
                raise DataFormatError(source, None, f"stages[{t}].c[{name!r}]", f"c_i = {value} input steps, but the "
                                      f"rationale has {steps[name]} step(s); {rebuild}")
        missing = [name for name in steps if name not in c]
        if missing:
            raise record_error(by_name[missing[0]], "id", f"no c_i for this rationale in stage {t} of {source} "
                               f"({len(missing)} rationale(s) without one); {rebuild}")
