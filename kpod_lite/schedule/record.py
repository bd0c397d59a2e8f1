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
        if Path(path).is_dir():
            from kpod_lite.data import DataFormatError

            raise DataFormatError(path, None, None, "is a directory: name the schedule.json file itself")
        return cls.from_json(Path(path).read_text(encoding="utf-8"), str(path))


def check_record(record, source: str) -> None:
    """Refuse a schedule record KPOD cannot train with, naming the field (a hand-edited or cut
    file): it needs T >= 1, the curve D and one stage per epoch up to T, each giving every
    question a whole number c_i >= 0 of input steps that never grows from a stage to the next
    (Eq. 11 only ever takes steps away)."""
    from kpod_lite.data import DataFormatError

    def bad(field, message):
        return DataFormatError(source, None, field, message + "; rebuild it with kpod-lite schedule")

    if not isinstance(record, dict):
        raise bad(None, f"expected a JSON object, got {type(record).__name__}")
    for key in ("T", "D", "stages"):
        if key not in record:
            raise bad(key, "missing")
    if isinstance(record["T"], bool) or not isinstance(record["T"], int) or record["T"] < 1:
        raise bad("T", f"must be a whole number >= 1, got {record['T']!r}")
    stages = record["stages"]
    if not isinstance(stages, list) or (record.get("progressive", True) and stages and len(stages) < record["T"]):
        raise bad("stages", f"{len(stages) if isinstance(stages, list) else stages!r} stage(s) for T = {record['T']}")
    params = record.get("params") or {}
    if record.get("progressive", True) and stages and "epochs" in params and PROGRESSIVE_EPOCHS not in params:
        raise bad(f"params.{PROGRESSIVE_EPOCHS}", "missing: this schedule was made when epoch T + 1 still trained "
                  "stage T, one progressive epoch more than Algorithm 1; a student trained with it is stale too. "
                  "In a run folder, kpod-lite run --force rebuilds both (the teacher's cache is kept)")
    previous, ids = {}, None
    for t, stage in enumerate(stages):
        c = stage.get("c") if isinstance(stage, dict) else None
        if not isinstance(c, dict):
            raise bad(f"stages[{t}].c", "missing: every stage gives each question its c_i")
        if ids is not None and set(c) != ids:
            missing = sorted(ids - set(c)) or sorted(set(c) - ids)
            raise bad(f"stages[{t}].c", f"not the questions of stage 0 (e.g. {missing[0]!r})")
        ids = set(c)
        for i, value in c.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise bad(f"stages[{t}].c[{i!r}]", f"must be a whole number >= 0, got {value!r}")
            if i in previous and value > previous[i]:
                raise bad(f"stages[{t}].c[{i!r}]", f"grows from {previous[i]} to {value}: c_i(t) only ever falls "
                          "(Eq. 11)")
        previous = c
