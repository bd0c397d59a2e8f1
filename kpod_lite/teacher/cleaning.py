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


def clean_rationale(text: str, cot_prompt: str = ZERO_SHOT_COT_PROMPT) -> str:
    """The rationale r alone: no echoed prompt, no answer sentence, whitespace normalised.

    Steps are later split at "." (§3.4), so a line that ends without punctuation gets a
    full stop before the lines are joined; otherwise two steps would silently merge.

    >>> clean_rationale("A: Let's think step by step. 3 + 4 = 7\\nSo the answer is 7.")
    '3 + 4 = 7.'
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
    lines = []
    for line in text.splitlines():
        line = line.strip().rstrip(",;:").rstrip()
        if line and (line[-1].isalnum() or line[-1] in ")%$"):
            line += "."
        if line:
            lines.append(line)
    return " ".join(" ".join(lines).split())


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
