"""The teacher: zero-shot chain-of-thought rationales for every training question (§3.1).

KPOD, like the CoT distillation work it follows, asks a large teacher model for a
step-by-step rationale r for each question x, and trains the student on the template

    Q: <x> A: <p> <r> Therefore, the answer is <y>

where <p> is the zero-shot CoT prompt "Let's think step by step." (Feng et al., ICML 2024,
§3.1; the teacher in §4.1 is GPT-3.5-Turbo). The prompt comes from Kojima et al. (2022),
"Large Language Models are Zero-Shot Reasoners", which asks in two stages:

  1. reasoning extraction: send "Q: <x>\\nA: Let's think step by step." and keep the
     continuation z (the rationale);
  2. answer extraction: send the first prompt, z, and a trigger that fits the answer type
     ("Therefore, the answer (arabic numerals) is" or "Therefore, among A through E, the
     answer is"), and read the answer off the short continuation.

The second request exists because z states its answer in no fixed form, if at all; the
trigger makes the model say it in the form the answer extraction expects. The teacher's answer
is then compared with the dataset's gold answer, and only rationales that reach the right
answer are kept for distillation (§3.1, following Ho et al., 2023).

The template's text lives in `kpod_lite.templates` (`build_prompt`, `extraction_prompt`, the
student target `format_rationale_target`). This module holds the teacher back-ends behind one
small protocol, the cleaning of what a teacher writes (`clean_rationale`), and `teach`,
which runs a back-end over a dataset through an append-only cache that survives a killed
run:

    template  offline default for synthetic problems: re-renders their known program
    gold      the dataset's own worked solution (GSM8K) plays the teacher
    openai    any OpenAI-compatible server (OpenAI, vLLM, Ollama...), two-stage, retried
    hf        a local `transformers` model, batched, two-stage
    replay    answers read back from an earlier cache file, no teacher calls at all
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Protocol, Sequence

from tqdm.auto import tqdm

from kpod_lite.config import ConfigError
from kpod_lite.data import (
    Example,
    answers_match,
    append_jsonl,
    extract_answer,
    read_jsonl,
    write_jsonl,
)

from kpod_lite.templates import (
    ANSWER_TRIGGER,
    ZERO_SHOT_COT_PROMPT,
    build_prompt,
    extraction_prompt,
    pose_question,
)

log = logging.getLogger(__name__)

# The answer is a number or a letter: a few tokens suffice (Kojima et al. also use 32).
EXTRACTION_MAX_TOKENS = 32


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


def request_seed(seed: int, example_id: str, sample: int) -> int:
    """A stable 31-bit seed for one (question, sample) request, the same in every process."""
    digest = hashlib.sha256(f"{seed}\x1f{example_id}\x1f{sample}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# --- records ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rationale:
    """One teacher answer: the rationale record of DESIGN.md.

    `rationale` is r only (no prompt, no answer sentence); `teacher` names the back-end and
    model. A request that failed for good keeps its `error` and an empty rationale, so the
    cache shows it and the next run asks again. `spans` ([start, end, label] over the
    rationale) are there only when the teacher knows them: the template teacher's keypoint
    and filler labels, which let a notebook score token weighting (§3.3) against the truth.
    """

    id: str
    question: str
    answer: str
    rationale: str
    teacher_answer: str | None
    correct: bool
    teacher: str
    sample: int = 0
    error: str | None = None
    spans: list | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None

    def to_record(self) -> dict:
        record = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        for optional in ("error", "spans"):
            if record[optional] is None:
                del record[optional]
        return record

    @classmethod
    def from_record(cls, record: dict) -> "Rationale":
        return cls(
            id=str(record["id"]),
            question=record["question"],
            answer=str(record["answer"]),
            rationale=record["rationale"],
            teacher_answer=record.get("teacher_answer"),
            correct=bool(record["correct"]),
            teacher=record["teacher"],
            sample=int(record.get("sample", 0)),
            error=record.get("error"),
            spans=record.get("spans"),
        )


@dataclass(frozen=True)
class TeacherRequest:
    """One rationale to ask for: a question and which of its samples this is."""

    example: Example
    sample: int = 0


@dataclass(frozen=True)
class TeacherOutput:
    """What a back-end returns for one request, before cleaning.

    reasoning: the raw stage-1 text; answer_text: the raw stage-2 text, when the back-end
    asked a second time (else the answer is read from the reasoning); error: why the request
    failed for good; teacher: who wrote it, when not the back-end itself (replay); spans:
    labels of the rationale's characters, when the back-end knows them (template).
    """

    reasoning: str = ""
    answer_text: str | None = None
    error: str | None = None
    teacher: str | None = None
    spans: list | None = None


class TeacherBackend(Protocol):
    """A teacher: yields one output per request, in any order, as soon as each is done."""

    name: str

    def generate(
        self, requests: Sequence[TeacherRequest], *, temperature: float, max_tokens: int, seed: int
    ) -> Iterator[tuple[TeacherRequest, TeacherOutput]]: ...


class TeacherError(ConfigError):
    """The teacher cannot run as asked (wrong back-end for the data, a missing replay entry,
    a rejected key...): a problem to fix before running again, not one to retry."""


# --- offline back-ends: template, gold, replay -------------------------------------------------


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


def read_cache(path: Path) -> dict[tuple[str, int], Rationale]:
    """The finished answers of a cache file by (id, sample); the last line for a pair wins.

    A line cut short by a killed run is ignored, and so are failed requests: they are asked
    again.
    """
    finished: dict[tuple[str, int], Rationale] = {}
    if not Path(path).exists():
        return finished
    for _, record in read_jsonl(path, tolerate_truncated_tail=True):
        rationale = Rationale.from_record(record)
        if not rationale.failed:
            finished[(rationale.id, rationale.sample)] = rationale
    return finished


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


# --- the OpenAI-compatible back-end --------------------------------------------------------


class RequestFailed(Exception):
    """One request failed for good (retries spent, or an error that retrying cannot fix)."""


class MalformedResponse(Exception):
    """The server answered 200 but not with a chat completion we can read."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt k waits about base_delay * 2^(k-1), capped.

    "Equal jitter": half the delay is fixed and half random, so many workers that failed
    together do not retry together, yet every wait still grows with the attempt number.
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


