"""Option lists written into a question's text: "Answer Choices: (A) bank (B) library".

CommonsenseQA in the ``instruction`` format (the Table 4 split as earlier CoT-distillation work
ships it, §4.1) carries its options inside the instruction, after "Answer Choices:", in one of
several layouts. `parse_answer_choices` reads them into ``{letter: text}``, the shape of
`Example.choices`; `kpod_lite.templates.pose_question` writes them back inline for the teacher.
"""

from __future__ import annotations

import re

# One option on a line of its own: "(A) bank", "A. bank", "A) bank".
_OPTION_LINE = re.compile(r"[ \t]*(?:\(([A-Za-z])\)|([A-Za-z])[.)])[ \t]+(\S.*?)[ \t]*")
# Options inline, all on one line: "(A) bank (B) library". "A. bank B. library" inline is not
# read: "A." and "B." occur in prose too ("Mary B. Lee"), so that form counts only at a line start.
_OPTION_INLINE = re.compile(r"\(([A-Za-z])\)\s*(.*?)\s*(?=\([A-Za-z]\)|\Z)", re.DOTALL)


def _consecutive(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    """{letter: text} if the letters run A, B, C, ... and every option has a text, else None."""
    letters = [letter.upper() for letter, _ in pairs]
    if len(pairs) < 2 or letters != [chr(ord("A") + i) for i in range(len(pairs))]:
        return None
    if not all(text.strip() for _, text in pairs):
        return None
    return {letter: text.strip() for letter, (_, text) in zip(letters, pairs)}


def parse_answer_choices(text: str) -> dict[str, str] | None:
    """The options listed after "Answer Choices:", or None if they are in no known layout.

    Read: one option a line as "(A) x", "A. x" or "A) x"; or all inline as "(A) x (B) y".
    The letters must run A, B, C, ... (two at least), each with a text.

    >>> parse_answer_choices("\\nA. bank\\nB. library\\n")
    {'A': 'bank', 'B': 'library'}
    >>> parse_answer_choices(" (A) bank (B) library")
    {'A': 'bank', 'B': 'library'}
    >>> parse_answer_choices(" A. bank B. library") is None  # inline "A." is ambiguous
    True
    """
    lines = [line for line in text.splitlines() if line.strip()]
    matches = [_OPTION_LINE.fullmatch(line) for line in lines]
    if lines and all(matches):
        by_line = _consecutive([(m.group(1) or m.group(2), m.group(3)) for m in matches])
        if by_line:
            return by_line
    if text.lstrip().startswith("("):
        return _consecutive(_OPTION_INLINE.findall(text.strip()))
    return None
