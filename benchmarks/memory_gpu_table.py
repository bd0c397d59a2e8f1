"""Estimated peak GPU memory by stage for each GPU preset, and whether it fits common GPUs.

Estimated, not measured on a GPU (kpod_lite.memory; its per-layer terms are checked on CPU by
benchmarks/memory_per_layer.py). Students are the published architectures
(kpod_lite.models.published), so nothing is downloaded. A GPU's usable memory is what
`nvidia-smi` reports as total, less 0.5 GiB for the CUDA context (ours). Prints JSON, then the
markdown table docs/GPU.md keeps.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/memory_gpu_table.py
"""

from __future__ import annotations

import json

from kpod_lite.config import preset
from kpod_lite.memory import GPU_STAGES, GiB, estimate_memory, separate_predictor
from kpod_lite.models.published import published_config

# name -> (total MiB as nvidia-smi reports it, bfloat16 natively)
GPUS = {"T4 16 GB (float32)": (15360, False), "L4 24 GB (bf16)": (23034, True),
        "A100 40 GB (bf16)": (40960, True), "H200 141 GB (bf16)": (143771, True)}
CONTEXT_GIB = 0.5
PRESETS = ("flan-t5-large", "flan-t5-xl", "llama-7b")


def table() -> list[dict]:
    rows = []
    for name in PRESETS:
        cfg = preset(name)
        for gpu, (mib, bf16) in GPUS.items():
            predictor = separate_predictor(cfg)  # flan-t5-xl's Eq. 5 predictor is FlanT5-Large (§3.3)
            estimates = estimate_memory(cfg, published_config(cfg.student), bf16=bf16,
                                        predictor_config=published_config(predictor) if predictor else None)
            usable = mib / 1024 - CONTEXT_GIB
            rows.append({"preset": name, "gpu": gpu, "usable_gib": round(usable, 1),
                         "stages": {s: round(estimates[s].total / GiB, 1) for s in GPU_STAGES},
                         "fits": {s: estimates[s].total / GiB <= usable for s in GPU_STAGES}})
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| preset | GPU | " + " | ".join(GPU_STAGES) + " |", "|---|---|" + "---|" * len(GPU_STAGES)]
    for row in rows:
        cells = [f"{row['stages'][s]} GiB {'fits' if row['fits'][s] else '**does not fit**'}" for s in GPU_STAGES]
        lines.append(f"| {row['preset']} | {row['gpu']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    rows = table()
    print(json.dumps(rows, indent=1))
    print()
    print(markdown(rows))
