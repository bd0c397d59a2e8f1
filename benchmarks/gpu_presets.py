"""Which preset on which GPU: estimated hours (a range) and peak memory of each GPU preset on common GPUs.

Estimated, not measured on a GPU: hours from `kpod_lite.gpu_time` (each step the longer of its
FLOPs at 40%-15% of the dense peak and its kernel launches at 5-20 µs each; generation also
bound by memory bandwidth; plus install, download and model loads), memory from
`kpod_lite.memory` (its per-layer terms checked on CPU by benchmarks/memory_per_layer.py).
Students are the published architectures (`kpod_lite.models.published`), so nothing is
downloaded. Each run counts KPOD and plain CoT, one seed each, and three evaluations (before,
each method). Prints JSON, then the markdown table the README keeps.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/gpu_presets.py

`--references` instead measures, on this machine's CPU, what `kpod_lite.gpu_time` takes its
kernel counts, its host time per kernel and its tokens per word from (JSON):

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/gpu_presets.py --references
"""

from __future__ import annotations

import argparse
import json

from kpod_lite import gpu_time
from kpod_lite.config import preset
from kpod_lite.gpu_time.plan import format_span
from kpod_lite.memory import GPU_STAGES, GiB, estimate_memory, model_shape, separate_predictor
from kpod_lite.models.published import published_config

CONTEXT_GIB = 0.5  # ours: what the CUDA context takes of nvidia-smi's total
PRESETS = {"colab": gpu_time.SVAMP, "flan-t5-large": gpu_time.GSM8K, "flan-t5-xl": gpu_time.GSM8K,
           "llama-7b": gpu_time.GSM8K}
BOUND_WORDS = {"launches": "launch-bound", "MFU": "MFU-bound", "bandwidth": "bandwidth-bound"}


def table() -> list[dict]:
    rows = []
    for name, shape in PRESETS.items():
        cfg = preset(name)
        model_config = published_config(cfg.student)
        predictor = separate_predictor(cfg)  # flan-t5-xl's Eq. 5 predictor is FlanT5-Large (§3.3)
        predictor_config = published_config(predictor) if predictor else None
        parameters = model_shape(model_config).parameters
        for key, gpu in gpu_time.GPUS.items():
            estimates = estimate_memory(cfg, model_config, bf16=gpu.bf16_tflops is not None,
                                        predictor_config=predictor_config)
            peak = max(estimates[s].total for s in GPU_STAGES) / GiB
            hours = gpu_time.estimate_hours(cfg, parameters, shape, gpu, model_config=model_config)
            rows.append({"preset": name, "gpu": gpu.name, "peak_gib": round(peak, 1),
                         "fits": peak <= gpu.memory_mib / 1024 - CONTEXT_GIB,
                         "hours": {"low": round(hours["low"], 2), "central": round(hours["total"], 2),
                                   "high": round(hours["high"], 2),
                                   **{stage: [round(low, 2), round(high, 2)] for stage, (low, high)
                                      in hours["ranges"].items()}},
                         "bound": hours["bound"], "dominant": hours["dominant"]})
    return rows


