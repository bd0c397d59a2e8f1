"""Rendering a program as a zero-shot-CoT rationale (§3.1), with fillers planted and every
character labelled.

One sentence per step, so that splitting on "." as §3.4 does gives one reasoning step per
program step.
"""

from __future__ import annotations

import random
import re

from kpod_lite.synthetic.labels import (
    ADVERB_FILLERS,
    LEAD_FILLERS,
    OP_GERUNDS,
    OP_VERBS,
    OPENER_FILLERS,
    QUANTITY_WORDS,
    Span,
)
from kpod_lite.synthetic.problem import _check_rate
from kpod_lite.synthetic.programs import _operand_value

FIRST_CONNECTORS = ("first,", "first of all,")
MIDDLE_CONNECTORS = ("next,", "then,", "after that,")
LAST_CONNECTORS = ("finally,", "lastly,")

# One sentence per step. Words in braces are slots; {opener}, {lead} and {adverb} are filler
# slots, each filled with probability filler_rate and otherwise dropped with their space.
SENTENCE_FRAMES = (
    "{opener} {connector} {lead} we {adverb} need to {adverb} find {find}: {calculation}.",
    "{opener} {connector} to find {find}, {lead} we {adverb} {verb}: {calculation}.",
    "{opener} {connector} by {gerund}, {lead} we {adverb} find {find}: {calculation}.",
)

_SLOT = re.compile(r"\{(\w+)\}")
_WORD = re.compile(r"[A-Za-z]+")


def render_rationale(program: list, rng: random.Random, filler_rate: float) -> tuple[str, tuple[Span, ...]]:
    """Write ``program`` as a zero-shot-CoT rationale with planted fillers, and label it.

    Returns the rationale and its spans. The wording (connectors, sentence frames, units) and
    the fillers are drawn from ``rng``; the calculations are the program's stored results.
    """
    _check_rate("filler_rate", filler_rate)
    results = [step["result"] for step in program]
    pieces: list[tuple[str, str]] = []
    for index, step in enumerate(program):
        if index:
            pieces.append((" ", "plain"))
        pieces += _render_step(step, index, len(program), results, rng, filler_rate)
    return _label(pieces)


def _render_step(step, index, n_steps, results, rng, filler_rate) -> list[tuple[str, str]]:
    if index == 0:
        connector = rng.choice(FIRST_CONNECTORS)
    elif index == n_steps - 1:
        connector = rng.choice(LAST_CONNECTORS)
    else:
        connector = rng.choice(MIDDLE_CONNECTORS)
    a, b = (_operand_value(operand, results, index) for operand in step["operands"])
    calculation = [
        (str(a), "number"), (" ", "plain"), (step["op"], "operator"), (" ", "plain"),
        (str(b), "number"), (" ", "plain"), ("=", "equals"), (" ", "plain"),
        (str(step["result"]), "result"),
    ]
    if step["result"] != 1 and rng.random() < 0.5:  # teachers name the unit about half the time: "= 19 eggs."
        calculation += [(" ", "plain"), (step["unit"], "plain")]
    adverbs = rng.sample(ADVERB_FILLERS, 2)  # two different ones, in case both slots fill

    def filler(phrases: tuple[str, ...]) -> list[tuple[str, str]]:
        return [(rng.choice(phrases), "filler")] if rng.random() < filler_rate else []

    values = {"{connector}": connector, "{find}": step["find"],
              "{verb}": OP_VERBS[step["op"]], "{gerund}": OP_GERUNDS[step["op"]]}
    words: list[list[tuple[str, str]]] = []
    for template_word in rng.choice(SENTENCE_FRAMES).split(" "):
        slot = _SLOT.fullmatch(template_word)
        if slot and slot.group(1) == "opener":
            word = filler(OPENER_FILLERS)
        elif slot and slot.group(1) == "lead":
            word = filler(LEAD_FILLERS)
        elif slot and slot.group(1) == "adverb":
            word = [(adverbs.pop(), "filler")] if rng.random() < filler_rate else []
        else:
            word = []
            for part in re.split(r"(\{\w+\})", template_word):
                if part == "{calculation}":
                    word += calculation
                elif part:
                    word.append((values.get(part, part), "plain"))
        if word:
            words.append(word)
    pieces = words[0]
    for word in words[1:]:
        pieces += [(" ", "plain")] + word
    text, label = pieces[0]
    pieces[0] = (text[0].upper() + text[1:], label)
    return pieces


def _label(pieces: list[tuple[str, str]]) -> tuple[str, tuple[Span, ...]]:
    """Join labelled pieces, mark quantity words inside plain text, and merge equal neighbours."""
    spans: list[Span] = []
    position = 0

    def add(length: int, label: str) -> None:
        nonlocal position
        if length == 0:
            return
        if spans and spans[-1].label == label and spans[-1].end == position:
            spans[-1] = Span(spans[-1].start, position + length, label)
        else:
            spans.append(Span(position, position + length, label))
        position += length

    for text, label in pieces:
        if label != "plain":
            add(len(text), label)
            continue
        if any(character.isdigit() for character in text):
            raise ValueError(f"digits in connecting text {text!r}: every number must be labelled")
        cursor = 0
        for word in _WORD.finditer(text):
            if word.group().lower() in QUANTITY_WORDS:
                add(word.start() - cursor, "plain")
                add(word.end() - word.start(), "quantity")
                cursor = word.end()
        add(len(text) - cursor, "plain")
    return "".join(text for text, _ in pieces), tuple(spans)
