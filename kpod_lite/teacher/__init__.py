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
student target `format_rationale_target`). This package holds the rest, one module a part:

    protocol       what a back-end gets and returns (`TeacherRequest`, `TeacherOutput`), and
                   the `Rationale` record kept of each answer
    offline        template  offline default for synthetic problems: re-renders their program
                   gold      the dataset's own worked solution (GSM8K) plays the teacher
                   replay    answers read back from an earlier cache file, no teacher calls
                   released  rationales shipped with the questions (MCC-KD's GPT-3.5 ones)
    openai_compat  openai    any OpenAI-compatible server (OpenAI, vLLM, Ollama...), two-stage,
                             retried
    hf             hf        a local `transformers` model, batched, two-stage
    registry       `make_backend`: a back-end by name
    cleaning       what a teacher wrote, cleaned to r (`clean_rationale`) and graded
    cache          the append-only cache that survives a killed run
    teaching       `teach`, which runs a back-end over a dataset through that cache
"""

from kpod_lite.teacher.cache import default_cache_path, read_cache
from kpod_lite.teacher.cleaning import clean_rationale
from kpod_lite.teacher.hf import HFTeacher
from kpod_lite.teacher.offline import (
    GoldTeacher,
    ReleasedTeacher,
    ReplayTeacher,
    TemplateTeacher,
    released_rationales,
    split_gsm8k_solution,
)
from kpod_lite.teacher.openai_compat import (
    PLACEHOLDER_API_KEY,
    MalformedResponse,
    OpenAITeacher,
    RequestFailed,
    RetryPolicy,
    redact,
)
from kpod_lite.teacher.protocol import (
    EXTRACTION_MAX_TOKENS,
    Rationale,
    TeacherBackend,
    TeacherError,
    TeacherOutput,
    TeacherRequest,
    request_seed,
)
from kpod_lite.teacher.registry import BACKENDS, make_backend
from kpod_lite.teacher.teaching import TeachReport, check_failures, teach

__all__ = [
    "BACKENDS",
    "EXTRACTION_MAX_TOKENS",
    "PLACEHOLDER_API_KEY",
    "GoldTeacher",
    "HFTeacher",
    "MalformedResponse",
    "OpenAITeacher",
    "Rationale",
    "ReleasedTeacher",
    "ReplayTeacher",
    "RequestFailed",
    "RetryPolicy",
    "TeachReport",
    "TeacherBackend",
    "TeacherError",
    "TeacherOutput",
    "TeacherRequest",
    "TemplateTeacher",
    "check_failures",
    "clean_rationale",
    "default_cache_path",
    "make_backend",
    "read_cache",
    "redact",
    "released_rationales",
    "request_seed",
    "split_gsm8k_solution",
    "teach",
]