def markdown(rows: list[dict]) -> str:
    gpus = [gpu.name for gpu in gpu_time.GPUS.values()]
    lines = ["| preset | " + " | ".join(gpus) + " |", "|---|" + "---|" * len(gpus)]
    for name in PRESETS:
        cells = []
        for gpu in gpus:
            row = next(r for r in rows if r["preset"] == name and r["gpu"] == gpu)
            time = f"{format_span(row['hours']['low'], row['hours']['high'])} ({BOUND_WORDS[row['dominant']]})"
            cells.append(f"{time}, {row['peak_gib']} GiB" if row["fits"] else f"does not fit ({row['peak_gib']} GiB)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- --references: what kpod_lite.gpu_time's constants are taken from ------------------------------------

# Operators that never launch a kernel: views, metadata, allocation, and a host read of a scalar.
NO_KERNEL = {"aten::view", "aten::reshape", "aten::_reshape_alias", "aten::_unsafe_view", "aten::transpose",
             "aten::t", "aten::permute", "aten::expand", "aten::expand_as", "aten::as_strided", "aten::unsqueeze",
             "aten::squeeze", "aten::slice", "aten::select", "aten::narrow", "aten::split", "aten::chunk",
             "aten::unbind", "aten::flatten", "aten::unflatten", "aten::movedim", "aten::view_as", "aten::alias",
             "aten::detach", "aten::lift_fresh", "aten::contiguous", "aten::resolve_conj", "aten::resolve_neg",
             "aten::empty", "aten::empty_like", "aten::empty_strided", "aten::result_type", "aten::item",
             "aten::_local_scalar_dense", "aten::is_nonzero", "aten::size", "aten::stride", "aten::dim",
             "aten::is_same_size", "aten::_has_compatible_shallow_copy_type", "aten::set_"}


def _kernels(profiler) -> int:
    """Leaf aten operators that launch a kernel on a GPU: no aten child that does."""
    def launches(event) -> bool:
        return event.name.startswith("aten::") and event.name not in NO_KERNEL
    return sum(1 for e in profiler.events() if launches(e) and not any(launches(c) for c in e.cpu_children))


def _small(student: str, depth: int):
    """The published architecture at `depth` layers a stack and small width: the same operators."""
    config = published_config(student, depth)
    if config.model_type == "t5":
        config.d_model, config.d_ff, config.num_heads, config.d_kv = 64, 128, 4, 16
    else:
        config.hidden_size, config.intermediate_size, config.num_attention_heads = 64, 128, 4
        config.num_key_value_heads, config.head_dim = 4, 16
    config.vocab_size = 128
    return config


def _student(name: str, depth: int, kind: str):
    import torch

    from kpod_lite.families import family_of
    from kpod_lite.models import apply_lora

    cfg = preset(name)
    model_config = _small(cfg.student, depth)
    torch.manual_seed(0)
    model = family_of(model_config).model_class.from_config(model_config)
    model.config.use_cache = kind == "generate"
    checkpointing = kind == "train_checkpointed"
    if checkpointing:  # as models.load_student turns it on, under either name transformers gives it
        (getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable)()
    if kind != "inference":  # the difficulty scorer is the student as loaded; the others carry adapters
        model = apply_lora(model, cfg.replace(gradient_checkpointing=checkpointing))
    return model, model_config


def _step(name: str, depth: int, kind: str, new_tokens: int = 8, width: int = 32):
    """A callable running one step of `kind` on a small `_student`."""
    import torch

    model, model_config = _student(name, depth, kind)
    ids = torch.randint(3, 128, (4, width))
    labels = torch.randint(3, 128, (4, width // 2))
    if model_config.model_type == "t5":
        inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    else:
        joined = torch.cat([ids, labels], 1)
        inputs = {"input_ids": joined, "attention_mask": torch.ones_like(joined), "labels": joined}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step():
        if kind == "generate":
            with torch.no_grad():
                model.eval().generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=new_tokens,
                                      min_new_tokens=new_tokens, do_sample=False, num_beams=1, pad_token_id=0,
                                      eos_token_id=1)
        elif kind == "inference":
            with torch.no_grad():
                model.eval()(**inputs)
        else:
            model.train()(**inputs).loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return step


def count_kernels(name: str, kind: str, depth: int, new_tokens: int = 8) -> int:
    from torch.profiler import ProfilerActivity, profile

    step = _step(name, depth, kind, new_tokens)
    step()  # the first step builds state (optimizer moments, caches) a run pays once
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        step()
    return _kernels(profiler)


def kernel_references(name: str) -> dict:
    """Kernels per layer (seq2seq: encoder + decoder pair) and outside the layers, by kind of step,
    from the counts at two depths; a generated token from 16 against 8 new tokens."""
    out = {}
    for kind in ("train", "train_checkpointed", "inference"):
        one, two = count_kernels(name, kind, 1), count_kernels(name, kind, 2)
        out[kind] = [two - one, 2 * one - two]
    per_token = {depth: (count_kernels(name, "generate", depth, 16) - count_kernels(name, "generate", depth, 8)) / 8
                 for depth in (2, 3)}
    layer = per_token[3] - per_token[2]
    out["generate"] = [layer, per_token[2] - 2 * layer]
    return out


def seconds_per_kernel(name: str, repeats: int = 20) -> dict:
    """Host seconds per launched operator of a tiny-width checkpointed LoRA training step on this CPU
    (the arithmetic is negligible at this width): the fastest and the median of `repeats` steps."""
    import time

    step = _step(name, 2, "train_checkpointed", width=8)
    for _ in range(3):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    times.sort()
    kernels = count_kernels(name, "train_checkpointed", 2)
    return {"fastest": times[0] / kernels, "median": times[len(times) // 2] / kernels}


def tokens_per_word() -> dict:
    """Tokens per whitespace word of the rationales in data_samples/formats/mcckd_train.json with the
    T5 stand-in tokenizer, and with plain words (and their punctuation) as one piece each."""
    import re
    from pathlib import Path

    from transformers import AutoTokenizer

    from kpod_lite.models.standins import standin_tokenizer_path

    tokenizer = AutoTokenizer.from_pretrained(standin_tokenizer_path("t5"))
    path = Path(__file__).resolve().parents[1] / "data_samples" / "formats" / "mcckd_train.json"
    rationales = [text for record in json.loads(path.read_text(encoding="utf-8")) for text in record["output"]]
    words = [word for text in rationales for word in text.split()]

    def pieces(word: str) -> int:
        return len(tokenizer(word, add_special_tokens=False)["input_ids"])

    standin = sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in rationales)
    plain = sum(1 + len(w) - len(w.strip(".,:;!?")) if re.fullmatch(r"[A-Za-z']+", w.strip(".,:;!?")) else pieces(w)
                for w in words)
    return {"rationales": len(rationales), "words": len(words), "standin_vocabulary": len(tokenizer),
            "standin": standin / len(words), "plain_words_whole": plain / len(words)}


def references() -> dict:
    import warnings

    warnings.filterwarnings("ignore")  # transformers' notes on use_cache under checkpointing
    return {"kernels": {name: kernel_references(name) for name in ("flan-t5-large", "llama-7b")},
            "seconds_per_kernel": {name: seconds_per_kernel(name) for name in ("flan-t5-large", "llama-7b")},
            "tokens_per_word": tokens_per_word()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", action="store_true", help="measure the constants kpod_lite.gpu_time uses")
    if parser.parse_args().references:
        print(json.dumps(references(), indent=1))
    else:
        rows = table()
        print(json.dumps(rows, indent=1))
        print()
        print(markdown(rows))
