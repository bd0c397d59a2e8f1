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
# **Runs in** about 10 seconds on 2 CPU cores (tiny preset).

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
    from kpod_lite.versions import check_versions

    print(check_versions())  # stops here, naming the fix, if a preinstalled library is too old

# %% [markdown]
# This notebook loads no student. It shows the shipped synthetic split (`data_samples/synthetic/`:
# 2-4 steps of + - × ÷, every keypoint kind labelled), which notebooks 00-05 all use, and its
# pipeline run in section 6 draws the tiny preset's own easier task (2-3 steps of + and -), the
# one `kpod-lite run --preset tiny` and notebooks 06-07 use, because that is what the command makes.

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
# evaluation 06 and 07. Nothing has run yet, so every box is empty; section 6 fills the ones
# it runs.

# %%
# %matplotlib inline
from kpod_lite import pipeline, viz

fig = viz.pipeline_figure(done=())
fig.axes[0].set_title("Algorithm 1 (App. B): stages left to right; nothing has run yet", fontsize=10)
fig.tight_layout()

# %% [markdown]
# ## 3. The presets
#
# One `KPODConfig` holds every knob with the paper's default (App. A); a preset changes only
# what differs. The config cell of every notebook picks one through `KPOD_PRESET`. The two
# `-rehearsal` presets run a GPU preset's code path on a CPU (random-weight students of the
# same family and class, SentencePiece stand-in tokenizers): they prove a run works, not that
# it learns.

# %%
# NBVAL_CHECK_OUTPUT
from kpod_lite import config

print(f"{'preset':18} {'student':24} {'epochs':>6} {'LoRA r':>6} {'lr':>8} {'batch':>5}")
for name, cfg in config.PRESETS.items():
    rank = cfg.lora_rank if cfg.lora else "-"
    print(f"{name:18} {cfg.student:24} {cfg.epochs:>6} {rank:>6} "
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
# The run folder's `results/summary.json` records how long each stage took; the stages it
# names are the ones that ran, and they are the boxes filled below.

# %%
import json

assert len(pipeline.STAGES) == len(viz.PIPELINE_BOXES)  # one box per stage, in order
box_of = dict(zip(pipeline.STAGES, (name for name, _ in viz.PIPELINE_BOXES)))
ran = json.loads((run_dir / "results" / "summary.json").read_text())["seconds_by_stage"]
fig = viz.pipeline_figure(done={box_of[stage] for stage in ran})
fig.axes[0].set_title(f"filled: the stages this notebook ran ({', '.join(ran)})", fontsize=10)
fig.tight_layout()

# %% [markdown]
# ## Recap
#
# * One `KPODConfig`, a handful of presets; `KPOD_PRESET` switches every notebook.
# * Six input formats load into one `Example` type with normalised answers.
# * Synthetic problems give the course ground-truth keypoint labels.
# * A run folder holds one file per pipeline stage, and finished stages are reused.
#
# ## Exercises
#
# **Exercise 1 (recall).** Make a tiny config with `alpha=2.0`, then try `alpha=-1`. What
# happens, and which equation does the message point to? Which other settings does the tiny
# preset change from the paper's defaults (App. A)?
#
# **Exercise 2 (apply).** Load `data_samples/formats/svamp.json` and print every question whose
# answer is not a whole number. What does `normalize_answer` make of SVAMP's `2.5` and `8.0`?
#
# **Exercise 3 (a small experiment).** How much of a synthetic rationale is filler? Over the
# shipped training split, measure the share of characters of each label. Then write the same
# programs out again with `synthetic.render_rationale` at a filler rate of 0.8 (the shipped
# split used 0.3): which shares change, and which stay put?

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. A negative α would reward keeping tokens (Eq. 7), so the config refuses it.
from kpod_lite.errors import ConfigError

print("alpha=2.0 accepted:", config.preset("tiny", alpha=2.0).alpha)
try:
    config.preset("tiny", alpha=-1.0)
    raise AssertionError("alpha=-1 was accepted")
except ConfigError as error:
    print("alpha=-1 refused:", error)
paper, tiny = config.KPODConfig().to_dict(), config.preset("tiny").to_dict()
changed = sorted(key for key in paper if paper[key] != tiny[key] and key != "name")
print("the tiny preset changes:", ", ".join(changed))
assert tiny["alpha"] == paper["alpha"] == 0.5  # α stays the paper's value

# %% jupyter={"source_hidden": true}
# Solution 2. SVAMP stores every answer as a float; the loader writes whole numbers without ".0".
svamp = data.load_examples(SAMPLES / "formats" / "svamp.json", "svamp")
fractional = [e for e in svamp if "." in e.answer]
for e in fractional:
    print(f"{e.answer}: {e.question}")
assert fractional and all(float(e.answer) != int(float(e.answer)) for e in fractional)
print(data.normalize_answer("2.5"), data.normalize_answer("8.0"))

# %% jupyter={"source_hidden": true}
# Solution 3. More filler adds filler characters and nothing else: the arithmetic, and so the
# number of number, operator and result characters, stays the same, so only their share falls.
import random
from collections import Counter


def label_counts(all_spans):
    counts = Counter()
    for spans in all_spans:
        for span in spans:
            counts[span.label] += span.end - span.start
    return counts


shipped = label_counts(synthetic.spans_from_record(e) for e in train)
padded = label_counts(synthetic.render_rationale(e.meta["program"], random.Random(e.id), 0.8)[1] for e in train)
print(f"{'label':9} {'shipped (0.3)':>14} {'rate 0.8':>9}")
for label in sorted(shipped):
    print(f"{label:9} {shipped[label] / sum(shipped.values()):14.1%} {padded[label] / sum(padded.values()):9.1%}")
assert padded["filler"] / sum(padded.values()) > shipped["filler"] / sum(shipped.values())
assert all(padded[label] == shipped[label] for label in ("number", "operator", "equals", "result"))
