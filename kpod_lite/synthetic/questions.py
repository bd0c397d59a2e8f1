"""Writing a question: a GSM8K-style story drawn step by step, with its program.

A story has a scenario (shopping, baking, ...), an owner and an item; each step is a move
(gain, loss, times, groups, share, and as a last step a comparison) that writes one
sentence of the question and one step of the program.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from kpod_lite.synthetic.labels import _NUMBER_WORDS
from kpod_lite.synthetic.problem import SyntheticConfig, SyntheticProblem
from kpod_lite.synthetic.programs import evaluate_program
from kpod_lite.synthetic.rationale import render_rationale


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
    value: int | None = None  # the running count ...
    operand: dict | None = None  # ... and how the next step refers to it
    # (other owner, their operand, their count) after a "times" step, for a final comparison
    pair: tuple | None = None
    sentences: list[str] = field(default_factory=list)
    program: list[dict] = field(default_factory=list)

    def step(self, op: str, operands: list, result: int, find: str) -> None:
        """Add a program step; its result becomes the running count."""
        self.program.append({"op": op, "operands": operands, "result": result,
                             "unit": self.item, "find": find})
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


def _next_move(story: _Story, rng: random.Random, config: SyntheticConfig, allowed: set,
               last: bool) -> str | None:
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
    verb = rng.choice(story.scenario.gain)
    story.sentences.append(template.format(o=story.owner, v=verb, n=n, i=story.item))
    find = rng.choice(("how many {i} {o} has in total", "the total number of {i} {o} has"))
    story.step("+", [story.operand, {"given": n}], story.value + n, find.format(i=story.item, o=story.owner))


def _loss(story: _Story, rng: random.Random, config: SyntheticConfig) -> None:
    n = rng.randint(1, min(story.value - 1, config.max_operand))
    template = rng.choice(("{o} {v} {n} of them.", "{o} {v} {n} {i}."))
    if n == 1:  # "gives away 1 of them", never "1 eggs"
        template = "{o} {v} {n} of them."
    verb = rng.choice(story.scenario.loss)
    story.sentences.append(template.format(o=story.owner, v=verb, n=n, i=story.item))
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
