"""Checking a `KPODConfig`: every field's type and range, unknown keys, `--set KEY=JSON`.

`kpod_lite.config` declares the fields; this module holds the rules they must satisfy, so
that a typo or a bad value fails at once with a message naming the field, rather than as a
traceback in the middle of a run, or not at all:

- an unknown key names the closest field ("did you mean 'weighting_predictor_warmup_steps'?");
- a value must have the field's type: `epochs=2.7`, `epochs=true` and `student=5` are errors;
  JSON lists become tuples and JSON objects become the group's dataclass (`synthetic`, `ood`);
- floats must be finite, and each quantity of the paper its range (p > 0 for Eq. 10, ...).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import types
import typing
from functools import lru_cache

from kpod_lite.errors import ConfigError
from kpod_lite.methods import METHODS

__all__ = ["check_config", "check_keys", "parse_setting"]


# KPODConfig settings that no longer exist, and what replaced them.
REMOVED_SETTINGS = {
    "student_family": "seq2seq or causal is read off the student's model config (kpod_lite.families); set student",
    "weighting_predictor_family": "seq2seq or causal is read off the predictor's model config (kpod_lite.families)",
    "token_weights": "choose a method instead (kpod_lite.methods), e.g. method=\"w.o.-sig\"",
    "progressive": "choose a method instead (kpod_lite.methods), e.g. method=\"w.o.-prog\"",
    "diversity": "choose a method instead (kpod_lite.methods), e.g. method=\"w.o.-div\"",
    "weighted_difficulty": "choose a method instead (kpod_lite.methods), e.g. method=\"w.o.-sig-dif\"",
    "extra": "its keys are typed fields now: set them by name, e.g. train_size=800",
}


def check_keys(keys, cls, where: str, removed: dict | None = None) -> None:
    """Refuse a key that is not a field of dataclass `cls`, suggesting the closest one (or, for a
    key in `removed`, saying what replaced it)."""
    fields = [f.name for f in dataclasses.fields(cls)]
    for key in keys:
        if removed and key in removed and key not in fields:
            raise ConfigError(f"setting {key!r} of {where} no longer exists: {removed[key]}")
        if key not in fields:
            close = difflib.get_close_matches(key, fields, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the settings are {fields}"
            raise ConfigError(f"unknown setting {key!r} for {where}{hint}")


@lru_cache(maxsize=None)
def _hints(cls) -> dict:
    return typing.get_type_hints(cls)


def _coerce(path: str, value, hint):
    """`value` as type `hint` (lists to tuples, dicts to dataclasses), or a ConfigError naming `path`."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        return _coerce(path, value, kind)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"setting {path!r} takes a list, got {value!r}")
        return tuple(_coerce(f"{path}[{i}]", item, args[0]) for i, item in enumerate(value))
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"setting {path!r} takes an object with the fields of {hint.__name__}, got {value!r}")
        check_keys(value, hint, f"{path!r}")
        fields = {k: _coerce(f"{path}.{k}", v, _hints(hint)[k]) for k, v in value.items()}
        try:
            return hint(**fields)
        except ValueError as error:
            raise ConfigError(f"setting {path!r}: {error}") from None
    if hint is bool:
        if isinstance(value, bool):
            return value
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"setting {path!r} must be a finite number, got {value!r}")
            return float(value)
    elif hint is str:
        if isinstance(value, str):
            return value
    else:  # pragma: no cover - a field of a type this module does not know
        raise TypeError(f"no rule for {path!r} of type {hint!r}")
    raise ConfigError(f"setting {path!r} takes {getattr(hint, '__name__', hint)}, got {value!r}")


