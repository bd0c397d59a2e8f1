"""The schedule record: D(0..T) and the stages of Eq. 11, and its JSON file (schedule.json).

Distillation asks it `Schedule.input_steps(epoch)`: the c_i that epoch gives the student as
input (Eq. 14), c_i(t) up to stage T and 0 after it (App. B).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


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

    JSON (DESIGN.md): {"T", "D": [...], "stages": [{"t", "delta_D", "delta_H", "selected",
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
        """c_i for training epoch `epoch` (0-based): c_i(epoch) up to T, then 0 (App. B)."""
        if epoch < 0:
            raise ValueError(f"epochs are counted from 0, got {epoch}")
        if not self.progressive or epoch > self.T or not self.stages:
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
    def from_dict(cls, record: dict) -> "Schedule":
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
    def from_json(cls, text: str) -> "Schedule":
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        from kpod_lite.data import write_atomically

        path = Path(path)
        write_atomically(path, self.to_json())  # a schedule file that exists is a whole one
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Schedule":
        return cls.from_json(Path(path).read_text())
