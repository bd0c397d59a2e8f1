"""Where the students and tokenizers this package builds itself are kept: one cache folder per
user, shared by the tiny students (`models.tiny`), the SentencePiece stand-ins
(`models.standins`) and the rehearsal students."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "KPOD_CACHE"


def cache_root() -> Path:
    """The user's kpod-lite cache folder: `$KPOD_CACHE`, else `$XDG_CACHE_HOME/kpod-lite`,
    else `~/.cache/kpod-lite` (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "kpod-lite"
    return Path.home() / ".cache" / "kpod-lite"
