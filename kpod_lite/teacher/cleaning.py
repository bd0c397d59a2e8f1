"""From what a teacher wrote to a rationale record: `clean_rationale` and `grade` (§3.1).

A teacher's continuation of "Q: <x>\\nA: <p>" may echo the prompt, close with an answer
sentence, or run on into a question of its own. The student is trained on the template
"Q: <x> A: <p> <r> Therefore, the answer is <y>", whose answer sentence is written afresh from
the gold answer, so r must be the reasoning alone (`clean_rationale`). `grade` then reads the
teacher's answer (from the stage-2 text when the back-end asked twice, Kojima et al., 2022) and
compares it with the gold one: only rationales that reach the right answer are kept for
distillation (§3.1, following Ho et al., 2023).
"""

from __future__ import annotations

import re

from kpod_lite.data import answers_match, extract_answer
from kpod_lite.data.steps import LINE_MARKER
from kpod_lite.teacher.protocol import Rationale, TeacherOutput, TeacherRequest
from kpod_lite.templates import ANSWER_TRIGGER, ZERO_SHOT_COT_PROMPT, pose_question

# An answer sentence: "Therefore/So/Thus/Hence, the answer ...", Kojima's triggers, or a
# sentence that opens with "The answer is" / "Answer:". Everything from it on is dropped.
_ANSWER_SENTENCE = re.compile(
    r"\b(?:therefore|thus|hence|so),?\s+(?:among\s+[a-e]\s+through\s+[a-e],?\s+)?the\s+(?:final\s+)?answer\b"
    r"|(?:^|(?<=[.!?\n]))[ \t]*(?:the\s+(?:final\s+)?answer\s*(?:is\b|:)|answer\s*:)",
    flags=re.IGNORECASE,
)
# A model that keeps going after its answer often starts the next "Q: ..." itself.
_NEXT_QUESTION = re.compile(r"\n\s*Q:")
# A line of rule characters only: the bar under a long division or a sum.
_RULE_LINE = re.compile(r"[-=_*~\u2014\u2013\s]+")
_LETTER = re.compile(r"[^\W\d_]")


def _is_fragment(line: str) -> bool:
    """A line with neither a word nor "=" ("21", "÷ 7", "$249"): part of a calculation laid
    out over several lines, which joins the line before it instead of ending a step."""
    return "=" not in line and not _LETTER.search(line)


def clean_rationale(text: str, cot_prompt: str = ZERO_SHOT_COT_PROMPT) -> str:
    """The rationale r alone: no echoed prompt, no answer sentence, whitespace normalised.

    Steps are later split at "." (§3.4), so a line that ends without punctuation gets a
    full stop before the lines are joined; otherwise two steps would silently merge. List
    markers opening a line ("1.", "2)", "Step 3:", "-", "*", "•") are dropped, since joined
    lines would turn them into steps of their own; so are lines of rule characters ("----"),
    and a line with neither a word nor "=" ("21", "÷ 7": a long division laid out over
    lines) joins the line before it.

    >>> clean_rationale("A: Let's think step by step. 3 + 4 = 7\\nSo the answer is 7.")
    '3 + 4 = 7.'
    >>> clean_rationale("1. Add: 3 + 4 = 7\\n2. Double it: 7 x 2 = 14")
    'Add: 3 + 4 = 7. Double it: 7 x 2 = 14.'
    """
    text = text.strip()
    if text.startswith("Q:"):  # the whole prompt echoed back: keep what follows "A: <p>"
        cut = text.find(cot_prompt)
        if cut < 0:
            cut = text.find("\nA:")
            text = text[cut + 3:] if cut >= 0 else ""
        else:
            text = text[cut + len(cot_prompt):]
    text = re.sub(r"^\s*A:\s*", "", text)
    if text.lstrip().startswith(cot_prompt):
        text = text.lstrip()[len(cot_prompt):]
    for boundary in (_NEXT_QUESTION.search(text), _ANSWER_SENTENCE.search(text)):
        if boundary:
            text = text[: boundary.start()]
    lines: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        marker = LINE_MARKER.match(line)  # a list number is no step of its own (§3.4)
        line = line[marker.end():].strip() if marker else line
        if not line or _RULE_LINE.fullmatch(line):
            continue
        if lines and _is_fragment(line):
            lines[-1] += " " + line
        else:
            lines.append(line)
    ended = []
    for line in lines:
        line = line.rstrip(",;:").rstrip()
        if line and (line[-1].isalnum() or line[-1] in ")%$"):
            line += "."
        if line:
            ended.append(line)
    return " ".join(" ".join(ended).split())


def grade(request: TeacherRequest, output: TeacherOutput, teacher_name: str,
          cot_prompt: str = ZERO_SHOT_COT_PROMPT) -> Rationale:
    """Clean a raw teacher output (an echoed `cot_prompt` removed) and check its answer against the gold one."""
    example = request.example
    common = dict(
        id=example.id,
        question=pose_question(example.question, example.choices),
        answer=example.answer,
        teacher=output.teacher or teacher_name,
        sample=request.sample,
    )
    if output.error is not None:
        return Rationale(rationale="", teacher_answer=None, correct=False, error=output.error, **common)
    # A stage-2 answer is the text after the trigger: prefix it, so extraction takes its first
    # number, as Kojima et al. do; without one, the answer sentence of the reasoning decides.
    answer_source = output.reasoning if output.answer_text is None else f"{ANSWER_TRIGGER} {output.answer_text}"
    teacher_answer = extract_answer(answer_source, example.answer_kind, labels=example.choices)
    correct = answers_match(teacher_answer, example.answer, example.answer_kind)
    rationale = clean_rationale(output.reasoning, cot_prompt)
    # Spans describe the text the back-end wrote; keep them only if cleaning left it as it was.
    spans = output.spans
    if spans and not (spans[-1][1] == len(rationale) and output.reasoning.startswith(rationale)):
        spans = None
    return Rationale(rationale=rationale, teacher_answer=teacher_answer, correct=correct, spans=spans, **common)
