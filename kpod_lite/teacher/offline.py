"""The offline teachers: template, gold and replay, which need no model and no network.

    template  synthetic problems: re-renders their known program as a rationale
    gold      the dataset's own worked solution (GSM8K) plays the teacher
    replay    the answers of an earlier cache file, read back: no teacher calls at all
    released  rationales published with a dataset (MCC-KD's GPT-3.5-Turbo ones, Table 4)

Template and gold end their reasoning with the answer sentence "Therefore, the answer is <y>."
(§3.1), so the answer is read from it as from a one-stage teacher; replay hands back the
recorded answer as if a second stage had said it. Released rationales are graded like any
teacher's text: the answer is read off the rationale itself.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

from kpod_lite.teacher.cache import read_cache
from kpod_lite.teacher.protocol import TeacherError, TeacherOutput, request_seed
from kpod_lite.templates import ANSWER_TRIGGER


class TemplateTeacher:
    """The offline default: re-renders a synthetic problem's program as a teacher-style rationale.

    Each (seed, id, sample) seeds its own random generator, so a rationale is reproducible
    and different samples use different filler words (`kpod_lite.synthetic.render_rationale`).
    Above temperature 0 the teacher makes one arithmetic slip (`perturb_program`) with
    probability `min(1, slip_per_temperature * temperature)`, 0.3 at temperature 1, so that
    answer filtering has something to drop; at temperature 0 it is always right. Its
    outputs carry the keypoint / filler spans of the rendered text.
    """

    name = "template"

    def __init__(self, filler_rate: float | None = None, slip_per_temperature: float = 0.3):
        from kpod_lite import synthetic

        self.filler_rate = synthetic.SyntheticConfig().filler_rate if filler_rate is None else filler_rate
        self.slip_per_temperature = slip_per_temperature

    def slip_probability(self, temperature: float) -> float:
        return min(1.0, self.slip_per_temperature * max(0.0, temperature))

    def generate(self, requests, *, temperature, max_tokens, seed):
        from kpod_lite import synthetic

        not_synthetic = [r.example.id for r in requests if "program" not in r.example.meta]
        if not_synthetic:
            raise TeacherError(
                f"the template teacher only knows synthetic problems (meta['program']); "
                f"{len(not_synthetic)} question(s) have none, e.g. {not_synthetic[0]!r}: "
                f"use the gold, openai or hf teacher for real datasets"
            )
        for request in requests:
            rng = random.Random(request_seed(seed, request.example.id, request.sample))
            program = request.example.meta["program"]
            if rng.random() < self.slip_probability(temperature):
                program = synthetic.perturb_program(program, rng)
            rationale, spans = synthetic.render_rationale(program, rng, self.filler_rate)
            answer = program[-1]["result"]
            yield request, TeacherOutput(
                reasoning=f"{rationale} {ANSWER_TRIGGER} {answer}.",
                spans=[[span.start, span.end, span.label] for span in spans],
            )


_CALCULATOR_NOTE = re.compile(r"<<[^<>]*>>")
_GSM8K_FINAL_ANSWER = re.compile(r"^[ \t]*####[ \t]*(.*?)\s*$", flags=re.MULTILINE)


def split_gsm8k_solution(solution: str) -> tuple[str, str | None]:
    """A GSM8K worked solution as (rationale text, the answer of its "#### N" line or None).

    The `<<48/2=24>>` calculator notes go: they were the annotators' tool calls, not
    reasoning written out for a reader.
    """
    final = _GSM8K_FINAL_ANSWER.search(solution)
    answer = final.group(1).replace(",", "") if final else None
    text = _GSM8K_FINAL_ANSWER.sub("", solution)
    return _CALCULATOR_NOTE.sub("", text).strip(), answer


class GoldTeacher:
    """The dataset's own worked solution plays the teacher (GSM8K's `meta["solution"]`).

    A free, exact baseline: useful to check the rest of the pipeline, or to compare
    human-written with LLM-written rationales.
    """

    name = "gold"

    def generate(self, requests, *, temperature, max_tokens, seed):
        missing = [r.example.id for r in requests if not r.example.meta.get("solution")]
        if missing:
            raise TeacherError(
                f"the gold teacher needs a worked solution (meta['solution'], as in GSM8K); "
                f"{len(missing)} question(s) have none, e.g. {missing[0]!r}"
            )
        for request in requests:
            text, answer = split_gsm8k_solution(request.example.meta["solution"])
            # data.load_examples has already moved the "#### N" line into the gold answer.
            answer = answer if answer is not None else request.example.answer
            yield request, TeacherOutput(reasoning=f"{text}\n{ANSWER_TRIGGER} {answer}.")


class ReplayTeacher:
    """Replays the answers of an earlier cache file: no teacher calls, same rationales.

    Lets a notebook or a test rerun the pipeline on a paid teacher's rationales offline.
    """

    def __init__(self, cache_file: Path | str):
        self.cache_file = Path(cache_file)
        if not self.cache_file.exists():
            raise FileNotFoundError(f"replay: no cache file at {self.cache_file}")
        self.name = f"replay:{self.cache_file.name}"
        self._answers = read_cache(self.cache_file)

    def generate(self, requests, *, temperature, max_tokens, seed):
        for request in requests:
            if (request.example.id, request.sample) not in self._answers:
                raise TeacherError(
                    f"replay: {self.cache_file} has no finished answer for question "
                    f"{request.example.id!r}, sample {request.sample}"
                )
        for request in requests:
            recorded = self._answers[(request.example.id, request.sample)]
            yield request, TeacherOutput(reasoning=recorded.rationale, answer_text=recorded.teacher_answer or "",
                                         teacher=recorded.teacher, spans=recorded.spans)


# Where the questions of an instruction-format file keep the teacher's text (data.loaders).
RELEASED_FIELD = "output"


class ReleasedTeacher:
    """Rationales released with a dataset play the teacher: the Table 4 splits of earlier CoT
    distillation work (Chen et al., 2023, MCC-KD) ship several GPT-3.5-Turbo zero-shot CoT
    rationales per training question, which is the paper's data setting (§4.1) at no cost.

    The rationales travel with the questions: an instruction-format record keeps its
    "output" (a list of rationales, or one string) in ``meta["output"]``, and sample k of a
    question is its k-th rationale. They are graded and filtered by answer like any teacher's
    (§3.1), so the report counts what was kept and dropped. A question with fewer released
    rationales than the samples asked for (or none) answers the missing ones with an error
    naming it, which `teach` counts as failed; questions of which none has any are refused.
    """

    name = "released"

    def generate(self, requests, *, temperature, max_tokens, seed):
        without = [r.example.id for r in requests if not released_rationales(r.example)]
        if requests and len(without) == len(requests):  # not a file of released rationales at all
            raise TeacherError(
                f"the released teacher reads the rationales shipped with the questions (meta[{RELEASED_FIELD!r}]); "
                f"none of these {len(without)} question(s) has any, e.g. {without[0]!r}: it needs a train file with an "
                f"\"output\" list per question, read with data_format \"instruction\" (a dev or test split has "
                f"none), or another teacher"
            )
        for request in requests:
            texts = released_rationales(request.example)
            if not texts:
                yield request, TeacherOutput(error=f"question {request.example.id!r} has no released rationale")
            elif request.sample < len(texts):
                yield request, TeacherOutput(reasoning=texts[request.sample])
            else:
                yield request, TeacherOutput(error=f"question {request.example.id!r} has {len(texts)} released "
                                                   f"rationale(s), no sample {request.sample}: ask for at most "
                                                   f"{len(texts)} teacher_samples")


def released_rationales(example) -> list[str]:
    """The non-empty rationales released with `example` (``meta["output"]``: a list or one string)."""
    output = example.meta.get(RELEASED_FIELD)
    texts = [output] if isinstance(output, str) else output if isinstance(output, list) else []
    return [text for text in texts if isinstance(text, str) and text.strip()]
