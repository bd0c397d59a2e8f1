"""The schedule record: D(0..T) and the stages of Eq. 11, and its JSON file (schedule.json).

Distillation asks it `Schedule.input_steps(epoch)`: the c_i that epoch gives the student as
input (Eq. 14). Algorithm 1 trains epochs e = 1..T on the scheduled c_i ("if e <= T") and every
later epoch on the complete rationale ("post-epoch T"): epoch e takes stage t = e - 1, so the
stages 0..T-1 are trained, and stage T, where D(T) reaches the maximum difficulty B (Eq. 10),
is the complete rationale that epochs T+1..N_e train on.

Schedules written by kpod-lite before it followed that mapping (they trained stage T at epoch
T + 1, one progressive epoch more) lack `params["progressive_epochs"]` and are refused, never
reinterpreted (`check_record`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path


# The epochs trained on scheduled input steps (= T, Algorithm 1), recorded in `Schedule.params`.
PROGRESSIVE_EPOCHS = "progressive_epochs"


@dataclass
class Stage:
    """One stage of Eq. 11: its budget ΔD(t), the spent ΔH(S(t)), S(t) and every c_i(t)."""

    t: int
    delta_D: float
    delta_H: float
    selected: list
    c: dict


@dataclass
class Schedule:
    """D(0..T) and the stages 0..T of Eq. 11; `input_steps(epoch)` gives c_i for an epoch.

    JSON: {"T", "D": [...], "stages": [{"t", "delta_D", "delta_H", "selected",
    "c": {id: c_i}}]} plus "ids" (so that ids keep their type: JSON object keys are strings),
    "progressive", "params" and "meta".
    """

    T: int
    D: list[float]
    stages: list[Stage]
    ids: list
    progressive: bool = True
    params: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    # Where it was read from (`load`), for the errors of the checks that use it; not part of
    # the schedule, so neither saved nor compared.
    source: str | None = field(default=None, compare=False, repr=False)

    def input_steps(self, epoch: int) -> dict:
        """c_i for training epoch `epoch`, counted from 0 (Algorithm 1's e = epoch + 1): the
        c_i(t) of stage t = epoch while e <= T, then 0, the complete rationale (module docstring)."""
        if epoch < 0:
            raise ValueError(f"epochs are counted from 0, got {epoch}")
        if not self.progressive or epoch >= self.T or not self.stages:
            return {i: 0 for i in self.ids}
        return dict(self.stages[epoch].c)

    def to_dict(self) -> dict:
        return {
            "T": self.T,
            "D": list(self.D),
            "stages": [
                {"t": s.t, "delta_D": s.delta_D, "delta_H": s.delta_H, "selected": list(s.selected),
                 "c": {str(i): c for i, c in s.c.items()}}
                for s in self.stages
            ],
            "ids": list(self.ids),
            "progressive": self.progressive,
            "params": dict(self.params),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, record: dict, source: str = "<schedule record>") -> "Schedule":
        """A schedule from its JSON form, checked first (`check_record`)."""
        check_record(record, source)
        stages = record.get("stages", [])
        ids = record.get("ids")
        if ids is None:  # a record written by hand or by another tool: ids stay strings
            ids = list(stages[0]["c"]) if stages else []
        by_name = {str(i): i for i in ids}
        return cls(
            T=int(record["T"]),
            D=[float(x) for x in record["D"]],
            stages=[
                Stage(t=int(s["t"]), delta_D=float(s["delta_D"]), delta_H=float(s["delta_H"]),
                      selected=list(s["selected"]),
                      c={by_name.get(k, k): int(v) for k, v in s["c"].items()})
                for s in stages
            ],
            ids=list(ids),
            progressive=bool(record.get("progressive", True)),
            params=dict(record.get("params", {})),
            meta=dict(record.get("meta", {})),
            source=source,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str, source: str = "<schedule JSON>") -> "Schedule":
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            from kpod_lite.data import DataFormatError

            raise DataFormatError(source, error.lineno, None, f"not a whole JSON schedule ({error.msg}); "
                                  "rebuild it with kpod-lite schedule") from None
        return cls.from_dict(record, source)

    def save(self, path: str | Path) -> Path:
        from kpod_lite.data import write_atomically

        path = Path(path)
        write_atomically(path, self.to_json())  # a schedule file that exists is a whole one
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Schedule":
        from kpod_lite.data import DataFormatError

        if Path(path).is_dir():
            raise DataFormatError(path, None, None, "is a directory: name the schedule.json file itself")
        try:
            text = Path(path).read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise DataFormatError(path, None, None, f"not UTF-8 text ({error.reason}): not a schedule, or damaged; "
                                  "rebuild it with kpod-lite schedule") from None
        return cls.from_json(text, str(path))


def check_record(record, source: str) -> None:
    """Refuse a schedule record KPOD cannot train with, naming the field (a hand-edited or cut
    file), so that `Schedule.from_dict` never meets a value it cannot read. The one check of a
    schedule file: it needs T >= 1; D, the curve D(0..T) of Eq. 10, as T + 1 finite numbers;
    one stage per epoch up to T, stage t saying its own t, its ΔD(t) and ΔH(S(t)) as finite
    numbers and S(t) (`selected`) as a list of its questions, and giving every question a whole
    number c_i >= 0 of input steps that never grows from a stage to the next (Eq. 11 only ever
    takes steps away); the optional `ids`, `progressive`, `params` and `meta` of the types
    `to_dict` writes."""
    from kpod_lite.data import DataFormatError

    def bad(field, message):
        return DataFormatError(source, None, field, message + "; rebuild it with kpod-lite schedule")

    if not isinstance(record, dict):
        raise bad(None, f"expected a JSON object, got {type(record).__name__}")
    for key in ("T", "D", "stages"):
        if key not in record:
            raise bad(key, "missing")
    T = record["T"]
    if not _whole(T) or T < 1:
        raise bad("T", f"must be a whole number >= 1, got {T!r}")
    D = record["D"]
    if not isinstance(D, list) or len(D) != T + 1:
        raise bad("D", f"must list D(0..T), {T + 1} numbers for T = {T}, got "
                  f"{f'{len(D)} value(s)' if isinstance(D, list) else repr(D)}")
    for t, value in enumerate(D):
        if not _finite(value):
            raise bad(f"D[{t}]", f"must be a finite number (Eq. 10), got {value!r}")
    for key, kind in (("progressive", bool), ("params", dict), ("meta", dict), ("ids", list)):
        if key in record and not isinstance(record[key], kind):
            raise bad(key, f"must be a {kind.__name__}, got {record[key]!r}")
    stages = record["stages"]
    progressive = record.get("progressive", True)
    if not isinstance(stages, list) or (progressive and stages and len(stages) < T):
        raise bad("stages", f"{len(stages) if isinstance(stages, list) else stages!r} stage(s) for T = {T}")
    params = record.get("params") or {}
    for key in ("epochs", PROGRESSIVE_EPOCHS):  # read by distill (`distill.run`) and by this check
        if key in params and (not _whole(params[key]) or params[key] < 0):
            raise bad(f"params.{key}", f"must be a whole number >= 0, got {params[key]!r}")
    method = (record.get("meta") or {}).get("method")
    if method is not None and not isinstance(method, str):
        raise bad("meta.method", f"must name the method the schedule was built for, got {method!r}")
    if progressive and stages and "epochs" in params and PROGRESSIVE_EPOCHS not in params:
        raise bad(f"params.{PROGRESSIVE_EPOCHS}", "missing: this schedule was made when epoch T + 1 still trained "
                  "stage T, one progressive epoch more than Algorithm 1; a student trained with it is stale too. "
                  "In a run folder, kpod-lite run --force rebuilds both (the teacher's cache is kept)")
    previous, names = {}, None
    for t, stage in enumerate(stages):
        c = stage.get("c") if isinstance(stage, dict) else None
        if not isinstance(c, dict):
            raise bad(f"stages[{t}].c", "missing: every stage gives each question its c_i")
        if names is not None and set(c) != names:
            missing = sorted(names - set(c)) or sorted(set(c) - names)
            raise bad(f"stages[{t}].c", f"not the questions of stage 0 (e.g. {missing[0]!r})")
        names = set(c)
        for i, value in c.items():
            if not _whole(value) or value < 0:
                raise bad(f"stages[{t}].c[{i!r}]", f"must be a whole number >= 0, got {value!r}")
            if i in previous and value > previous[i]:
                raise bad(f"stages[{t}].c[{i!r}]", f"grows from {previous[i]} to {value}: c_i(t) only ever falls "
                          "(Eq. 11)")
        previous = c
        _check_stage_fields(stage, t, names, bad)
    if "ids" in record:
        _check_ids(record["ids"], names, bad)


def _whole(value) -> bool:
    """An int that JSON wrote as a number (true and false are not numbers here)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_stage_fields(stage: dict, t: int, names: set, bad) -> None:
    """Stage t's own t, ΔD(t), ΔH(S(t)) and S(t) (Eq. 11), whose c the caller has checked."""
    if not _whole(stage.get("t")) or stage["t"] != t:
        raise bad(f"stages[{t}].t", f"must be {t}, the stage's place in the list, got {stage.get('t')!r}")
    for key in ("delta_D", "delta_H"):
        if not _finite(stage.get(key)):
            raise bad(f"stages[{t}].{key}", f"must be a finite number (Eq. 11), got {stage.get(key)!r}")
    selected = stage.get("selected")
    if not isinstance(selected, list):
        raise bad(f"stages[{t}].selected", f"must list the questions S(t) selected (Eq. 13), got {selected!r}")
    for k, name in enumerate(selected):
        if isinstance(name, (bool, dict, list)) or name is None or str(name) not in names:
            raise bad(f"stages[{t}].selected[{k}]", f"{name!r} is not one of the stage's questions (its c)")


def _check_ids(ids: list, names: set | None, bad) -> None:
    """`ids` (the questions with the type they had before JSON made them keys): distinct strings
    or numbers, and the questions of the stages when there are stages."""
    for k, i in enumerate(ids):
        if isinstance(i, (bool, dict, list)) or i is None:
            raise bad(f"ids[{k}]", f"must be a string or a number, got {i!r}")
    as_keys = [str(i) for i in ids]
    if len(set(as_keys)) != len(as_keys):
        raise bad("ids", f"{next(i for i in as_keys if as_keys.count(i) > 1)!r} twice")
    if names is not None and set(as_keys) != names:
        differ = sorted(set(as_keys) ^ names)
        raise bad("ids", f"not the questions of the stages (e.g. {differ[0]!r})")
