"""Which preset on which GPU: estimated hours and peak memory of each GPU preset on common GPUs.

Estimated, not measured on a GPU: hours from `kpod_lite.gpu_time` (FLOPs / peak x an assumed
MFU of 0.3; generation from memory bandwidth), memory from `kpod_lite.memory` (its per-layer
terms checked on CPU by benchmarks/memory_per_layer.py). Students are the published
architectures (`kpod_lite.models.published`), so nothing is downloaded. Each run counts KPOD and
plain CoT, one seed each, and three evaluations (before, each method). Prints JSON, then the
markdown table the README keeps.

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python benchmarks/gpu_presets.py
"""

from __future__ import annotations

import json

from kpod_lite import gpu_time
from kpod_lite.config import preset
from kpod_lite.memory import GPU_STAGES, GiB, estimate_memory, model_shape
from kpod_lite.models.published import published_config

CONTEXT_GIB = 0.5  # ours: what the CUDA context takes of nvidia-smi's total
PRESETS = {"colab": gpu_time.SVAMP, "flan-t5-large": gpu_time.GSM8K, "flan-t5-xl": gpu_time.GSM8K,
           "llama-7b": gpu_time.GSM8K}


def table() -> list[dict]:
    rows = []
    for name, shape in PRESETS.items():
        cfg = preset(name)
        model_config = published_config(cfg.student)
        parameters = model_shape(model_config).parameters
        for key, gpu in gpu_time.GPUS.items():
            estimates = estimate_memory(cfg, model_config, bf16=gpu.bf16_tflops is not None)
            peak = max(estimates[s].total for s in GPU_STAGES) / GiB
            hours = gpu_time.estimate_hours(cfg, parameters, shape, gpu)
            rows.append({"preset": name, "gpu": gpu.name, "peak_gib": round(peak, 1),
                         "fits": peak <= gpu.memory_mib / 1024 - CONTEXT_GIB,
                         "hours": {stage: round(h, 2) for stage, h in hours.items()}})
    return rows


def markdown(rows: list[dict]) -> str:
    gpus = [gpu.name for gpu in gpu_time.GPUS.values()]
    lines = ["| preset | " + " | ".join(gpus) + " |", "|---|" + "---|" * len(gpus)]
    for name in PRESETS:
        cells = []
        for gpu in gpus:
            row = next(r for r in rows if r["preset"] == name and r["gpu"] == gpu)
            hours = row["hours"]["total"]
            time = f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.0f} h"
            cells.append(f"{time}, {row['peak_gib']} GiB" if row["fits"] else f"does not fit ({row['peak_gib']} GiB)")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    rows = table()
    print(json.dumps(rows, indent=1))
    print()
    print(markdown(rows))