PLACEHOLDER_API_KEY = "no-key-needed"  # local servers (vLLM, Ollama) accept any key


class OpenAITeacher:
    """A teacher behind any OpenAI-compatible chat API, asked in two stages (Kojima et al., 2022).

    The `openai` client is built with max_retries=0: retrying is done here, explicitly, on
    rate limits (429), server errors (5xx, 408, 409), time-outs, lost connections and
    unreadable responses. A rejected key or an unknown model (401, 403, 404) stops the run;
    any other error (a 400 for one over-long question, say) fails that request only.

    The API key is handed to the client and otherwise kept only to scrub it from error
    messages: it never reaches records, logs or exceptions.
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        concurrency: int = 8,
        two_stage: bool = True,
        cot_prompt: str = ZERO_SHOT_COT_PROMPT,
        timeout: float = 120.0,
        retry: RetryPolicy = RetryPolicy(),
    ):
        import openai

        self.model = model
        self.name = f"openai:{model}"
        self.concurrency = max(1, concurrency)
        self.two_stage = two_stage
        self.cot_prompt = cot_prompt
        self.retry = retry
        self._secret = api_key or ""
        self._jitter = random.Random()
        self._jitter_lock = threading.Lock()
        self._client = openai.OpenAI(api_key=api_key or PLACEHOLDER_API_KEY, base_url=base_url,
                                     max_retries=0, timeout=timeout)

    def __repr__(self) -> str:
        return f"OpenAITeacher(model={self.model!r}, concurrency={self.concurrency})"

    def generate(self, requests, *, temperature, max_tokens, seed):
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="teacher")
        try:
            futures = {pool.submit(self._ask, r, temperature, max_tokens, seed): r for r in requests}
            for future in as_completed(futures):
                yield futures[future], future.result()
        finally:
            # On an early exit (an error, or the caller stopped) drop what has not started.
            pool.shutdown(wait=False, cancel_futures=True)

    def _ask(self, request: TeacherRequest, temperature: float, max_tokens: int, seed: int) -> TeacherOutput:
        example = request.example
        prompt = build_prompt(example.question, example.choices, self.cot_prompt)
        where = f"question {example.id!r} sample {request.sample}"
        sampling_seed = request_seed(seed, example.id, request.sample)
        try:
            reasoning = self._complete(prompt, temperature, max_tokens, sampling_seed, f"{where}, stage 1")
            answer_text = None
            if self.two_stage:
                # The answer is read, not sampled: stage 2 is greedy whatever stage 1 used.
                answer_text = self._complete(extraction_prompt(prompt, reasoning, example.answer_kind),
                                             0.0, EXTRACTION_MAX_TOKENS, sampling_seed, f"{where}, stage 2")
        except RequestFailed as failure:
            log.warning("teacher gave up on %s", failure)
            return TeacherOutput(error=str(failure))
        return TeacherOutput(reasoning=reasoning, answer_text=answer_text)

    def _complete(self, prompt: str, temperature: float, max_tokens: int, seed: int, where: str) -> str:
        import openai

        for attempt in range(1, self.retry.max_attempts + 1):
            try:
                response = self._client.chat.completions.create(
                    model=self.model,
                    messages=[{"role": "user", "content": prompt}],
                    temperature=temperature,
                    max_tokens=max_tokens,
                    seed=seed,
                )
                return _message_text(response)
            except (openai.APIConnectionError, openai.APIResponseValidationError, MalformedResponse,
                    json.JSONDecodeError) as error:
                problem = error  # time-outs are connection errors too
            except openai.APIStatusError as error:
                if error.status_code in (401, 403, 404):
                    raise TeacherError(f"the teacher server refused {where}: {self._describe(error)}") from None
                if error.status_code not in (408, 409, 429) and error.status_code < 500:
                    raise RequestFailed(f"{where}: {self._describe(error)}") from None
                problem = error
            if attempt == self.retry.max_attempts:
                raise RequestFailed(f"{where}: {self._describe(problem)} (after {attempt} attempts)") from None
            with self._jitter_lock:
                wait = self.retry.delay(attempt, self._jitter)
            log.info("retrying %s in %.2f s after %s (attempt %d of %d)",
                     where, wait, self._describe(problem), attempt, self.retry.max_attempts)
            time.sleep(wait)
        raise AssertionError("unreachable")

    def _describe(self, error: Exception) -> str:
        """A short message for logs and records, with the API key scrubbed from it."""
        status = getattr(error, "status_code", None)
        message = getattr(error, "message", None) or str(error)
        text = f"{type(error).__name__}" + (f" (HTTP {status})" if status else "") + f": {message}"
        return redact(text, self._secret)[:300]


def _message_text(response) -> str:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise MalformedResponse("no choices[0].message in the response") from None
    if not isinstance(content, str):
        raise MalformedResponse("choices[0].message.content is not text")
    return content


def redact(text: str, secret: str) -> str:
    """`text` with every occurrence of `secret` (an API key) replaced by "***"."""
    return text.replace(secret, "***") if secret else text


# --- the local transformers back-end -------------------------------------------------------


class HFTeacher:
    """A local `transformers` model as the teacher, in two stages like `OpenAITeacher`.

    Seq2seq (T5) and causal (LLaMA) models both work; causal ones are padded on the left so
    that every prompt in a batch ends where generation starts. Greedy at temperature 0,
    sampling above it; a seeded, forked random state keeps sampling reproducible for the same
    batches without touching the caller's. Uses the GPU when there is one.
    """

    def __init__(
        self,
        model_name_or_path: str,
        *,
        batch_size: int = 8,
        device: str | None = None,
        two_stage: bool = True,
        cot_prompt: str = ZERO_SHOT_COT_PROMPT,
    ):
        import torch
        import transformers
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        self.name = f"hf:{model_name_or_path}"
        self.batch_size = max(1, batch_size)
        self.two_stage = two_stage
        self.cot_prompt = cot_prompt
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        config = AutoConfig.from_pretrained(model_name_or_path, trust_remote_code=False)
        self.is_seq2seq = bool(getattr(config, "is_encoder_decoder", False))
        model_class = AutoModelForSeq2SeqLM if self.is_seq2seq else AutoModelForCausalLM
        from kpod_lite.models import bf16_supported

        dtype = torch.bfloat16 if self.device.type == "cuda" and bf16_supported() else torch.float32
        # transformers renamed `torch_dtype` to `dtype` (4.56); Colab may still have the old one.
        dtype_argument = "dtype" if _version_at_least(transformers.__version__, (4, 56)) else "torch_dtype"
        self.model = model_class.from_pretrained(model_name_or_path, trust_remote_code=False,
                                                 **{dtype_argument: dtype})
        self.model.to(self.device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(model_name_or_path, trust_remote_code=False)
        if not self.is_seq2seq:
            self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token

    def generate(self, requests, *, temperature, max_tokens, seed):
        for start in range(0, len(requests), self.batch_size):
            batch = list(requests[start: start + self.batch_size])
            prompts = [build_prompt(r.example.question, r.example.choices, self.cot_prompt) for r in batch]
            batch_seed = request_seed(seed, batch[0].example.id, batch[0].sample)
            reasonings = self._continue(prompts, temperature, max_tokens, batch_seed)
            answers: list[str | None] = [None] * len(batch)
            if self.two_stage:
                second = [extraction_prompt(p, z, r.example.answer_kind) for p, z, r in zip(prompts, reasonings, batch)]
                answers = self._continue(second, 0.0, EXTRACTION_MAX_TOKENS, batch_seed)
            for request, reasoning, answer in zip(batch, reasonings, answers):
                yield request, TeacherOutput(reasoning=reasoning, answer_text=answer)

    def _continue(self, prompts: list[str], temperature: float, max_new_tokens: int, seed: int) -> list[str]:
        import torch

        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        options = dict(max_new_tokens=max_new_tokens, pad_token_id=self.tokenizer.pad_token_id)
        if temperature > 0:
            options.update(do_sample=True, temperature=temperature, top_k=0, top_p=1.0)
        else:
            options.update(do_sample=False)
        devices = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            torch.manual_seed(seed)
            output = self.model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                         **options)
        if not self.is_seq2seq:  # a causal model returns the prompt too
            output = output[:, inputs["input_ids"].shape[1]:]
        return self.tokenizer.batch_decode(output, skip_special_tokens=True)


def _version_at_least(version: str, wanted: tuple[int, ...]) -> bool:
    numbers = tuple(int(part) for part in re.findall(r"\d+", version)[: len(wanted)])
    return numbers >= wanted


# --- choosing a back-end -----------------------------------------------------------------------

BACKENDS = ("template", "openai", "hf", "replay", "gold")


def make_backend(
    name: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    replay_from: Path | str | None = None,
    concurrency: int = 8,
    cot_prompt: str = ZERO_SHOT_COT_PROMPT,
    **options,
) -> TeacherBackend:
    """The teacher called `name`, one of `BACKENDS`.

    openai: the model is `model` or $KPOD_TEACHER_MODEL, the server `base_url` or
    $OPENAI_BASE_URL (else OpenAI's), the key $OPENAI_API_KEY; a server of your own may need
    no key. hf: `model` is a local folder or a hub id. `concurrency` is the number of requests
    in flight: threads for openai, the batch size for hf. `cot_prompt` is <p> of the §3.1
    template for the teachers that are prompted (openai, hf). Extra `options` go to the back-end's
    constructor (e.g. `retry=RetryPolicy(...)`, `timeout=...` for openai).
    """
    if name == "template":
        return TemplateTeacher(**options)
    if name == "gold":
        return GoldTeacher(**options)
    if name == "replay":
        if replay_from is None:
            raise TeacherError("the replay teacher needs a cache file to read (--replay-from)")
        return ReplayTeacher(replay_from, **options)
    if name == "hf":
        if not model:
            raise TeacherError("the hf teacher needs a model (--model: a local folder or a hub id)")
        return HFTeacher(model, batch_size=concurrency, cot_prompt=cot_prompt, **options)
    if name == "openai":
        model = model or os.environ.get("KPOD_TEACHER_MODEL")
        if not model:
            raise TeacherError("the openai teacher needs a model name (--model or $KPOD_TEACHER_MODEL)")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = os.environ.get("OPENAI_API_KEY") or None
        if api_key is None and base_url is None:
            raise TeacherError("set OPENAI_API_KEY for OpenAI's API, or point --base-url at your own server")
        return OpenAITeacher(model, base_url=base_url, api_key=api_key, concurrency=concurrency,
                             cot_prompt=cot_prompt, **options)
    raise TeacherError(f"unknown teacher {name!r}; choose one of {', '.join(BACKENDS)}")


# --- running a teacher over a dataset ------------------------------------------------------------


@dataclass
class TeachReport:
    """What one `teach` run did. Every (question, sample) pair is exactly one of generated,
    reused or failed; every generated or reused one is kept or dropped."""

    teacher: str
    questions: int
    samples: int
    out: Path
    cache: Path
    generated: int = 0
    reused: int = 0
    failed: int = 0
    correct: int = 0
    kept: int = 0
    dropped: int = 0
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        answered = self.generated + self.reused
        accuracy = f"{self.correct}/{answered} teacher answers correct" if answered else "no teacher answers"
        failed = f"{self.failed} failed (in {self.cache.name}; rerun to retry)" if self.failed else "0 failed"
        return (
            f"{self.teacher} on {self.questions} questions x {self.samples} sample(s): "
            f"{self.generated} generated, {self.reused} reused from cache, {failed}; {accuracy}; "
            f"kept {self.kept}, dropped {self.dropped} with a wrong answer -> {self.out}"
        )


def default_cache_path(out: Path | str) -> Path:
    """The cache beside the output file: rationales.jsonl -> rationales.cache.jsonl."""
    return Path(out).with_suffix(".cache.jsonl")


def teach(
    examples: Sequence[Example],
    backend: TeacherBackend,
    *,
    out: Path | str,
    cache: Path | str | None = None,
    samples: int = 1,
    temperature: float = 0.0,
    max_tokens: int = 256,
    seed: int = 0,
    filter_correct: bool = True,
    progress: bool = True,
) -> TeachReport:
    """Ask `backend` for `samples` rationales per question and write the ones to keep to `out`.

    Every answer is appended to `cache` (JSON Lines, flushed and synced) the moment it
    arrives, so a killed run loses only the requests in flight; the next run reuses every
    finished (id, sample) pair and asks only for the rest. The cache belongs to one teacher
    setting: use a new one for a new teacher, model or temperature. `out` is rewritten whole
    (atomically) with the records to keep, in question order: those whose answer matches the
    gold answer when `filter_correct` (§3.1), every answered one otherwise.
    """
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    ids = [example.id for example in examples]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise TeacherError(f"question ids must be unique (the cache is keyed on them); {duplicate!r} repeats")
    out = Path(out)
    cache = Path(cache) if cache is not None else default_cache_path(out)
    report = TeachReport(teacher=backend.name, questions=len(examples), samples=samples, out=out, cache=cache)

    results = read_cache(cache)
    stale = 0
    requests = []
    for example in examples:
        for sample in range(samples):
            cached = results.get((example.id, sample))
            if cached is not None and cached.question == pose_question(example.question, example.choices):
                report.reused += 1
                continue
            stale += cached is not None
            results.pop((example.id, sample), None)
            requests.append(TeacherRequest(example, sample))
    if stale:
        log.warning("%d cached answer(s) belong to a different question text and are asked again", stale)

    cache.parent.mkdir(parents=True, exist_ok=True)
    with tqdm(total=len(requests), desc=f"teacher {backend.name}", unit="rationale", disable=not progress) as bar:
        answers = backend.generate(requests, temperature=temperature, max_tokens=max_tokens, seed=seed)
        for request, output in answers:
            rationale = _grade(request, output, backend.name)
            append_jsonl(cache, rationale.to_record())
            if rationale.failed:
                report.failed += 1
                report.failures.append(rationale.error)
            else:
                report.generated += 1
                results[(rationale.id, rationale.sample)] = rationale
            bar.update(1)

    keep = []
    for example in examples:
        for sample in range(samples):
            rationale = results.get((example.id, sample))
            if rationale is None:
                continue
            report.correct += rationale.correct
            if rationale.correct or not filter_correct:
                keep.append(rationale)
            else:
                report.dropped += 1
    report.kept = len(keep)
    write_jsonl(out, (r.to_record() for r in keep))
    return report


def _grade(request: TeacherRequest, output: TeacherOutput, teacher_name: str) -> Rationale:
    """Clean a raw teacher output and check its answer against the gold one."""
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
    rationale = clean_rationale(output.reasoning)
    # Spans describe the text the back-end wrote; keep them only if cleaning left it as it was.
    spans = output.spans
    if spans and not (spans[-1][1] == len(rationale) and output.reasoning.startswith(rationale)):
        spans = None
    return Rationale(rationale=rationale, teacher_answer=teacher_answer, correct=correct, spans=spans, **common)


