"""Reasoning steps (§3.4): "we utilize the symbol '.' to separate steps in a rationale".

`split_steps` cuts there, minus the dots that do not end a sentence (decimals,
abbreviations, ellipses, list numbers), and keeps character offsets so that token weights
can be summed per step (Eq. 8).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    """One reasoning step of a rationale (§3.4): ``text == rationale[start:end]``."""

    text: str
    start: int
    end: int


# Abbreviations whose final "." never ends a sentence (a name or an example always follows) ...
_NEVER_FINAL = ("e.g.", "i.e.", "Mr.", "Mrs.", "Ms.", "Dr.", "vs.")
# ... and those that may: "apples, pears, etc. Then she ..." ends a sentence, while
# "apples, pears, etc. are fruit" does not. Ours: they end a step exactly when the next
# word starts with a capital (or nothing follows).
_MAYBE_FINAL = ("etc.", "a.m.", "p.m.")
ABBREVIATIONS = _NEVER_FINAL + _MAYBE_FINAL

_CLOSERS = "\"')]\u201d\u2019"  # a step keeps the quote or bracket its sentence closes
# "1." opening a line, or right after the step before ("... add them. 2. Double it."), numbers
# a list: joined list lines (a teacher's "1. ...\n2. ...") must not give a step "2." of its own.
_LIST_MARKER = re.compile(r"\s*[0-9]{1,3}")
# The markers that open a list item's line -- "1.", "2)", "3:", "(4)", "Step 5:", "-", "*", "•",
# one or more -- and the space after them; never one followed by an operator: "(3) + 4 = 7"
# opens a calculation. Teacher cleaning strips them, answer extraction reads past them.
LINE_MARKER = re.compile(
    r"(?:\s*(?:step\s*[0-9]{1,3}\s*[:.)]?|\(?[0-9]{1,2}\s*[.):]|[-*\u2022]))+\s+(?![-+*/\u00d7\u00f7=])",
    re.IGNORECASE,
)


def _abbreviation_ending_at(text: str, end: int) -> str | None:
    for abbreviation in ABBREVIATIONS:
        start = end - len(abbreviation)
        if start >= 0 and text[start:end].lower() == abbreviation.lower():
            if start == 0 or not text[start - 1].isalpha():
                return abbreviation
    return None


def _step_ends(text: str) -> Iterator[int]:
    """Offsets just after each sentence-ending "." (plus any closing quotes/brackets)."""
    previous_end = 0
    for dot in re.finditer(r"\.+", text):
        if len(dot.group()) > 1:  # an ellipsis: the thought goes on
            continue
        end = dot.end()
        while end < len(text) and text[end] in _CLOSERS:
            end += 1
        if end < len(text) and not text[end].isspace():  # "3.5", "e.g", "example.com"
            continue
        abbreviation = _abbreviation_ending_at(text, dot.end())
        if abbreviation in _NEVER_FINAL:
            continue
        if abbreviation in _MAYBE_FINAL:
            rest = text[end:].lstrip()
            if rest and not rest[0].isupper():
                continue
        line_start = text.rfind("\n", 0, dot.start()) + 1
        if _LIST_MARKER.fullmatch(text, max(line_start, previous_end), dot.start()):
            continue
        previous_end = end
        yield end


def split_steps(text: str) -> list[Step]:
    """Cut a rationale into reasoning steps at sentence-ending "." (§3.4, used by Eq. 8).

    A "." ends a step when whitespace or the end of the text follows it (after any closing
    quotes or brackets, which stay with the step), and it is not
    * part of a number -- "3.5", "$1.50", ".5" (a digit follows, so no space does);
    * part of an ellipsis "..." -- never a boundary, not even at its end;
    * the end of an abbreviation in `ABBREVIATIONS` -- "e.g.", "i.e.", "Mr.", "Mrs.", "Ms.",
      "Dr.", "vs." never end a step; "etc.", "a.m.", "p.m." end one only before a capital;
    * a list number opening a line or following the step before ("1. ", "Add. 2. Double.").
    "?" and "!" do not split, as in the paper. Text after the last boundary is a final step;
    text without a boundary is one step; empty or whitespace-only text has none. Each step
    keeps its "." and excludes the whitespace around it, which belongs to no step.
    """
    steps: list[Step] = []
    start = 0
    for end in [*_step_ends(text), len(text)]:
        piece = text[start:end]
        stripped = piece.strip()
        if stripped:
            step_start = start + (len(piece) - len(piece.lstrip()))
            steps.append(Step(stripped, step_start, step_start + len(stripped)))
        start = end
    return steps
