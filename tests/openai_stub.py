"""A tiny OpenAI-compatible chat server on loopback, for testing the `openai` teacher.

It speaks just enough of `/v1/chat/completions` for the real `openai` client: stage-1
prompts ("Q: ... A: Let's think step by step.") get a short deterministic reasoning, stage-2
prompts (which end with an answer trigger) get the number or letter that reasoning reached.
Tests can script faults per question and stage, see `StubServer.inject`, and read back every
request the server saw in `StubServer.seen`.

    with StubServer() as server:
        server.inject("What is 3 + 4?", "429", "ok")
        client = openai.OpenAI(base_url=server.base_url, api_key="...", max_retries=0)
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Fault kinds a test can inject. "echo-400" and "echo-500" put the request's Authorization
# header into the error body, the way a careless proxy might: the client must not pass it on.
FAULTS = ("ok", "429", "429-wait", "500", "400", "401", "timeout", "malformed", "empty", "echo-400", "echo-500")

STAGE_TWO_MARKERS = ("Therefore, the answer (arabic numerals) is", "Therefore, among A through E, the answer is")


@dataclass(frozen=True)
class SeenRequest:
    stage: int  # 1: reasoning, 2: answer extraction
    question: str  # the text between "Q:" and "A:" of the prompt
    fault: str  # what the server answered with ("ok" or a fault kind)
    authorization: str
    body: dict


def default_reasoning(question: str) -> str:
    """Adds the two numbers in "What is a + b?", with a little filler, ending in "a + b = c.".

    A multiple-choice question always gets option (B).
    """
    if "Answer Choices:" in question:
        return "A bank is where money is kept. So (B) fits best."
    match = re.search(r"(\d+)\s*\+\s*(\d+)", question)
    a, b = (int(match.group(1)), int(match.group(2))) if match else (3, 4)
    if "(trap)" in question:  # a question the stub teacher gets wrong on purpose
        return f"We simply add them up. {a} + {b} = {a + b + 1}."
    return f"We simply add them up. {a} + {b} = {a + b}."


def _question_of(prompt: str) -> str:
    match = re.search(r"Q:\s*(.*?)\s*\nA:", prompt, flags=re.S)
    return match.group(1) if match else prompt


def _final_number(text: str) -> str:
    numbers = re.findall(r"-?\d+(?:\.\d+)?", text)
    return numbers[-1] if numbers else "0"


class StubServer:
    """An OpenAI-compatible server in a thread on 127.0.0.1 (port chosen by the OS).

    delay: seconds every answer waits (a slow teacher); timeout_sleep: how long a "timeout"
    fault waits before answering (set it above the client's timeout).
    """

    def __init__(self, *, delay: float = 0.0, timeout_sleep: float = 2.0, reasoning=default_reasoning):
        self.delay = delay
        self.timeout_sleep = timeout_sleep
        self.reasoning = reasoning
        self.seen: list[SeenRequest] = []
        self._scripts: dict[tuple[str, int], list[str]] = {}
        self._persistent: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    # --- scripting ------------------------------------------------------------------------
    def inject(self, question: str, *faults: str, stage: int = 1, persistent: bool = False) -> None:
        """Answer the next requests for `question` at `stage` with `faults`, in order.

        With persistent=True the single fault given answers every such request, forever.
        """
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; choose from {FAULTS}")
        with self._lock:
            if persistent:
                (fault,) = faults
                self._persistent[(question, stage)] = fault
            else:
                self._scripts.setdefault((question, stage), []).extend(faults)

    def _next_fault(self, question: str, stage: int) -> str:
        with self._lock:
            if (question, stage) in self._persistent:
                return self._persistent[(question, stage)]
            script = self._scripts.get((question, stage))
            return script.pop(0) if script else "ok"

    def count(self, *, stage: int | None = None, question: str | None = None) -> int:
        """How many requests the server saw, optionally only for one stage and/or question."""
        with self._lock:
            return sum(
                1
                for seen in self.seen
                if (stage is None or seen.stage == stage) and (question is None or seen.question == question)
            )

    # --- lifecycle ------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> "StubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    # --- HTTP -----------------------------------------------------------------------------
    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                prompt = body["messages"][-1]["content"]
                stage = 2 if any(marker in prompt for marker in STAGE_TWO_MARKERS) else 1
                question = _question_of(prompt)
                fault = server._next_fault(question, stage)
                authorization = self.headers.get("Authorization", "")
                with server._lock:
                    server.seen.append(SeenRequest(stage, question, fault, authorization, body))
                time.sleep(server.delay)
                try:
                    self._answer(fault, stage, question, prompt, authorization, body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a "timeout" fault): nothing to answer

            def _answer(self, fault, stage, question, prompt, authorization, body) -> None:
                if fault == "timeout":
                    time.sleep(server.timeout_sleep)
                if fault == "429":
                    return self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}})
                if fault == "429-wait":  # a rate limit that says how long to wait
                    return self._send(429, {"error": {"message": "rate limited", "type": "rate_limit"}},
                                      headers={"Retry-After": "2"})
                if fault == "500":
                    return self._send(500, {"error": {"message": "internal error"}})
                if fault in ("400", "401"):
                    return self._send(int(fault), {"error": {"message": "bad request" if fault == "400" else "bad key"}})
                if fault in ("echo-400", "echo-500"):
                    status = 400 if fault == "echo-400" else 500
                    return self._send(status, {"error": {"message": f"rejected, you sent {authorization}"}})
                if fault == "malformed":
                    return self._send_raw(200, b'{"id": "chatcmpl-x", "choices": [{"mess')
                if fault == "empty":
                    return self._send(200, {"id": "chatcmpl-x", "object": "chat.completion", "created": 0,
                                            "model": body.get("model", "stub"), "choices": []})
                if stage == 1:
                    content = server.reasoning(question)
                else:
                    reasoning = prompt.split("Let's think step by step.", 1)[-1].rsplit("Therefore", 1)[0]
                    letters = re.findall(r"\(([A-E])\)", reasoning) or ["A"]
                    content = f" ({letters[-1]})." if "among A through E" in prompt else f" {_final_number(reasoning)}."
                self._send(200, {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "stub"),
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

            def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
                self._send_raw(status, json.dumps(payload).encode(), headers)

            def _send_raw(self, status: int, data: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
