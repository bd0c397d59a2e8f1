"""Answers: one canonical spelling, read back out of free text, and compared (§3.1).

The teacher and the student both end with "Therefore, the answer is <y>"
(`kpod_lite.templates.ANSWER_TRIGGER`). `extract_answer` reads y back out of a rationale
(Kojima et al., 2022, answer cleansing), `normalize_answer` gives every answer one spelling
("1,250" -> "1250", "18.0" -> "18", "(b)" -> "B"), and `answers_match` compares two.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from decimal import Decimal
from functools import lru_cache

from kpod_lite.templates import ANSWER_TRIGGERS


# One number as people write it in word problems and rationales: an optional sign, an
# optional "$", digits with optional thousands commas, an optional decimal part; or ".5".
# The lookbehind keeps it from starting inside a word ("x2") or in the middle of a number.
# Scientific notation ("1e3") is deliberately not a number here: the benchmarks never write
# answers that way, and "2e" glued to a word is more likely a typo than 2 x 10^e.
NUMBER_PATTERN = re.compile(
    r"""
    (?<![\w.])
    [-+\u2212]?\$?
    (?:
        (?:[0-9]{1,3}(?:,[0-9]{3})+(?![0-9])|[0-9]+)(?:\.[0-9]+)?
      | \.[0-9]+
    )
    """,
    re.VERBOSE,
)

# "9 (apples)": ASDiv writes the unit in parentheses after the value.
_UNIT_SUFFIX = re.compile(r"^(?P<value>.*?)\s*\((?P<unit>[^()]*)\)\s*$", re.DOTALL)

# "3/4", "-1/2", "1 1/2": a fraction as ASDiv writes some answers. Its value is the answer,
# rounded to `_FRACTION_PLACES` decimals when it does not end (1/3 -> 0.333333), which
# `answers_match`'s tolerance then accepts against any longer spelling.
_FRACTION = re.compile(r"(?P<sign>[-\u2212]?)(?:(?P<whole>[0-9]+)\s+)?(?P<num>[0-9]+)/(?P<den>[0-9]+)")
_FRACTION_PLACES = 6

_CHOICE_ANSWER = re.compile(r"\(?\s*([A-Za-z])\s*\)?\.?")


def _split_unit(text: str) -> tuple[str, str | None]:
    match = _UNIT_SUFFIX.match(text)
    if match and match.group("value"):
        return match.group("value"), match.group("unit").strip()
    return text, None


def _fraction_value(match: re.Match) -> str | None:
    """The canonical decimal of a `_FRACTION` match; None for a zero denominator."""
    numerator, denominator = int(match.group("num")), int(match.group("den"))
    if denominator == 0:
        return None
    value = Decimal(int(match.group("whole") or 0)) + Decimal(numerator) / Decimal(denominator)
    value = value.quantize(Decimal(1).scaleb(-_FRACTION_PLACES))
    return _canonical_number(match.group("sign") + format(value, "f"))


def _canonical_number(number: str) -> str:
    """The canonical spelling of a NUMBER_PATTERN match: no sign noise, commas, $ or zeros."""
    negative = number[0] in "-\u2212"
    digits = number.lstrip("+-\u2212$").replace(",", "")
    whole, _, fraction = digits.partition(".")
    whole = whole.lstrip("0") or "0"
    fraction = fraction.rstrip("0")
    canonical = f"{whole}.{fraction}" if fraction else whole
    if negative and canonical != "0":  # "-0.0" is zero, and zero has no sign
        canonical = "-" + canonical
    return canonical


def normalize_answer(text: str | int | float, kind: str = "number") -> str | None:
    """One spelling per answer, so that answers can be compared as strings; None if unparseable.

    kind="number": "1,234" -> "1234", "$1.50" -> "1.5", "18.0" -> "18", "+7" -> "7",
    ".5" -> "0.5", "9 (apples)" -> "9", "50%" -> "50", "72." -> "72", "3/4" -> "0.75",
    "1 1/2" -> "1.5", "1/3" -> "0.333333" (6 decimals when it does not end); ints and floats are
    accepted too (SVAMP stores 8.0). Anything else around the number -- "12 apples" --
    makes it unparseable, and so does scientific notation ("1e3").
    kind="choice": "(B)", "b", "B.", "B)" -> "B".
    """
    if kind == "choice":
        if not isinstance(text, str):
            return None
        match = _CHOICE_ANSWER.fullmatch(text.strip())
        return match.group(1).upper() if match else None
    if kind != "number":
        raise ValueError(f"unknown answer kind {kind!r}; choose 'number' or 'choice'")
    if isinstance(text, bool):  # True is an int to Python, never an answer to a word problem
        return None
    if isinstance(text, int):
        return str(text)
    if isinstance(text, float):
        if not math.isfinite(text):
            return None
        return _canonical_number(format(Decimal(repr(text)), "f"))
    if not isinstance(text, str):
        return None
    value, _unit = _split_unit(text.strip())
    value = value.strip()
    value = value.removesuffix(".").removesuffix("%").strip()  # "72." ends a sentence, "%" is a unit
    fraction = _FRACTION.fullmatch(value)
    if fraction:
        return _fraction_value(fraction)
    if not NUMBER_PATTERN.fullmatch(value):
        return None
    return _canonical_number(value)


# A fraction inside running text: "3/4", "1 1/2" (no spaces around the slash: "48 / 2" is a
# division whose result follows its "=").
_FRACTION_IN_TEXT = re.compile(
    r"(?<![\w./])(?P<sign>[-\u2212]?)(?:(?P<whole>[0-9]+)[ \t]+)?(?P<num>[0-9]+)/(?P<den>[0-9]+)(?![\w/])"
)


def _numbers_in(text: str) -> list[str]:
    """The canonical numbers of `text` in order; a fraction ("3/4", "1 1/2") is one number."""
    found: list[tuple[int, int, str]] = []
    for match in _FRACTION_IN_TEXT.finditer(text):
        value = _fraction_value(match)
        if value is not None:
            found.append((match.start(), match.end(), value))
    for match in NUMBER_PATTERN.finditer(text):
        if not any(start <= match.start() < end for start, end, _ in found):
            found.append((match.start(), match.end(), _canonical_number(match.group())))
    return [value for _, _, value in sorted(found)]


# GPT-3.5 often ends without an answer trigger, on a sentence such as "Therefore, 4 more trees
# died than survived (9-5)." or "So she has 24 - 14 = 10 cookies left." The sentence that
# decides is the last one holding a number (or option letter); list markers do not count.
_CONCLUDING = re.compile(
    r"(?:therefore|thus|hence|so|in\s+total|in\s+all|altogether|overall|finally|in\s+conclusion"
    r"|as\s+a\s+result|this\s+means|that\s+means)\b",
    re.IGNORECASE,
)
_EQUALS = re.compile(r"=|\bequals\b|\bis\s+equal\s+to\b", re.IGNORECASE)


def _sentences(text: str) -> list[str]:
    """Lines cut at sentence-ending "." (§3.4's `split_steps`), list markers removed."""
    from kpod_lite.data.steps import LINE_MARKER, split_steps  # steps does not import answers: no cycle, but keep it local

    sentences = []
    for line in text.splitlines():
        for step in split_steps(line):
            marker = LINE_MARKER.match(step.text)
            sentence = step.text[marker.end():] if marker else step.text
            if sentence.strip():
                sentences.append(sentence)
    return sentences


def _conclusion_number(text: str) -> str | None:
    """The result of the last sentence with a number: what follows its last "=" (or
    "equals"), else -- when it opens with a concluding word (Therefore, So, In total, ...) --
    its first number, else its last number."""
    for sentence in reversed(_sentences(text)):
        numbers = _numbers_in(sentence)
        if not numbers:
            continue
        equals = list(_EQUALS.finditer(sentence))
        if equals:
            after = _numbers_in(sentence[equals[-1].end():])
            if after:
                return after[0]
        return numbers[0] if _CONCLUDING.match(sentence.lstrip()) else numbers[-1]
    return None


def _trigger_pattern(triggers: Iterable[str]) -> re.Pattern:
    longest_first = sorted(triggers, key=len, reverse=True)
    return re.compile("|".join(re.escape(t) for t in longest_first), re.IGNORECASE)


_TRIGGER = _trigger_pattern(ANSWER_TRIGGERS)


# After "A" or "I", these words show the letter is an option ("A is wrong", "I because");
# any other lower-case word makes it the article or the pronoun ("A bank", "I think").
_WORDS_AFTER_AN_OPTION = frozenset({"is", "was", "because", "since", "as", "and", "or", "which", "seems"})
_NEXT_WORD = re.compile(r"\s+([a-z]+)")


def _is_english_word(text: str, letter: re.Match) -> bool:
    if letter.group(1) not in "AI":
        return False
    following = _NEXT_WORD.match(text, letter.end(1))
    return following is not None and following.group(1) not in _WORDS_AFTER_AN_OPTION


@lru_cache(maxsize=16)  # evaluation calls extract_answer once per example with the same letters
def _choice_patterns(letters: str) -> tuple[list[tuple[re.Pattern, bool]], list[tuple[re.Pattern, bool]]]:
    """Regexes for an option letter, each with whether to apply the "A"/"I" word check:
    (forms read anywhere, forms read only right after a trigger).

    A capital glued to letters, digits, apostrophes, hyphens or dots is part of a word
    ("Carl", "Dad's", "U.S.A."), never an option; a letter without brackets or a dot of its
    own also has to pass `_is_english_word`.
    """
    upper = re.escape(letters.upper())
    lower = re.escape(letters.lower())
    alone_before = r"(?<![\w'\u2019.\-(])"
    alone_after = r"(?![\w'\u2019\-])"
    anywhere = [
        (re.compile(rf"\(\s*([{upper}{lower}])\s*\)"), False),  # (C)  (c)
        (re.compile(rf"{alone_before}([{upper}])\)"), False),  # C)
        (re.compile(rf"{alone_before}([{upper}])\.(?!\w)"), False),  # C.
        (re.compile(rf"\b(?i:option|choice)\s+([{upper}]){alone_after}"), True),  # option C
        (re.compile(rf"\b(?i:answer)\s*(?:(?i:is)\s*)?:?\s*([{upper}]){alone_after}"), True),  # answer is C
    ]
    after_trigger = [
        (re.compile(rf"{alone_before}([{upper}]){alone_after}"), True),  # C
        (re.compile(rf"{alone_before}([{lower}])(?=\s*(?:[,;:!?)]|\.(?!\w)|$))"), False),  # c.
    ]
    return anywhere, after_trigger


def _letters_in_text(text: str, patterns: list[tuple[re.Pattern, bool]]) -> list[tuple[int, str]]:
    found = []
    for pattern, check_word in patterns:
        for match in pattern.finditer(text):
            if not (check_word and _is_english_word(text, match)):
                found.append((match.start(1), match.group(1)))
    return sorted(found)


def extract_answer(
    text: str, kind: str, *, labels: Iterable[str] | None = None, without_trigger: str = "conclusion"
) -> str | None:
    """Read the final answer out of a rationale (Kojima et al., 2022, answer cleansing).

    If an answer trigger occurs (`ANSWER_TRIGGERS`, case-insensitive), the answer is the
    FIRST number / option letter after the LAST trigger -- and None if nothing follows it.
    Without a trigger, ``without_trigger`` decides:

    * ``"conclusion"`` (the default): the last sentence that holds a number (option
      letter) decides -- lines are sentences too, list markers ("1.", "Step 2:", "-") are
      not numbers. Its number after its last "=" ("So 24 - 14 = 10 are left" -> 10); else,
      when it opens with a concluding word (Therefore, Thus, Hence, So, In total, Finally,
      ...), its first number ("Therefore, 4 more trees died than survived (9-5)." -> 4) or
      option letter ("Therefore, (B) is right, not (C)" -> B); else its last one.
    * ``"last"``: the LAST number / option letter of the whole text (the earlier rule,
      kept so that `benchmarks/answer_extraction.py` can compare the two).

    Numbers: "1,250", "$3.50", "-6", "50%" (-> 50), fractions "3/4" (-> 0.75) and "1 1/2".
    Option letters: "(C)", "C)", "C.", "answer is C", "option C". A bare capital
    without such marks only counts right after a trigger. A capital inside a word ("Carl",
    "Dad's") never counts, nor does an unmarked "A" or "I" followed by a lower-case word
    ("A bank", "I think"), except a few that show it is an option ("A is", "A because").
    `labels` limits the option letters
    (default "ABCDE", CommonsenseQA's five; pass ``example.choices`` to use its own).
    Returns the normalised answer.
    """
    if kind not in ("number", "choice"):
        raise ValueError(f"unknown answer kind {kind!r}; choose 'number' or 'choice'")
    if without_trigger not in ("conclusion", "last"):
        raise ValueError(f"unknown without_trigger rule {without_trigger!r}; choose 'conclusion' or 'last'")
    triggers = list(_TRIGGER.finditer(text))
    tail = text[triggers[-1].end():] if triggers else text
    if kind == "number":
        if not triggers and without_trigger == "conclusion":
            return _conclusion_number(text)
        numbers = _numbers_in(tail) if without_trigger == "conclusion" else [
            _canonical_number(m.group()) for m in NUMBER_PATTERN.finditer(tail)]
        if not numbers:
            return None
        return numbers[0] if triggers else numbers[-1]
    if labels is None:
        labels = "ABCDE"
    letters = "".join(sorted({label.upper() for label in labels if len(label) == 1 and label.isalpha()}))
    if not letters:
        return None
    anywhere, after_trigger = _choice_patterns(letters)
    if triggers:
        found = _letters_in_text(tail, anywhere + after_trigger)
        return found[0][1].upper() if found else None
    if without_trigger == "last":
        found = _letters_in_text(text, anywhere)
        return found[-1][1].upper() if found else None
    for sentence in reversed(_sentences(text)):
        found = _letters_in_text(sentence, anywhere)
        if found:
            _, letter = found[0] if _CONCLUDING.match(sentence.lstrip()) else found[-1]
            return letter.upper()
    return None


def answers_match(
    pred: str | int | float | None, gold: str | int | float, kind: str = "number", tol: float = 1e-4
) -> bool:
    """Whether a predicted answer equals the gold one: numbers within an absolute OR a
    relative tolerance `tol`, choices as the same letter. Unparseable answers never match."""
    if pred is None:
        return False
    p, g = normalize_answer(pred, kind), normalize_answer(gold, kind)
    if p is None or g is None:
        return False
    if kind == "choice":
        return p == g
    difference = abs(float(p) - float(g))
    return difference <= tol or difference <= tol * abs(float(g))
