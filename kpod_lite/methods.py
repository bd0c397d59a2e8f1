"""The distillation methods: KPOD, its Table 2 ablations and the plain CoT baseline, in one table.

Each method is four switches, one per KPOD component (Feng et al., ICML 2024, Table 2):

=============  =============  =======================  =============  =================
method         token weights  step difficulty (Eq. 8)  diversity      progressive c_i
               (Eq. 15)                                (β, Eq. 12)    (Eq. 14)
=============  =============  =======================  =============  =================
kpod           w_j            weighted by softmax(w)   β              schedule
w.o.-sig       all 1          weighted                 β              schedule
w.o.-sig-dif   w_j            unweighted mean NLL      β              schedule
w.o.-div       w_j            weighted                 0              schedule
w.o.-prog      w_j            --                       --             c_i = 0 always
plain-cot      all 1          --                       --             c_i = 0 always
=============  =============  =======================  =============  =================

plain-cot is Fine-tune-CoT (Ho et al., 2023): Eq. 1, every token counting the same, whole
rationales from the first epoch. Every stage reads what it builds from this table (the
config's `method`), and the pipeline derives from it which difficulty files and schedules a
set of methods needs (`Method.difficulty_file`, `Method.schedule_file`).

>>> METHODS["w.o.-div"].schedule_file, METHODS["w.o.-sig"].schedule_file, METHODS["plain-cot"].schedule_file
('schedule.w.o.-div.json', 'schedule.json', None)
"""

from __future__ import annotations

from dataclasses import dataclass

from kpod_lite.errors import ConfigError

__all__ = ["Method", "METHODS", "ABLATIONS", "method_named"]


@dataclass(frozen=True)
class Method:
    """One row of Table 2 (module docstring)."""

    name: str
    row: str  # how the results table names it
    token_weights: bool  # Eq. 15 weights w_j; False: every token 1 (Eq. 1)
    weighted_difficulty: bool  # Eq. 8 with softmax(w); False: the mean NLL of the step
    diversity: bool  # the β term of Eq. 12; False: β = 0
    progressive: bool  # c_i(t) from the schedule (Eq. 14); False: c_i = 0, whole rationales

    @property
    def difficulty_file(self) -> str | None:
        """The run folder's step-difficulty file this method's schedule is built from."""
        if not self.progressive:
            return None
        return "difficulty.jsonl" if self.weighted_difficulty else "difficulty.w.o.-sig-dif.jsonl"

    @property
    def schedule_file(self) -> str | None:
        """The run folder's schedule this method trains with (None: no schedule). Methods
        whose schedules would be built alike share the file (KPOD and w.o.-sig)."""
        if not self.progressive:
            return None
        if self.weighted_difficulty and self.diversity:
            return "schedule.json"
        return f"schedule.{self.name}.json"


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("plain-cot", "plain CoT distillation (Eq. 1)", token_weights=False, weighted_difficulty=True,
           diversity=True, progressive=False),
    Method("kpod", "KPOD (Eq. 15)", token_weights=True, weighted_difficulty=True, diversity=True, progressive=True),
    Method("w.o.-sig", "KPOD w.o.-sig", token_weights=False, weighted_difficulty=True, diversity=True,
           progressive=True),
    Method("w.o.-sig-dif", "KPOD w.o.-sig-dif", token_weights=True, weighted_difficulty=False, diversity=True,
           progressive=True),
    Method("w.o.-div", "KPOD w.o.-div", token_weights=True, weighted_difficulty=True, diversity=False,
           progressive=True),
    Method("w.o.-prog", "KPOD w.o.-prog", token_weights=True, weighted_difficulty=True, diversity=True,
           progressive=False),
)}

# Table 2's variants and the plain CoT baseline, in the table's order.
ABLATIONS = tuple(METHODS)


def method_named(name: str) -> Method:
    """The method called `name`; an unknown name is an error that lists the known ones."""
    if name not in METHODS:
        raise ConfigError(f"unknown distillation method {name!r}; choose one of {list(METHODS)}")
    return METHODS[name]
