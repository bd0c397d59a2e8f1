"""A preset's per-family settings must follow its student: checked before a run starts.

App. A trains the two kinds of student with different settings: FlanT5 (seq2seq) with a
learning rate of 5e-5 and LoRA rank 128, LLaMA-7B (causal) with 1e-5 and rank 64. The GPU
presets carry them (`config.PRESETS`), together with a mask-learning batch sized to fit the
paper's GPU (`weighting_batch_size`: one rationale a step for LLaMA-7B, four for FlanT5). A
user who changes only the student, say `preset("colab", student="/content/llama-7b")`, would
train a LLaMA with FlanT5's settings, and its mask learning would take four rationales a step
instead of one (for LLaMA-7B in bf16, an estimated 33 GiB instead of 21: kpod_lite.memory).
`check_student_family` refuses that before any stage runs, naming the settings and the preset
made for the student's family.

Which student belongs to which family comes from its model config (`families.family_of`),
never from its name: the presets' own students are published architectures
(`models.published.published_config`) or built here (`models.rehearsal`, `models.tiny`), so
nothing is downloaded or built for them; the user's student is read from its folder or the hub
(its `config.json` only). When that config cannot be read (no network), the check is skipped with
a warning: the stage that loads the student says what is wrong. Not checked:

* a config whose `name` is no preset ("custom", or a name of the user's own): its settings
  are the user's;
* the `tiny` preset: its settings are calibrated for the tiny students of both families
  (docs/RESULTS.md, "Calibration"), not taken from App. A.
"""

from __future__ import annotations

import logging

from kpod_lite.config import PRESETS, KPODConfig
from kpod_lite.errors import ConfigError
from kpod_lite.families import family_of

__all__ = ["FAMILY_SETTINGS", "check_student_family", "presets_for_family"]

log = logging.getLogger(__name__)

# The settings App. A (and the memory budget of mask learning) sets per family.
FAMILY_SETTINGS = ("learning_rate", "lora_rank", "lora_alpha", "weighting_batch_size")


def _family(student: str, trust_remote_code: bool = False) -> str | None:
    """The family of a student ("seq2seq" or "causal"), from its model config without its
    weights or any build: a published architecture's from the published numbers (no download),
    the rest through `memory.load_model_config` (which knows the tiny and rehearsal students).
    None, with a warning, when that config cannot be read."""
    from kpod_lite.memory import load_model_config
    from kpod_lite.models.published import PUBLISHED, published_config

    try:
        config = (published_config(student) if student in PUBLISHED
                  else load_model_config(student, trust_remote_code))
    except (OSError, ValueError) as error:  # offline hub, a gated model, a folder without config.json
        log.warning("cannot read the model config of %s (%s): its family is not checked against the preset's "
                    "settings", student, error)
        return None
    return family_of(config).name


def _checked(preset: KPODConfig) -> bool:
    """Whether a preset's per-family settings are App. A's for its student's family."""
    from kpod_lite.models import TINY_SPECS

    return preset.student not in TINY_SPECS


def presets_for_family(family: str) -> list[str]:
    """The presets made for students of `family` ("seq2seq" or "causal"), in `PRESETS` order."""
    return [name for name, preset in PRESETS.items() if _checked(preset) and _family(preset.student) == family]


def check_student_family(cfg: KPODConfig) -> None:
    """Raise `ConfigError` when `cfg` is a preset whose student was changed to one of the other
    family (seq2seq or causal) while per-family settings (`FAMILY_SETTINGS`) are still the
    preset's; the message names the preset, the student's family, those settings, the preset
    made for that family and how to keep the values on purpose. Skipped, with a warning, when
    the student's config cannot be read."""
    preset = PRESETS.get(cfg.name)
    if preset is None or not _checked(preset) or cfg.student == preset.student:
        return
    family, preset_family = _family(cfg.student, cfg.trust_remote_code), _family(preset.student)
    if family is None or preset_family is None or family == preset_family:
        return
    made_for = presets_for_family(family)
    reference = PRESETS[made_for[0]] if made_for else None
    # A setting the two families share (none today) cannot be wrong for either.
    kept = [key for key in FAMILY_SETTINGS if getattr(cfg, key) == getattr(preset, key)
            and (reference is None or getattr(reference, key) != getattr(preset, key))]
    if not kept:
        return
    if reference is None:
        fix = "Set them for this student"
    else:
        others = f" (or {', '.join(repr(name) for name in made_for[1:])})" if made_for[1:] else ""
        fix = (f"Use preset {made_for[0]!r}{others}, made for {family} students, with student={cfg.student!r}, "
               f"or set them for this student, e.g. as {made_for[0]!r} does: "
               + ", ".join(f"{key}={getattr(reference, key)!r}" for key in kept))
    raise ConfigError(
        f"preset {cfg.name!r} is made for a {preset_family} student ({preset.student}), but student "
        f"{cfg.student!r} is {family}, and {', '.join(f'{key}={getattr(cfg, key)!r}' for key in kept)} "
        f"{'is' if len(kept) == 1 else 'are'} still the preset's, chosen for {preset_family} students (App. A). "
        f"{fix}. To keep the values of preset {cfg.name!r} on purpose, give the config a name of your own "
        f"(e.g. name='my-run'): a config named after no preset is not checked.")
