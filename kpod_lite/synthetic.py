"""Synthetic multi-step word problems whose rationales come with known keypoint labels.

KPOD's first component (§3.3) learns, without any labels, which rationale tokens matter: a
weight generator is trained to mask as many tokens as it can (L_m, Eq. 6) while the answer
can still be derived from the masked rationale (L_p, Eq. 5). On GSM8K the paper can only
*show* that this works, with heat maps (§4.5, Figure 2): digits and operators get the
highest weights, instruction words such as "twice", "total", "adding", "dividing" get high
weights, and words like "can", "say", "got" get low ones. Its introduction (§1) names the
tokens a good weighting should ignore: in "Next, we just need to simply add up the calories
from the lettuce and cucumber: 30 + 80 = 110", the words "just" and "simply" carry no
reasoning, the calculation "30 + 80 = 110" is the keypoint.

This module writes problems where that split is *known*. Each problem is a GSM8K-style
story (shopping, baking, savings, a trip, a farm, a classroom, a library, a garden) whose
2 to 4 arithmetic steps are kept as a small **program**; the rationale is rendered from the
program the way a teacher LLM answers a zero-shot CoT prompt (§3.1), one sentence per step,
with filler words planted at random; and every character of the rationale gets a label.
Because the labels are ground truth, the course can score mask learning with AUROC
(keypoint tokens against the rest) instead of eyeballing a heat map.

For example, ``generate_dataset(8)[7]`` (seed 0)::

    Omar has 7 dollars in a piggy bank. After that, Omar earns 11 more dollars. Omar
    shares them equally among 3 classmates. How many dollars does each classmate get?

    First of all, by adding, it is worth noting that we simply find how many dollars Omar
    has in total: 7 + 11 = 18. Finally, by dividing, we actually find how many dollars
    each classmate gets: 18 / 3 = 6 dollars.

The labels, one per character span (the spans tile the rationale, no gaps, no overlaps):

========== ================================================================= ========
label      what                                                              keypoint
========== ================================================================= ========
number     the digits of an operand: "7" and "11" above                      yes
operator   "+", "-", "*" or "/" of a calculation                             yes
equals     the "=" of a calculation                                          yes
result     the digits of the computed result: "18" above                     yes
quantity   instruction and quantity words (``QUANTITY_WORDS``): "adding"     yes
filler     a planted filler phrase (``FILLER_PHRASES``): "simply", "Okay,"   no
plain      everything else: connecting words, names, units, spaces, ":", "." no
========== ================================================================= ========

A filler span is exactly the planted phrase, with its own punctuation ("Okay,",
"Now, let's see,") and without the space on either side, which stays "plain". Names
("Omar") are plain here although Figure 2 shows them weighted highly: their importance is
real but graded, and this generator only labels what is unambiguous.

The rationale uses "." only at the end of a sentence (no decimals, no abbreviations), so
splitting it on "." as §3.4 does yields exactly one reasoning step per sentence. It does
not end with "Therefore, the answer is ...": the teacher (``kpod_lite.teacher``) appends that.

The program is kept in each record so a teacher can re-render the same reasoning with other
filler choices (``render_rationale`` with another ``random.Random``), and can simulate a
wrong teacher with ``perturb_program``, which plants one arithmetic slip; the §3.1 filter on
answer correctness should then drop that rationale.

Regenerate the shipped splits (``data_samples/synthetic``) with::

    python -m kpod_lite.synthetic --out data_samples/synthetic --seed 0 --train 400 --validation 100 --test 100
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

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


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_rate(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")


@dataclass(frozen=True)
class SyntheticConfig:
    """Difficulty knobs of the generator.

    For a tiny student the arithmetic, not the language, is what is hard, so:

    - ``min_steps``/``max_steps``: steps per problem, drawn uniformly. More steps means a
      longer chain in which one slip spoils the answer, and more steps for §3.4 to order.
    - ``max_operand``: the largest number the question gives. Bigger numbers mean
      more digits to get exactly right, and bigger intermediate results.
    - ``max_factor``: multipliers and divisors are drawn from [2, max_factor] (at most 12,
      so that "three times as many" can be written in words). Products grow fastest with it.
    - ``ops``: which of "+", "-", "*", "/" may appear. Addition alone is easiest;
      multiplication and division make results jump in size.
    - ``filler_rate``: the chance that each filler slot of a sentence gets a filler phrase.
      It does not change the arithmetic, only how much of the rationale is noise that token
      weighting (§3.3) should learn to ignore.
    - ``distractor_rate``: the chance that the question gets one irrelevant sentence with a
      number in it ("Ana is 9 years old."), which a student must learn not to use.
    """

    min_steps: int = 2
    max_steps: int = 4
    max_operand: int = 20
    max_factor: int = 5
    ops: tuple[str, ...] = OPS
    filler_rate: float = 0.3
    distractor_rate: float = 0.2

    def __post_init__(self) -> None:
        problems = []
        for name in ("min_steps", "max_steps", "max_operand", "max_factor"):
            if not _is_int(getattr(self, name)):
                problems.append(f"{name} must be an int, got {getattr(self, name)!r}")
        if not problems:
            if self.min_steps < 1:
                problems.append(f"min_steps must be >= 1, got {self.min_steps}")
            if self.max_steps < self.min_steps:
                problems.append(f"max_steps must be >= min_steps ({self.min_steps}), got {self.max_steps}")
            if self.max_operand < 2:
                problems.append(f"max_operand must be >= 2, got {self.max_operand}")
            if not 2 <= self.max_factor <= max(_NUMBER_WORDS):
                problems.append(f"max_factor must lie in [2, {max(_NUMBER_WORDS)}], got {self.max_factor}")
        if isinstance(self.ops, str) or not all(isinstance(op, str) for op in self.ops):
            problems.append(f"ops must be a collection of operator strings, got {self.ops!r}")
        else:
            unknown = sorted(set(self.ops) - set(OPS))
            if unknown or not self.ops:
                problems.append(f"ops must be a non-empty subset of {OPS}, got {tuple(self.ops)!r}")
            else:
                # One canonical order, so equal configs compare (and hash) equal.
                object.__setattr__(self, "ops", tuple(op for op in OPS if op in self.ops))
        for name in ("filler_rate", "distractor_rate"):
            try:
                _check_rate(name, getattr(self, name))
            except ValueError as error:
                problems.append(str(error))
        if problems:
            raise ValueError("invalid SyntheticConfig: " + "; ".join(problems))


@dataclass(frozen=True)
class SyntheticProblem:
    """One generated problem: the question, its answer, the program and the labelled rationale."""

    id: str
    question: str
    answer: str
    program: list
    rationale: str
    spans: tuple[Span, ...]

    def to_record(self) -> dict:
        """The JSON Lines record, loadable by ``kpod_lite.data.load_examples(path, "kpod")``."""
        return {
            "id": self.id,
            "dataset": "synthetic",
            "question": self.question,
            "answer": self.answer,
            "meta": {
                "program": copy.deepcopy(self.program),
                "rationale": self.rationale,
                "spans": [[span.start, span.end, span.label] for span in self.spans],
            },
        }


def spans_from_record(record_or_meta) -> tuple[Span, ...]:
    """The spans of a record, of its ``meta`` dict, or of a loaded ``Example`` (its ``.meta``)."""
    meta = getattr(record_or_meta, "meta", record_or_meta)
    if "spans" not in meta and "meta" in meta:
        meta = meta["meta"]
    return tuple(Span(int(start), int(end), str(label)) for start, end, label in meta["spans"])


# --- programs: the arithmetic behind a problem ---------------------------------------------
#
# A program is a JSON-serialisable list of steps, one per rationale sentence:
#   {"op": "+", "operands": [{"given": 12}, {"step": 0}], "result": 19,
#    "unit": "eggs", "find": "how many eggs Ana has in total"}
# An operand is a number given in the question or the result of an earlier step.


def apply_op(op: str, a: int, b: int) -> int:
    """``a op b`` for the four operations; division must be exact."""
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if b == 0 or a % b:
            raise ValueError(f"{a} / {b} is not an exact integer division")
        return a // b
    raise ValueError(f"unknown operation {op!r}, expected one of {OPS}")


def _operand_value(operand: dict, results: list[int], step_index: int) -> int:
    if "given" in operand:
        return operand["given"]
    ref = operand["step"]
    if not 0 <= ref < step_index:
        raise ValueError(f"step {step_index} refers to step {ref}, which does not come before it")
    return results[ref]


def evaluate_program(program: list) -> list[int]:
    """The correct result of every step, recomputed from the operands (stored results ignored)."""
    results: list[int] = []
    for index, step in enumerate(program):
        a, b = (_operand_value(operand, results, index) for operand in step["operands"])
        results.append(apply_op(step["op"], a, b))
    return results


def perturb_program(program: list, rng: random.Random) -> list:
    """A copy of ``program`` with one arithmetic slip, as a fallible teacher would make it.

    One step's stored result is moved off by a small amount (1, 2 or 10), and every later step
    is recomputed from the slipped value, so the rendered rationale has exactly one wrong
    calculation and a wrong final answer. Later divisions stay exact and results stay
    non-negative. ``render_rationale`` renders the stored results, slip included.
    """
    correct_answer = evaluate_program(program)[-1]
    candidates = [(index, delta) for index in range(len(program)) for delta in (1, -1, 2, -2, 10, -10)]
    rng.shuffle(candidates)
    for index, delta in candidates:
        slipped = copy.deepcopy(program)
        results: list[int] = []
        try:
            for i, step in enumerate(slipped):
                a, b = (_operand_value(operand, results, i) for operand in step["operands"])
                step["result"] = apply_op(step["op"], a, b) + (delta if i == index else 0)
                if step["result"] < 0:
                    raise ValueError("negative result")
                results.append(step["result"])
        except ValueError:
            continue  # this slip makes a later step impossible; try another
        if results[-1] != correct_answer:
            return slipped
    raise AssertionError("unreachable: adding 1 to the last result always changes the answer")


# --- rendering a rationale ----------------------------------------------------------------

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


# --- writing a question ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Scenario:
    name: str
    items: tuple[str, ...]
    start: str  # the sentence that gives the first number, with {owner}, {n}, {item}
    gain: tuple[str, ...]  # verbs for getting more
    loss: tuple[str, ...]  # verbs for getting fewer
    containers: tuple[str, ...]


SCENARIOS = (
    _Scenario("shopping", ("apples", "oranges", "candles", "notebooks"),
              "{owner} buys {n} {item} at the market.", ("buys", "picks up"),
              ("returns", "gives away"), ("bags", "baskets")),
    _Scenario("baking", ("cookies", "muffins", "cupcakes", "pies"),
              "{owner} bakes {n} {item} in the morning.", ("bakes", "makes"),
              ("eats", "sells", "gives away"), ("trays", "boxes")),
    _Scenario("savings", ("dollars",),
              "{owner} has {n} {item} in a piggy bank.", ("saves", "earns"),
              ("spends", "gives away"), ("jars", "envelopes")),
    _Scenario("travel", ("postcards", "photos", "souvenirs"),
              "{owner} collects {n} {item} on a trip.", ("collects", "buys"),
              ("sends", "gives away"), ("albums", "envelopes")),
    _Scenario("farm", ("eggs", "apples", "carrots", "potatoes"),
              "{owner} collects {n} {item} on the farm.", ("collects", "harvests"),
              ("sells", "gives away"), ("baskets", "crates")),
    _Scenario("classroom", ("pencils", "stickers", "crayons", "markers"),
              "{owner} has {n} {item} in class.", ("gets", "receives"),
              ("loses", "lends out"), ("boxes", "cups")),
    _Scenario("library", ("books", "magazines", "comics"),
              "{owner} borrows {n} {item} from the library.", ("borrows", "finds"),
              ("returns", "gives away"), ("boxes", "shelves")),
    _Scenario("garden", ("tulips", "roses", "sunflowers", "tomatoes"),
              "{owner} grows {n} {item} in the garden.", ("grows", "plants"),
              ("picks", "gives away"), ("pots", "rows")),
)

NAMES = ("Ana", "Ben", "Carlos", "Dina", "Emma", "Farid", "Grace", "Hugo", "Iris", "Jamal",
         "Kenji", "Lena", "Maya", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tom")
RECIPIENTS = (("friends", "friend"), ("cousins", "cousin"), ("classmates", "classmate"),
              ("neighbors", "neighbor"), ("teammates", "teammate"))
DISTRACTORS = ("{name} is {n} years old.", "{name} lives {n} blocks from school.",
               "{name}'s favorite number is {n}.", "It takes {name} {n} minutes to get ready.")

# Which operation each kind of step uses, to respect SyntheticConfig.ops.
_MOVE_OPS = {"gain": "+", "loss": "-", "times": "*", "groups": "*", "share": "/",
             "altogether": "+", "difference": "-"}


def _times_as_many(factor: int) -> str:
    return "twice" if factor == 2 else f"{_NUMBER_WORDS[factor]} times"


def generate_problem(rng: random.Random, config: SyntheticConfig, id: str) -> SyntheticProblem:
    """One problem drawn from ``rng``: question, program, answer and the labelled rationale."""
    for _ in range(200):  # restrictive ops (say, only "/") can leave no move; draw again
        drawn = _draw_story(rng, config)
        if drawn is not None:
            break
    else:
        raise ValueError(f"could not build a problem with {config}; allow more operations or bigger numbers")
    question, program = drawn
    rationale, spans = render_rationale(program, rng, config.filler_rate)
    answer = str(evaluate_program(program)[-1])
    return SyntheticProblem(id, question, answer, program, rationale, spans)


def _draw_story(rng: random.Random, config: SyntheticConfig):
    """A question and its program, or None when the drawn story runs out of allowed moves."""
    scenario = rng.choice(SCENARIOS)
    item = rng.choice(scenario.items)
    name, *others = rng.sample(NAMES, len(NAMES))
    n_steps = rng.randint(config.min_steps, config.max_steps)
    allowed = {move for move, op in _MOVE_OPS.items() if op in config.ops}
    story = _Story(scenario, item, name, others, owner=name)
    for index in range(n_steps):
        if index == 0:
            move = _first_move(story, rng, config, allowed)
        else:
            move = _next_move(story, rng, config, allowed, last=index == n_steps - 1)
        if move is None:
            return None
        _MOVES[move](story, rng, config)
    final = _final_question(story, move)
    if rng.random() < config.distractor_rate:
        distractor = rng.choice(DISTRACTORS).format(name=name, n=rng.randint(2, config.max_operand))
        story.sentences.insert(rng.randint(0, len(story.sentences)), distractor)
    question = " ".join(sentence[0].upper() + sentence[1:] for sentence in story.sentences + [final])
    return question, story.program


@dataclass
class _Story:
    """A question being written: its sentences, its program, and where the count stands."""

    scenario: _Scenario
    item: str
    name: str  # the first owner, whose containers a "groups" step fills
    others: list[str]  # names not in the story yet, for "times" steps to bring in
    owner: str = ""  # whose count the next sentence changes
    value: int | None = None  # the running count and how a step refers to it
    operand: dict | None = None
    pair: tuple | None = None  # (other owner, their operand, their count) after a "times" step, for a final comparison
    sentences: list[str] = field(default_factory=list)
    program: list[dict] = field(default_factory=list)

    def step(self, op: str, operands: list, result: int, find: str) -> None:
        """Add a program step; its result becomes the running count."""
        self.program.append({"op": op, "operands": operands, "result": result, "unit": self.item, "find": find})
        self.value, self.operand = result, {"step": len(self.program) - 1}


def _first_move(story: _Story, rng: random.Random, config: SyntheticConfig, allowed: set) -> str | None:
    """The first step starts from a number in the question; "groups" gives two at once."""
    moves = [move for move in ("gain", "loss", "times", "share", "groups") if move in allowed]
    if not moves:
        return None
    move = rng.choice(moves)
    M, F = config.max_operand, config.max_factor
    if move == "share":  # choose the first count divisible, so a first division is possible
        divisor = rng.randint(2, min(F, M))
        story.value = divisor * rng.randint(1, M // divisor)
    else:
        story.value = rng.randint(2, M)
    story.operand = {"given": story.value}
    if move != "groups":
        story.sentences.append(story.scenario.start.format(owner=story.name, n=story.value, item=story.item))
    return move


def _next_move(story: _Story, rng: random.Random, config: SyntheticConfig, allowed: set, last: bool) -> str | None:
    """A later step: only the moves the running count allows (a loss needs 2 or more, a share
    a divisor), and a comparison with the "times" pair only as the last step."""
    value = story.value
    moves = ["gain"]
    if value >= 2:
        moves.append("loss")
    if story.others:
        moves.append("times")
    if any(value % d == 0 for d in range(2, min(config.max_factor, value) + 1)):
        moves.append("share")
    if last and story.pair is not None:
        moves.append("altogether")
        if value > story.pair[2]:
            moves.append("difference")
    moves = [move for move in moves if move in allowed]
    return rng.choice(moves) if moves else None


def _gain(story: _Story, rng: random.Random, config: SyntheticConfig) -> None:
    n = rng.randint(2, config.max_operand)  # from 2, so that "more {item}" is always a plural
    template = rng.choice(("Then {o} {v} {n} more {i}.", "After that, {o} {v} {n} more {i}."))
    story.sentences.append(template.format(o=story.owner, v=rng.choice(story.scenario.gain), n=n, i=story.item))
    find = rng.choice(("how many {i} {o} has in total", "the total number of {i} {o} has"))
    story.step("+", [story.operand, {"given": n}], story.value + n, find.format(i=story.item, o=story.owner))


def _loss(story: _Story, rng: random.Random, config: SyntheticConfig) -> None:
    n = rng.randint(1, min(story.value - 1, config.max_operand))
    template = rng.choice(("{o} {v} {n} of them.", "{o} {v} {n} {i}."))
    if n == 1:  # "gives away 1 of them", never "1 eggs"
        template = "{o} {v} {n} of them."
    story.sentences.append(template.format(o=story.owner, v=rng.choice(story.scenario.loss), n=n, i=story.item))
    find = rng.choice(("how many {i} {o} has left", "the number of {i} remaining"))
    story.step("-", [story.operand, {"given": n}], story.value - n, find.format(i=story.item, o=story.owner))


def _times(story: _Story, rng: random.Random, config: SyntheticConfig) -> None:
    factor = rng.randint(2, config.max_factor)
    friend, owner, item = story.others.pop(), story.owner, story.item
    story.sentences.append(f"{friend} has {_times_as_many(factor)} as many {item} as {owner}.")
    # Comparing with "each friend" reads badly, so only a named owner can be compared.
    story.pair = None if owner.startswith("each ") else (owner, story.operand, story.value)
    find = f"how many {item} {friend} has, {_times_as_many(factor)} as many as {owner}"
    story.step("*", [story.operand, {"given": factor}], story.value * factor, find)
    story.owner = friend


def _groups(story: _Story, rng: random.Random, config: SyntheticConfig) -> None:
    boxes, per_box = rng.randint(2, config.max_factor), rng.randint(2, config.max_operand)
    container = rng.choice(story.scenario.containers)
    story.sentences.append(f"{story.name} fills {boxes} {container} with {per_box} {story.item} each.")
    find = f"the total number of {story.item} in all the {container}"
    story.step("*", [{"given": boxes}, {"given": per_box}], boxes * per_box, find)


def _share(story: _Story, rng: random.Random, config: SyntheticConfig) -> None:
    value = story.value
    divisor = rng.choice([d for d in range(2, min(config.max_factor, value) + 1) if value % d == 0])
    # Never "each cousin shares them among 3 cousins": the new recipients are other people.
    plural, singular = rng.choice([r for r in RECIPIENTS if story.owner != f"each {r[1]}"])
    story.sentences.append(f"{story.owner} shares them equally among {divisor} {plural}.")
    story.step("/", [story.operand, {"given": divisor}], value // divisor,
               f"how many {story.item} each {singular} gets")
    story.owner, story.pair = f"each {singular}", None


def _altogether(story: _Story, rng: random.Random, config: SyntheticConfig) -> None:
    other, their_operand, their_count = story.pair
    story.step("+", [their_operand, story.operand], their_count + story.value,
               f"how many {story.item} {other} and {story.owner} have altogether")


def _difference(story: _Story, rng: random.Random, config: SyntheticConfig) -> None:
    other, their_operand, their_count = story.pair
    story.step("-", [story.operand, their_operand], story.value - their_count,
               f"the difference between the {story.item} of {story.owner} and {other}")


# One function per kind of step; each writes its sentence and adds its program step.
_MOVES = {"gain": _gain, "loss": _loss, "times": _times, "groups": _groups, "share": _share,
          "altogether": _altogether, "difference": _difference}
assert _MOVES.keys() == _MOVE_OPS.keys()


def _final_question(story: _Story, last_move: str) -> str:
    """What the question asks for, which is what its last step computes."""
    item, owner = story.item, story.owner
    if last_move == "altogether":
        return f"How many {item} do {story.pair[0]} and {owner} have altogether?"
    if last_move == "difference":
        return f"How many more {item} does {owner} have than {story.pair[0]}?"
    if last_move == "share":
        return f"How many {item} does {owner} get?"
    return f"How many {item} does {owner} have now?"


# --- data sets and the shipped splits -----------------------------------------------------


def generate_dataset(n: int, seed: int = 0, config: SyntheticConfig = SyntheticConfig(),
                     prefix: str = "syn") -> list[SyntheticProblem]:
    """``n`` problems with distinct questions, ids ``{prefix}-00000``, ..., all drawn from ``seed``."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    problems: list[SyntheticProblem] = []
    seen: set[str] = set()
    attempts = 0
    while len(problems) < n:
        attempts += 1
        if attempts > 100 * n + 1000:
            raise ValueError(f"only {len(problems)} distinct questions in {attempts} draws; widen {config}")
        problem = generate_problem(rng, config, f"{prefix}-{len(problems):05d}")
        if problem.question not in seen:  # duplicates would leak between train and test
            seen.add(problem.question)
            problems.append(problem)
    return problems


