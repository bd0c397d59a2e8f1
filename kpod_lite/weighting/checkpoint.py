"""Mask learning that survives being killed: the state after the warm-up and after each epoch.

Training θ^w (Eq. 7) is the longest stage of the tiny pipeline. `train_weighter(checkpoint=)`
writes, after the predictor's warm-up and after every epoch, everything the next epoch depends
on: the weighter (Att, f_w), the predictor's trainable parameters (a LoRA predictor's adapters,
or a copied predictor whole), AdamW's state, the three random streams (batch order and
prefixes, Gumbel noise, dropout) and the history so far. A rerun with the same rationales and
settings continues from the last finished phase and ends with the same weights, bit for bit, as
a run that was never stopped; other rationales or settings are refused rather than mixed in.

The file is written next to its destination and renamed into place, so a kill while writing
leaves the previous phase's state; it is read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path

import torch

from kpod_lite.config import ConfigError, KPODConfig
from kpod_lite.models.loading import model_cuda_devices


def fingerprint(config: KPODConfig, items: list[dict]) -> str:
    """What a checkpoint is valid for: the settings and the exact training items."""
    # Where it runs is not what it learns, and a checkpoint written before `device` existed stays valid.
    settings = {key: value for key, value in config.to_dict().items() if key != "device"}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for item in items:
        digest.update(json.dumps([item["ids"], item["ks"], item["answer"], item["question"]]).encode())
    return digest.hexdigest()


# What `save_state` writes and `restore_state` reads ("cuda_rng" is optional: a CPU run has none).
_STATE_KEYS = ("fingerprint", "epochs_done", "weighter", "predictor", "optimizer", "rng", "generator", "torch_rng",
               "history")


def save_state(path: Path, *, valid_for: str, epochs_done: int, weighter, predictor, optimizer,
               rng: random.Random, generator: torch.Generator, history: dict) -> None:
    """The state after `epochs_done` epochs (0: after the warm-up), atomically."""
    trainable = {name: p.detach().clone() for name, p in predictor.named_parameters() if p.requires_grad}
    state = {"fingerprint": valid_for, "epochs_done": epochs_done, "weighter": weighter.state_dict(),
             "predictor": trainable, "optimizer": optimizer.state_dict(), "rng": rng.getstate(),
             "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
             # On a GPU, dropout draws from the generator of the predictor's GPU; only that one is
             # read (asking every visible GPU would create a CUDA context on each).
             "cuda_rng": {index: torch.cuda.get_rng_state(index) for index in model_cuda_devices(predictor)},
             "history": json.dumps(history)}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    torch.save(state, partial)
    os.replace(partial, path)


def load_state(path: Path, valid_for: str) -> dict | None:
    """The saved state, or None when there is none; a state for other data or settings, or a file
    that is cut or damaged, is an error naming the file and saying to delete it."""
    if not path.exists():
        return None
    from kpod_lite.data import DataFormatError

    remedy = "delete it to start this run's mask learning from the beginning"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a cut or damaged pickle fails in many ways (IndexError, EOFError, ...)
        raise DataFormatError(path, None, None, f"a mask-learning checkpoint that cannot be read "
                              f"({type(error).__name__}: {error}): it was cut or damaged; {remedy}") from None
    missing = [key for key in _STATE_KEYS if not isinstance(state, dict) or key not in state]
    if missing:
        raise DataFormatError(path, None, missing[0], f"missing from a mask-learning checkpoint; {remedy}")
    if state.get("fingerprint") != valid_for:
        raise ConfigError(f"{path} holds mask learning for other rationales or settings; delete it to start "
                          f"this run's mask learning from the beginning")
    return state


def restore_state(state: dict, *, weighter, predictor, optimizer, rng: random.Random,
                  generator: torch.Generator) -> dict:
    """Put a saved state back in place, the CUDA random state on the predictor's GPU only; returns
    the history it had."""
    weighter.load_state_dict(state["weighter"])
    parameters = dict(predictor.named_parameters())
    with torch.no_grad():
        for name, value in state["predictor"].items():
            parameters[name].copy_(value)
    optimizer.load_state_dict(state["optimizer"])
    version, internal, gauss = state["rng"]
    rng.setstate((version, tuple(internal), gauss))
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    saved = state.get("cuda_rng") or {}
    if isinstance(saved, list):  # written before: one state per visible GPU, in index order
        saved = dict(enumerate(saved))
    for index in model_cuda_devices(predictor):
        if index in saved:
            torch.cuda.set_rng_state(saved[index], index)
    return json.loads(state["history"])
