"""While a run goes: each stage's own GPU peak, and the memory a finished stage held given back."""

from __future__ import annotations

import gc

import torch

from kpod_lite.memory.estimate import MiB


def reset_gpu_peak() -> None:
    """Count the GPU's peak from here on, so that a stage's peak is its own and not the run's so far."""
    torch.cuda.reset_peak_memory_stats()


def gpu_peak_mb() -> dict[str, float]:
    """The GPU's peak since `reset_gpu_peak`, in MiB: "max_allocated" (held by tensors, what the
    estimate models) and "max_reserved" (held by the caching allocator, what the driver saw)."""
    return {"max_allocated": round(torch.cuda.max_memory_allocated() / MiB, 1),
            "max_reserved": round(torch.cuda.max_memory_reserved() / MiB, 1)}


def plain_forward(model) -> None:
    """Take accelerate's mixed-precision wrapper off `model.forward` (a Trainer in bf16 puts it
    there): the wrapper is a method bound to the model and stored in it, a reference cycle that
    keeps the model, and its GPU memory, alive until the garbage collector happens to run. So is
    the plain forward that `accelerate.utils.extract_model_from_parallel` binds back in its place."""
    def own(forward) -> bool:
        return getattr(forward, "__self__", None) is model and getattr(forward, "__func__", None) is type(model).forward

    original = vars(model).pop("_original_forward", None)
    if original is not None and not own(original):  # a forward someone had replaced before: theirs again
        model.forward = original
    elif original is not None or own(vars(model).get("forward")):
        del vars(model)["forward"]  # the class's own forward, which holds no reference to the model


def release(model=None) -> None:
    """Give back the memory of a student the caller is done with, once it drops its last name for
    it (or that of a stage that has returned, when `model` is None): `plain_forward`, then the
    garbage collector (a finished Trainer and its accelerator hold the model in reference cycles),
    then the CUDA caching allocator's unused blocks go back to the driver, for the next stage's
    student or another process."""
    if model is not None:
        plain_forward(model)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