DEFAULT_SIZES = {"train": 400, "validation": 100, "test": 100}


def write_splits(out_dir, sizes: dict = DEFAULT_SIZES, seed: int = 0,
                 config: SyntheticConfig = SyntheticConfig()) -> dict[str, Path]:
    """Write ``{split}.jsonl`` for each split; returns the paths.

    All splits are cut, in the order of ``sizes``, from one data set of distinct questions,
    so no question appears in two splits, and ids are unique across them.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    problems = generate_dataset(sum(sizes.values()), seed, config)
    paths, start = {}, 0
    for split, size in sizes.items():
        path = out_dir / f"{split}.jsonl"
        lines = [json.dumps(problem.to_record(), ensure_ascii=False) + "\n"
                 for problem in problems[start:start + size]]
        path.write_text("".join(lines), encoding="utf-8")
        paths[split], start = path, start + size
    return paths


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kpod_lite.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="data_samples/synthetic", help="folder for the .jsonl splits")
    parser.add_argument("--seed", type=int, default=0)
    for split, size in DEFAULT_SIZES.items():
        parser.add_argument(f"--{split}", type=int, default=size, help=f"problems in {split}.jsonl")
    defaults = SyntheticConfig()
    parser.add_argument("--min-steps", type=int, default=defaults.min_steps)
    parser.add_argument("--max-steps", type=int, default=defaults.max_steps)
    parser.add_argument("--max-operand", type=int, default=defaults.max_operand)
    parser.add_argument("--max-factor", type=int, default=defaults.max_factor)
    parser.add_argument("--ops", default="".join(defaults.ops), help='allowed operations, e.g. "+-"')
    parser.add_argument("--filler-rate", type=float, default=defaults.filler_rate)
    parser.add_argument("--distractor-rate", type=float, default=defaults.distractor_rate)
    args = parser.parse_args(argv)
    config = SyntheticConfig(min_steps=args.min_steps, max_steps=args.max_steps,
                             max_operand=args.max_operand, max_factor=args.max_factor,
                             ops=tuple(args.ops), filler_rate=args.filler_rate,
                             distractor_rate=args.distractor_rate)
    sizes = {split: getattr(args, split) for split in DEFAULT_SIZES}
    for split, path in write_splits(args.out, sizes, args.seed, config).items():
        print(f"{split}: {sizes[split]} problems -> {path}")


if __name__ == "__main__":
    main()
