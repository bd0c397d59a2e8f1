"""Choosing a teacher back-end by name: `make_backend` and the names it knows (`BACKENDS`).

The heavy back-ends import their libraries (`openai`, `transformers`) only when built, so an
offline run never needs them installed.
"""

from __future__ import annotations

import os
from pathlib import Path

from kpod_lite.teacher.hf import HFTeacher
from kpod_lite.teacher.offline import GoldTeacher, ReleasedTeacher, ReplayTeacher, TemplateTeacher
from kpod_lite.teacher.openai_compat import OpenAITeacher, RetryPolicy
from kpod_lite.teacher.protocol import TeacherBackend, TeacherError
from kpod_lite.templates import ZERO_SHOT_COT_PROMPT

BACKENDS = ("template", "openai", "hf", "replay", "gold", "released")


def _looks_local(model: str) -> bool:
    """A path rather than a hub id ("org/name"): it exists, or is written as one (./, ../, /, ~)."""
    return Path(model).expanduser().exists() or model.startswith((".", "/", "~", os.sep))


def _check_local_model(model: str) -> None:
    """A local hf teacher folder, checked before the model is loaded (`state_files.check_student_folder`)."""
    if not _looks_local(model):
        return
    folder = Path(model).expanduser()
    if not folder.is_dir():
        raise TeacherError(f"the hf teacher's model {model} is {'a file' if folder.exists() else 'not there'}: give "
                           f"the folder a model was saved in (save_pretrained), or a hub id such as "
                           f"google/flan-t5-large (teach: --model; run: --set teacher_model='\"PATH\"')")
    from kpod_lite.state_files import check_student_folder

    check_student_folder(folder, "the hf teacher's model")


def make_backend(
    name: str,
    *,
    model: str | None = None,
    base_url: str | None = None,
    replay_from: Path | str | None = None,
    concurrency: int = 8,
    cot_prompt: str = ZERO_SHOT_COT_PROMPT,
    timeout: float | None = None,
    max_attempts: int | None = None,
    **options,
) -> TeacherBackend:
    """The teacher called `name`, one of `BACKENDS`.

    openai: the model is `model` or $KPOD_TEACHER_MODEL, the server `base_url` or
    $OPENAI_BASE_URL (else OpenAI's), the key $OPENAI_API_KEY; a server of your own may need
    no key. hf: `model` is a local folder or a hub id. `concurrency` is the number of requests
    in flight: threads for openai, the batch size for hf. `cot_prompt` is <p> of the §3.1
    template, for the teachers that are prompted (openai, hf); `timeout`, seconds per request,
    and `max_attempts`, tries per request (openai; None: the back-end's 120 s and
    `RetryPolicy`'s 6). Extra `options` go to the back-end's
    constructor (e.g. `retry=RetryPolicy(...)`, `timeout=...` for openai).
    """
    if name == "template":
        return TemplateTeacher(**options)
    if name == "gold":
        return GoldTeacher(**options)
    if name == "released":
        return ReleasedTeacher(**options)
    if name == "replay":
        if replay_from is None:
            raise TeacherError("the replay teacher needs a cache file to read "
                               "(teach: --replay-from; run: --set teacher_replay_from='\"PATH\"')")
        return ReplayTeacher(replay_from, **options)
    if name == "hf":
        if not model:
            raise TeacherError("the hf teacher needs a model, a local folder or a hub id "
                               "(teach: --model; run: --set teacher_model='\"PATH\"')")
        _check_local_model(model)
        try:
            return HFTeacher(model, batch_size=concurrency, cot_prompt=cot_prompt, **options)
        except (OSError, ValueError) as error:  # no such hub id, no network, a repo id of bad form
            raise TeacherError(f"the hf teacher could not load {model!r}: {error}. Give a local model folder "
                               f"or a hub id that exists (teach: --model; run: --set teacher_model='\"PATH\"')") from None
    if name == "openai":
        model = model or os.environ.get("KPOD_TEACHER_MODEL")
        if not model:
            raise TeacherError("the openai teacher needs a model name "
                               "(teach: --model; run: --set teacher_model='\"NAME\"'; or $KPOD_TEACHER_MODEL)")
        base_url = base_url or os.environ.get("OPENAI_BASE_URL") or None
        api_key = os.environ.get("OPENAI_API_KEY") or None
        if api_key is None and base_url is None:
            raise TeacherError("set OPENAI_API_KEY for OpenAI's API, or point the teacher at your own server "
                               "(teach: --base-url; run: --set teacher_base_url='\"URL\"'; or $OPENAI_BASE_URL)")
        if timeout is not None:
            options["timeout"] = timeout
        if max_attempts is not None:
            from dataclasses import replace

            options["retry"] = replace(options.get("retry") or RetryPolicy(), max_attempts=max_attempts)
        return OpenAITeacher(model, base_url=base_url, api_key=api_key, concurrency=concurrency,
                             cot_prompt=cot_prompt, **options)
    raise TeacherError(f"unknown teacher {name!r}; choose one of {', '.join(BACKENDS)}")
