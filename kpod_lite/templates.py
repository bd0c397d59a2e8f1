"""The text templates of KPOD: every string the teacher and the student read or write (§3.1).

One template runs through the whole method (Feng et al., ICML 2024, §3.1, after Ho et al.,
2023 and Kojima et al., 2022):

    Q: <x>\\nA: <p> <r> Therefore, the answer is <y>.

`<p>` is the zero-shot CoT prompt (`ZERO_SHOT_COT_PROMPT`, the config's `cot_prompt`). The
teacher is asked "Q: <x>\\nA: <p>" (`build_prompt`) and, in Kojima's second stage, the same
prompt, its reasoning and a trigger for the answer type (`extraction_prompt`). The student
reads "Q: <x>\\nA: <p>" followed by the c_i(t) rationale steps it is given at stage t
(`student_prompt`, Eq. 14) and learns to write the rest, closed by the answer sentence
(`format_rationale_target`). `ANSWER_TRIGGER` is what `kpod_lite.data.extract_answer` reads
the answer after.

The same template text then becomes token ids in one place, `encode_student_example`, for
every stage that puts the student to work: the token weights (Eq. 3-5) are computed on the
rationale tokens `rationale_tokens`, the difficulty of Eq. 8 scores those same tokens after
the prompt, and distillation (Eq. 15) trains them. How a prompt and a target become one model
input is the only thing that differs between a seq2seq and a causal student; the family seam
(`kpod_lite.families.StudentFamily.join`) decides it.

>>> build_prompt("What is 3 + 4?")
"Q: What is 3 + 4?\\nA: Let's think step by step."
>>> format_rationale_target("3 + 4 = 7.", "7")
'3 + 4 = 7. Therefore, the answer is 7.'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

__all__ = [
    "ZERO_SHOT_COT_PROMPT",
    "ANSWER_TRIGGER",
    "ANSWER_TRIGGERS",
    "EXTRACTION_TRIGGERS",
    "pose_question",
    "build_prompt",
    "extraction_prompt",
    "format_rationale_target",
    "student_prompt",
    "rationale_tokens",
    "StudentExample",
    "encode_student_example",
]

# §3.1: the zero-shot CoT prompt of Kojima et al. (2022).
ZERO_SHOT_COT_PROMPT = "Let's think step by step."

# §3.1: "... <r> Therefore, the answer is <y>": the student's answer sentence.
ANSWER_TRIGGER = "Therefore, the answer is"

# Every phrase after which an answer follows (Kojima et al., 2022, answer cleansing); the last
# two are their second-stage prompts for arithmetic and for five-way multiple choice.
ANSWER_TRIGGERS = (
    ANSWER_TRIGGER,
    "the answer is",
    "answer (arabic numerals) is",
    "among A through E, the answer is",
)

# Kojima et al.'s stage-2 triggers, one per answer type.
EXTRACTION_TRIGGERS = {
    "number": "Therefore, the answer (arabic numerals) is",
    "choice": "Therefore, among A through E, the answer is",
}


# --- text ---------------------------------------------------------------------------------------


def pose_question(question: str, choices: Mapping[str, str] | None = None) -> str:
    """The question x as the teacher and the student see it.

    Multiple-choice questions carry their options inline, as in Kojima et al. (2022):
    "... Answer Choices: (A) ... (B) ...". Rationale records store this text as `question`,
    so a later stage needs nothing but the record to build the student's input.
    """
    question = " ".join(question.split())
    if not choices:
        return question
    options = " ".join(f"({letter}) {text}" for letter, text in choices.items())
    return f"{question} Answer Choices: {options}"


def build_prompt(question: str, choices: Mapping[str, str] | None = None,
                 cot_prompt: str = ZERO_SHOT_COT_PROMPT) -> str:
    """The stage-1 prompt "Q: <x>\\nA: <p>" of the template in §3.1 (Kojima et al., 2022)."""
    return f"Q: {pose_question(question, choices)}\nA: {cot_prompt}"


def extraction_prompt(reasoning_prompt: str, reasoning: str, kind: str) -> str:
    """The stage-2 prompt: stage 1's prompt, its reasoning, and the answer trigger for `kind`.

    >>> extraction_prompt("Q: What is 3 + 4?\\nA: Let's think step by step.", "3 + 4 = 7.", "number")
    "Q: What is 3 + 4?\\nA: Let's think step by step. 3 + 4 = 7.\\nTherefore, the answer (arabic numerals) is"
    """
    if kind not in EXTRACTION_TRIGGERS:
        raise ValueError(f"answer kind must be one of {sorted(EXTRACTION_TRIGGERS)}, got {kind!r}")
    return f"{reasoning_prompt} {reasoning.strip()}\n{EXTRACTION_TRIGGERS[kind]}"


def format_rationale_target(rationale: str, answer: str) -> str:
    """The student's target "<r> Therefore, the answer is <y>." (§3.1, Eq. 1)."""
    rationale = rationale.strip()
    sentence = f"{ANSWER_TRIGGER} {answer}."
    return f"{rationale} {sentence}" if rationale else sentence


