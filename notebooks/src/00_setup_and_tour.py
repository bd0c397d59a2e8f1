# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/00_setup_and_tour.ipynb)
#
# # 00. Set-up and a tour of KPOD
#
# KPOD (Feng et al., ICML 2024) distils the step-by-step reasoning of a large teacher into a
# small student with two ideas: weight each rationale token by how much it matters for the
# answer (learned by masking, §3.3), and let the student learn each rationale from its last
# steps backwards, on a schedule that grows the difficulty stage by stage (§3.4). This
# notebook checks your environment, shows the presets, the data files and the pipeline, and
# runs the first stages of the pipeline on the tiny CPU preset.
#
# **After this notebook you can** pick a preset, load any of the four benchmark formats the
# paper uses, read a synthetic problem whose keypoint tokens are known, and start a run folder.
#
# **Paper:** §3.2 (framework overview), App. A (settings), App. B (Algorithm 1).

# %%
# Install (Colab only). Outside Colab this cell does nothing: run the README's set-up command.
import sys

if "google.colab" in sys.modules:
    import os
    import subprocess

    if not os.path.isdir("/content/kpod-lite"):
        subprocess.run(["git", "clone", "--depth", "1", "https://github.com/kpod-lite/kpod-lite",
                        "/content/kpod-lite"], check=True)
    # kpod-lite asks for torch>=2.1 only, which Colab's torch satisfies: pip leaves it alone.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/kpod-lite[teacher]"], check=True)
    sys.path.insert(0, "/content/kpod-lite")  # an editable install is seen only after a restart
    os.chdir("/content/kpod-lite/notebooks")

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # tiny | flan-t5-large | flan-t5-xl | llama-7b

# %% [markdown]
# ## 1. Your environment
#
# The tiny preset runs on any CPU. The GPU presets need a GPU (a Colab T4 or better); the
# cell below says what this machine has.

# %%
import platform

import torch
import transformers

import kpod_lite

print(f"python {platform.python_version()}, torch {torch.__version__}, transformers {transformers.__version__}")
print(f"kpod_lite {kpod_lite.__version__}")
print("GPU:", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (the tiny preset is enough)")

# %% [markdown]
# ## 2. The pipeline
#
# Every arrow of Algorithm 1 (App. B) is one function of `kpod_lite` and one `kpod-lite`
# sub-command; every box is a file in a run folder. Each box has its notebook: the teacher
# 01, token weights 02, step difficulty 03, the schedule 04 and 05, distillation and
# evaluation 06 and 07.

# %%
from kpod_lite import pipeline, viz

fig = viz.pipeline_figure(done={name for name, _ in viz.PIPELINE_BOXES})

# %% [markdown]
# ## 3. The presets
#
# One `KPODConfig` holds every knob with the paper's default (App. A); a preset changes only
# what differs. The config cell of every notebook picks one through `KPOD_PRESET`.

# %%
# NBVAL_CHECK_OUTPUT
from kpod_lite import config

print(f"{'preset':14} {'student':22} {'epochs':>6} {'LoRA r':>6} {'lr':>8} {'batch':>5}")
for name, cfg in config.PRESETS.items():
    rank = cfg.lora_rank if cfg.lora else "-"
    print(f"{name:14} {cfg.student:22} {cfg.epochs:>6} {rank:>6} "
          f"{cfg.learning_rate:>8.0e} {cfg.batch_size:>5}")
cfg = config.preset(PRESET)
print(f"\nthis notebook uses '{cfg.name}': alpha={cfg.alpha}, beta={cfg.beta}, p={cfg.p}, "
      f"C0={cfg.c0_fraction} B, T={cfg.stage_T}, K={cfg.n_clusters}")

# %% [markdown]
# ## 4. The data files
#
# The paper evaluates on GSM8K, ASDiv, SVAMP and CommonsenseQA (§4.1). `data_samples/formats/`
# holds one small file per format, written by this project (invented problems in each
# benchmark's own layout), and `load_examples` turns every one of them into `Example` records
# with a normalised answer. Point it at the real files when you have them.

# %%
# NBVAL_CHECK_OUTPUT
from pathlib import Path

from kpod_lite import data

SAMPLES = Path("..") / "data_samples"
files = {"gsm8k": "gsm8k.jsonl", "svamp": "svamp.json", "asdiv": "asdiv.xml",
         "csqa": "csqa.jsonl", "instruction": "instruction.json", "kpod": "kpod.jsonl"}
for fmt, name in files.items():
    examples = data.load_examples(SAMPLES / "formats" / name, fmt)
    first = examples[0]
    print(f"{fmt:11} {len(examples)} examples; answer {first.answer!r:6} kind {first.answer_kind:6} "
          f"| {first.question[:60]}...")

# %% [markdown]
# ## 5. A synthetic problem, with its keypoints known
#
# On real data nobody knows which rationale tokens matter; the paper can only show heat maps
# (Figure 2). The tiny preset uses generated GSM8K-style problems whose rationales carry a
# label on every character: numbers, operators, "=", results and quantity words are
# keypoints, planted words like "just" and "simply" are filler. Mask learning (notebook 02)
# will be scored against these labels.

# %%
# NBVAL_CHECK_OUTPUT
from IPython.display import HTML, display

from kpod_lite import synthetic

train = data.load_examples(SAMPLES / "synthetic" / "train.jsonl", "kpod")
example = train[0]
print("Q:", example.question)
print("answer:", example.answer)
print("steps:", len(data.split_steps(example.meta["rationale"])))

# %%
display(HTML(viz.labelled_html(example.meta["rationale"], synthetic.spans_from_record(example))))

# %% [markdown]
# ## 6. Run the first stages of the pipeline
#
# `pipeline.run` is what `kpod-lite run --preset tiny` calls. Here it stops after the teacher
# (`stages=("teach",)`): it writes the question splits and the teacher's rationales into a run
# folder, and a second call would reuse both. The whole run, through token weighting,
# difficulty, the schedule, distillation and evaluation, takes minutes on a CPU
# (docs/BENCHMARKS.md); notebook 06 makes one.

# %%
import tempfile

run_dir = Path(tempfile.mkdtemp(prefix="kpod-tour-")) if PRESET == "tiny" else Path("runs") / PRESET
summary = pipeline.run(cfg, run_dir, stages=("teach",))
print(summary)

# %%
# NBVAL_CHECK_OUTPUT
print(sorted(p.name for p in run_dir.iterdir()))

# %% [markdown]
# ## Recap
#
# * One `KPODConfig`, four presets; `KPOD_PRESET` switches every notebook.
# * Six input formats load into one `Example` type with normalised answers.
# * Synthetic problems give the course ground-truth keypoint labels.
# * A run folder holds one file per pipeline stage, and finished stages are reused.
#
# **Exercise 1.** Load `data_samples/formats/svamp.json` and print every question whose answer
# is not a whole number.
#
# **Exercise 2.** Make a tiny config with `alpha=2.0` and check what happens with `alpha=-1`.

# %% [markdown] jupyter={"source_hidden": true}
# **Solutions** (expand)
#
# ```python
# svamp = data.load_examples(SAMPLES / "formats" / "svamp.json", "svamp")
# print([e.question for e in svamp if "." in e.answer])
#
# config.preset("tiny", alpha=2.0)      # fine
# config.preset("tiny", alpha=-1.0)     # ConfigError: alpha must be >= 0 (Eq. 7)
# ```