# (field, test, what it must be): the ranges the paper's quantities and our knobs need.
_RANGES = [
    ("p", lambda v: v > 0, "> 0 (Eq. 10 needs a growing D(t))"),
    ("epochs", lambda v: v >= 1, ">= 1"),
    ("T", lambda v: v is None or v >= 1, ">= 1 (D(T) = B in Eq. 10)"),
    ("c0_fraction", lambda v: 0 <= v <= 1, "in [0, 1] (C_0 as a fraction of B)"),
    ("alpha", lambda v: v >= 0, ">= 0 (Eq. 7)"),
    ("beta", lambda v: v >= 0, ">= 0 (Eq. 12)"),
    ("gumbel_temperature", lambda v: v > 0, "> 0 (Eq. 4)"),
    ("difficulty_temperature", lambda v: v > 0, "> 0 (Eq. 8)"),
    ("teacher_temperature", lambda v: v >= 0, ">= 0"),
    ("teacher_samples", lambda v: v >= 1, ">= 1"),
    ("teacher_max_tokens", lambda v: v >= 1, ">= 1"),
    ("teacher_concurrency", lambda v: v >= 1, ">= 1"),
    ("teacher_timeout", lambda v: v > 0, "> 0"),
    ("teacher_max_attempts", lambda v: v >= 1, ">= 1 (1: no retry)"),
    ("delta_s", lambda v: v >= 1, ">= 1 (Eq. 11)"),
    ("n_clusters", lambda v: v >= 1, ">= 1"),
    ("glove_file", lambda v: v is None or v.strip() != "", "a GloVe text file's path, or None for TF-IDF clusters (§3.4)"),
    ("ftgp_eps", lambda v: 0 < v < 0.5, "in (0, 0.5) for a (1/2 - eps) guarantee"),
    ("prefix_mode", lambda v: v in ("all", "steps", "sampled"), "'all', 'steps' or 'sampled'"),
    ("epoch_eval_split", lambda v: v in ("test", "validation"), "'test' or 'validation'"),
    ("device", lambda v: v in ("auto", "cuda", "cpu"), "'auto', 'cuda' or 'cpu'"),
    ("learning_rate", lambda v: v > 0, "> 0"),
    ("weighting_lr", lambda v: v > 0, "> 0"),
    ("token_weight_floor", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("batch_size", lambda v: v >= 1, ">= 1"),
    ("weighting_epochs", lambda v: v >= 0, ">= 0"),
    ("weighting_predictor_warmup_steps", lambda v: v >= 0, ">= 0"),
    ("weighting_batch_size", lambda v: v is None or v >= 1, ">= 1"),
    ("weighting_max_tokens", lambda v: v is None or v >= 1, ">= 1"),
    ("weighting_sampled_prefixes", lambda v: v >= 0, ">= 0"),
    ("max_source_length", lambda v: v >= 1, ">= 1"),
    ("max_target_length", lambda v: v >= 2, ">= 2 (a token and </s>)"),
    ("max_new_tokens", lambda v: v >= 1, ">= 1"),
    ("eval_batch_size", lambda v: v is None or v >= 1, ">= 1"),
    ("lora_rank", lambda v: v >= 1, ">= 1"),
    ("lora_alpha", lambda v: v >= 1, ">= 1"),
    ("lora_dropout", lambda v: 0 <= v < 1, "in [0, 1)"),
    ("gradient_accumulation_steps", lambda v: v >= 1, ">= 1"),
    ("warmup_ratio", lambda v: 0 <= v <= 1, "in [0, 1]"),
    ("weight_decay", lambda v: v >= 0, ">= 0"),
    ("max_grad_norm", lambda v: v > 0, "> 0"),
    ("save_total_limit", lambda v: v is None or v >= 1, ">= 1 (resume needs the last checkpoint)"),
    ("train_size", lambda v: v is None or v >= 1, ">= 1"),
    ("epoch_eval_size", lambda v: v >= 0, ">= 0 (0: no accuracy after each epoch)"),
    ("validation_size", lambda v: v is None or v >= 0, ">= 0"),
    ("test_size", lambda v: v is None or v >= 1, ">= 1"),
]


def check_config(cfg) -> None:
    """Coerce and check every field of a `KPODConfig` in place (from its `__post_init__`)."""
    hints = _hints(type(cfg))
    for field in dataclasses.fields(cfg):
        value = _coerce(field.name, getattr(cfg, field.name), hints[field.name])
        object.__setattr__(cfg, field.name, value)  # frozen: the coerced value replaces the given one
    problems = [f"{name} must be {rule}, got {getattr(cfg, name)!r}" for name, test, rule in _RANGES
                if not test(getattr(cfg, name))]
    if cfg.T is not None and cfg.T > cfg.epochs:
        problems.append(f"T must be <= epochs ({cfg.epochs}), got {cfg.T}")
    if cfg.prefix_mode == "sampled" and cfg.weighting_sampled_prefixes < 1:
        problems.append("prefix_mode 'sampled' draws weighting_sampled_prefixes prefixes per rationale: set it >= 1")
    if cfg.method not in METHODS:
        problems.append(f"method must be one of {list(METHODS)}, got {cfg.method!r}")
    names = [s.name for s in cfg.ood]
    if len(set(names)) != len(names):
        problems.append(f"OOD set names must be distinct, got {names}")
    for spec in cfg.ood:
        if spec.synthetic is not None:
            spec.task(cfg.synthetic)  # the changed task must be a valid one (raises naming the set)
    if problems:
        raise ConfigError(f"invalid KPODConfig {cfg.name!r}: " + "; ".join(problems))


def parse_setting(cfg, item: str):
    """`cfg` with one command-line setting "KEY=JSON" applied (see `config.with_settings`)."""
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ConfigError(f"a setting is KEY=JSON, got {item!r}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"setting {key!r}: {text!r} is not JSON ({error.msg}); quote strings: "
                     f"{key}='\"...\"'") from None
    head, dot, rest = key.partition(".")
    check_keys([head], type(cfg), f"preset {cfg.name!r}", REMOVED_SETTINGS)
    if dot:
        group = getattr(cfg, head)
        if not dataclasses.is_dataclass(group):
            raise ConfigError(f"setting {key!r}: {head!r} has no fields to set with a dot")
        check_keys([rest], type(group), repr(head))
        value = {**dataclasses.asdict(group), rest: value}
    return cfg.replace(**{head: value})