def student_prompt(question: str, choices: Mapping[str, str] | None = None, given_steps: str = "",
                   cot_prompt: str = ZERO_SHOT_COT_PROMPT) -> str:
    """The student's input: "Q: <x>\\nA: <p>" (§3.1), then the c_i(t) rationale steps it is
    given at this stage (Eq. 14; none at evaluation time)."""
    prompt = build_prompt(question, choices, cot_prompt)
    given_steps = given_steps.strip()
    return f"{prompt} {given_steps}" if given_steps else prompt


# --- ids ----------------------------------------------------------------------------------------


def rationale_tokens(tokenizer, rationale: str) -> tuple[list[int], list[tuple[int, int]]]:
    """(token ids, character offsets into `rationale`) of the rationale alone: the r_j of Eq. 3,
    5, 8 and 15.

    The stripped text, tokenised on its own without special tokens, offsets shifted back to
    index the original string. The student's target is tokenised the same way
    (`encode_student_example`), so a target's first tokens are exactly these r_j: a
    SentencePiece tokenizer gives the first word its "▁" marker in both, a byte-level BPE
    tokenizer gives it none in both. An empty rationale has no tokens.
    """
    text = rationale.strip()
    if not text:
        return [], []
    lead = len(rationale) - len(rationale.lstrip())
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(encoded["input_ids"]), [(start + lead, end + lead) for start, end in encoded["offset_mapping"]]


@dataclass(frozen=True)
class StudentExample:
    """One (prompt, target) pair as model input: see `encode_student_example`.

    `input_ids` and `labels` are what the model is called with (`labels` is None for a prompt
    without a target, and -100 marks a position that is not learned); `target_ids` and
    `target_offsets` are the target's tokens and their character spans in the target string
    (an appended end-of-sequence token has the empty span (len, len)); `truncated` says
    whether the prompt or the target was cut.
    """

    input_ids: list[int]
    labels: list[int] | None
    prompt_ids: list[int]
    target_ids: list[int]
    target_offsets: list[tuple[int, int]]
    truncated: tuple[bool, bool]


def encode_student_example(tokenizer, family, prompt: str, target: str | None = None, *,
                           max_source_length: int | None = None, max_target_length: int | None = None,
                           end_of_sequence: bool = True) -> StudentExample:
    """The one place where a student's prompt and target become ids (Eq. 5, 8, 14-15, §4).

    The prompt is tokenised with the tokenizer's own special tokens, as `family` wants them,
    and cut to `max_source_length` tokens, keeping its end (`StudentFamily.cut_prompt`: the
    given steps right before the target stay); the target is stripped
    and tokenised on its own, like `rationale_tokens`, cut to `max_target_length` tokens
    (the end-of-sequence token included), and closed by `eos` when `end_of_sequence` (so the
    student learns to stop; Eq. 8 scores the rationale tokens only and passes False).
    `family.join` then arranges the two: encoder input and decoder labels for a seq2seq
    student, one sequence with the prompt masked out of the labels for a causal one.
    """
    prompt_ids = family.prompt_ids(tokenizer, prompt)
    cut_prompt = max_source_length is not None and len(prompt_ids) > max_source_length
    if cut_prompt:
        prompt_ids = family.cut_prompt(tokenizer, prompt_ids, max_source_length)
    if target is None:
        return StudentExample(prompt_ids, None, prompt_ids, [], [], (cut_prompt, False))
    target_ids, offsets = rationale_tokens(tokenizer, target)
    lead = len(target) - len(target.lstrip())
    offsets = [(start - lead, end - lead) for start, end in offsets]
    room = None if max_target_length is None else max_target_length - int(end_of_sequence)
    cut_target = room is not None and len(target_ids) > room
    if cut_target:
        target_ids, offsets = target_ids[:room], offsets[:room]
    if end_of_sequence:
        end = len(target.strip())
        target_ids, offsets = target_ids + [tokenizer.eos_token_id], offsets + [(end, end)]
    input_ids, labels = family.join(prompt_ids, target_ids)
    return StudentExample(input_ids, labels, prompt_ids, target_ids, offsets, (cut_prompt, cut_target))
