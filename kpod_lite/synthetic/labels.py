"""The labels a synthetic rationale's characters carry, and the words behind them.

Keypoint labels are the calculation (operands, operator, "=", result) and the instruction
words that Figure 2 of the paper shows weighted highly ("adding", "twice", "total"); the
planted fillers are the words §1 says a good weighting ignores ("just", "simply").
"""

from __future__ import annotations

from dataclasses import dataclass

# Ordered from noise to keypoint, the order a plot's legend should use.
LABELS = ("filler", "plain", "quantity", "number", "operator", "equals", "result")
KEYPOINT_LABELS = frozenset({"number", "operator", "equals", "result", "quantity"})

OPS = ("+", "-", "*", "/")

# Instruction words for each operation; they are the "adding", "dividing" cues of Figure 2.
OP_VERBS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}
OP_GERUNDS = {"+": "adding", "-": "subtracting", "*": "multiplying", "/": "dividing"}

# Every whole word of this set in a rationale's non-filler text is labelled "quantity".
QUANTITY_WORDS = frozenset(
    {"total", "twice", "times", "each", "remaining", "left", "altogether", "difference"}
    | set(OP_VERBS.values())
    | set(OP_GERUNDS.values())
)

# Filler phrases, grouped by where in a sentence a teacher LLM tends to put them.
OPENER_FILLERS = ("Okay,", "Now, let's see,")  # before the connector, which then drops its capital
LEAD_FILLERS = ("we can say that", "it is worth noting that")  # right after the connector
ADVERB_FILLERS = ("just", "simply", "basically", "actually", "really")  # before a verb
FILLER_PHRASES = OPENER_FILLERS + LEAD_FILLERS + ADVERB_FILLERS

# Factors are written in words in the rationale ("three times as many"), which keeps every
# digit of a rationale inside a calculation; so max_factor is at most 12.
_NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven",
                 8: "eight", 9: "nine", 10: "ten", 11: "eleven", 12: "twelve"}


@dataclass(frozen=True)
class Span:
    """Characters ``rationale[start:end]`` carry ``label`` (one of ``LABELS``)."""

    start: int
    end: int
    label: str


def spans_from_record(record_or_meta) -> tuple[Span, ...]:
    """The spans of a record, of its ``meta`` dict, or of a loaded ``Example`` (its ``.meta``)."""
    meta = getattr(record_or_meta, "meta", record_or_meta)
    if "spans" not in meta and "meta" in meta:
        meta = meta["meta"]
    return tuple(Span(int(start), int(end), str(label)) for start, end, label in meta["spans"])
