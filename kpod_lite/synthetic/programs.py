"""Programs: the arithmetic behind a problem, evaluated exactly, and slipped on purpose.

A program is a JSON-serialisable list of steps, one per rationale sentence::

    {"op": "+", "operands": [{"given": 12}, {"step": 0}], "result": 19,
     "unit": "eggs", "find": "how many eggs Ana has in total"}

An operand is a number given in the question or the result of an earlier step.
`perturb_program` plays a fallible teacher, whose wrong answer the answer filter (Ho et al., 2023) drops.
"""

from __future__ import annotations

import copy
import random

from kpod_lite.synthetic.labels import OPS


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
