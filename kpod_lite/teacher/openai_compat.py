"""The OpenAI-compatible teacher: OpenAI, vLLM, Ollama... asked in two stages, with retries.

§4.1 uses GPT-3.5-Turbo as the teacher. `OpenAITeacher` asks any server that speaks the chat
completions API the two questions of Kojima et al. (2022): "Q: <x>\\nA: <p>" for the reasoning
z, then the same prompt, z and the answer trigger for the answer, greedily. Requests run in
a thread pool; each one retries on its own with `RetryPolicy`, so one slow or rate-limited
question does not hold up the rest.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from kpod_lite.teacher.protocol import (
    EXTRACTION_MAX_TOKENS,
    TeacherError,
    TeacherOutput,
    TeacherRequest,
    request_seed,
)
from kpod_lite.templates import ZERO_SHOT_COT_PROMPT, build_prompt, extraction_prompt

log = logging.getLogger(__name__)


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
    max_retry_after: float = 300.0  # the longest server-asked wait (Retry-After) that is honoured

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """The wait before attempt `attempt` + 1: the backoff, or longer if the server asked
        for longer with a Retry-After header (capped at `max_retry_after`)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        backoff = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if retry_after is None:
            return backoff
        return max(backoff, min(retry_after, self.max_retry_after))


def retry_after_seconds(error: Exception) -> float | None:
    """The wait a 429 or 503 response asks for in its Retry-After header (seconds or an HTTP
    date), or None when it asks for none or cannot be read."""
    response = getattr(error, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - time.time())


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
                problem, asked = error, None  # time-outs are connection errors too
            except openai.APIStatusError as error:
                asked = retry_after_seconds(error)
                if error.status_code in (401, 403, 404):
                    raise TeacherError(f"the teacher server refused {where}: {self._describe(error)}") from None
                if error.status_code not in (408, 409, 429) and error.status_code < 500:
                    raise RequestFailed(f"{where}: {self._describe(error)}") from None
                problem = error
            if attempt == self.retry.max_attempts:
                raise RequestFailed(f"{where}: {self._describe(problem)} (after {attempt} attempts)") from None
            with self._jitter_lock:
                wait = self.retry.delay(attempt, self._jitter, asked)
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
