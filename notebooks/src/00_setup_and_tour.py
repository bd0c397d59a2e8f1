# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/00_setup_and_tour.ipynb)
#
# # 00. Set-up and a tour of KPOD
#
# KPOD (Feng et al., ICML 2024) distils the step-by-step reasoning of a large teacher into a
# small student with two ideas: weight each rationale token by how much it matters for the
# answer (learned by masking, §3.3), and let the student learn each rationale from its last
# steps backwards, on a schedule that raises the difficulty stage by stage (§3.4). The course
# follows one task, one student and one question through every notebook; this one introduces
# them, lists the paper's claims the course tests, and checks your set-up.
#
# **After this notebook you can** say what each later notebook does to the course's question,
# pick a preset, load the paper's benchmark formats, and remake the start of the course's run.
#
# **Paper:** §3.2 (framework overview), App. A (settings), App. B (Algorithm 1).
# **Runs in** about 25 seconds on 2 CPU cores (tiny preset).

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
# **The task and the student.** Every notebook uses the tiny preset's task, generated word
# problems of 2-3 steps of + and -, and its student, a tiny LLaMA-shaped causal LM, because
# both run on any CPU. This notebook loads no student: it reads the course's shipped run folder.

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # tiny | colab | flan-t5-large | flan-t5-xl | llama-7b

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
# ## 2. The thread: one run, one question
#
# `data_samples/thread/` is the tiny preset's run folder up to the schedule, shipped with the
# repository because learning its token weights costs minutes: the training questions, the
# teacher's rationales, the token weights (Eq. 2-7), the step difficulties (Eq. 8) and the
# schedule (Eq. 9-14). Every notebook reads it, so the weights notebook 02 shows are the ones
# notebook 03 scores steps with and notebook 06 distils with. `kpod_lite.thread` opens it and
# names one question, the first training question, chosen by that rule alone. We call it
# **Ben's magazines**.

# %%
# NBVAL_CHECK_OUTPUT
from kpod_lite import thread

question = thread.named("questions/train.jsonl")
rationale = thread.named("rationales.jsonl")
print(f"{thread.NAMED_ID}  Q: {question['question']}")
print(f"gold answer {question['answer']}; the teacher's rationale:\n  {rationale['rationale']}")
for name in ("questions/train.jsonl", "rationales.jsonl", "weights.jsonl", "difficulty.jsonl"):
    print(f"{name:21} {len(thread.records(name))} records")

# %% [markdown]
# The template teacher labels every character of its rationale: numbers, operators, "=",
# results and quantity words are keypoints, planted words such as "actually" are filler. Real
# data has no such labels (the paper can only show heat maps, Figure 2); here notebook 02 can
# score its learned weights against them.

# %%
# %matplotlib inline
from IPython.display import HTML, display

from kpod_lite import synthetic, viz

display(HTML(viz.labelled_html(rationale["rationale"], synthetic.spans_from_record(rationale))))

# %% [markdown]
# ## 3. What each notebook does to Ben's magazines
#
# The running times below are the ones the notebooks state at their top (tiny preset, 2 CPU
# cores). What a GPU run of the `colab` preset costs, in GPU time on each card, is worked out
# at the top of notebook 06.

# %%
import json
import re
from pathlib import Path

NOTEBOOKS = Path(".")
JOURNEY = {
    "00": "meets it (this notebook)",
    "01": "asks the teacher for its rationale (§3.1)",
    "02": "learns a weight for every token: its heat map (Eq. 2-7, Fig. 2)",
    "03": "scores each of its steps: d_k (Eq. 8)",
    "04": "schedules it: its row of c_i(t), its stage-t example (Eq. 9-14)",
    "05": "proves the question selection sound (Eq. 12-13, App. D)",
    "06": "distils students on it: their final answers (Eq. 14-15)",
    "07": "collects the verdict: Tables 1-3 at tiny scale",
}


def stated_time(notebook):
    """The "**Runs in** about ..." line of the notebook's first two markdown cells."""
    markdown = [cell for cell in json.loads(notebook.read_text())["cells"] if cell["cell_type"] == "markdown"]
    for cell in markdown[:2]:
        stated = re.search(r"\*\*Runs in\*\* about (.+?) on", "".join(cell["source"]))
        if stated:
            return stated.group(1)
    return "?"


print(f"{'notebook':32} {'runs in':>16}  what it does to Ben's magazines")
for number, journey in JOURNEY.items():
    notebook = next(NOTEBOOKS.glob(f"{number}_*.ipynb"))
    print(f"{notebook.stem:32} {stated_time(notebook):>16}  {journey}")

# %% [markdown]
# ## 4. The paper's claims this course tests
#
# Each is judged in notebook 07, on the tiny preset's task and student; this tour states no
# result. Notebook 07 reads each claim from the pre-registered 60-epoch run, whose results for
# all eleven methods are shipped; in a run folder of your own, a row whose students have not
# trained yet says "not yet run".
#
# * **Fig. 2:** the paper says its learned weights pick out digits and operators and damp filler
#   words; notebook 02 scores the thread's weights against the template teacher's labels.

# %% [markdown]
# * **KPOD over plain CoT distillation:** Table 1 sets KPOD above four CoT distillation
#   methods; our baseline is the plainest, Fine-tune-CoT (Ho et al., 2023): Eq. 1, every token
#   equal, whole rationales from the start (notebook 06 trains both).
# * **Table 2, ablations:** KPOD beats KPOD-w.o.-sig (no weights in Eq. 15), -w.o.-sig-dif
#   (none in Eq. 8, notebook 03), -w.o.-prog (no schedule) and -w.o.-div (β = 0 in Eq. 12,
#   notebooks 04-05); all trained in notebook 06.
# * **Table 2, curricula:** KPOD's in-rationale schedule (notebooks 03-04) beats KPOD-ACL,
#   -SPL and -ICL, the same model with another curriculum in its place.
# * **Table 3, out of distribution:** KPOD trained on GSM8K still leads on ASDiv and SVAMP;
#   here the students of the 2-3 step task meet distractor questions and four-step chains.

# %% [markdown]
# ## 5. The pipeline, and the thread's place in it
#
# Every arrow of Algorithm 1 (App. B) is one function of `kpod_lite` and one `kpod-lite`
# sub-command; every box is a file in a run folder. The filled boxes are the stages the
# thread's `stages.json` records as done; notebook 06 runs the last two on a copy.

# %%
from kpod_lite import pipeline

assert len(pipeline.STAGES) == len(viz.PIPELINE_BOXES)  # one box per stage, in order
box_of = dict(zip(pipeline.STAGES, (name for name, _ in viz.PIPELINE_BOXES)))
done = ["questions", *json.loads((thread.thread_folder() / "stages.json").read_text())]
fig = viz.pipeline_figure(done={box_of[stage] for stage in done})
fig.axes[0].set_title(f"Algorithm 1 (App. B); filled: the thread's stages ({', '.join(done)})", fontsize=10)
fig.tight_layout()

# %% [markdown]
# The thread is nothing but the command `kpod_lite.thread.COMMAND` names. `pipeline.run` is
# what that command calls; stopped after the teacher, it makes the questions and rationales
# again in a new folder, and they must match the shipped ones byte for byte. (On another
# preset this cell only prints what it would run: a GPU preset's teacher may download data.)

# %%
import hashlib
import tempfile

from kpod_lite import config

cfg = config.preset(PRESET)
digest = lambda path: hashlib.sha256(path.read_bytes()).hexdigest()
print("the thread was made by:", thread.COMMAND)
if cfg.name == "tiny":
    run_dir = Path(tempfile.mkdtemp(prefix="kpod-tour-")) / "run"
    summary = pipeline.run(cfg, run_dir, stages=("teach",))
    print("stages run here:", ", ".join(json.loads((run_dir / "results" / "summary.json").read_text())["seconds_by_stage"]))
    for name in ("questions/train.jsonl", "rationales.jsonl"):
        assert digest(run_dir / name) == digest(thread.thread_folder() / name), name
        print(f"{name}: identical to the thread's")
else:
    print(f"preset {cfg.name}: pipeline.run(cfg, run_dir, stages=('teach',)) would teach {cfg.dataset}")

# %% [markdown]
# ## 6. The presets
#
# One `KPODConfig` holds every knob with the paper's default (App. A); a preset changes only
# what differs, and the config cell of every notebook picks one through `KPOD_PRESET`. `colab`
# is FlanT5-Large on a subset of SVAMP, sized for one Colab GPU session. The two `-rehearsal`
# presets run a GPU preset's code path on a CPU (random-weight students of the same family,
# stand-in tokenizers): they prove a run works, not that it learns.

# %%
# NBVAL_CHECK_OUTPUT
print(f"{'preset':18} {'student':24} {'data':9} {'train':>5} {'epochs':>6} {'LoRA r':>6} {'lr':>8} {'batch':>5}")
for name, preset in config.PRESETS.items():
    rank = preset.lora_rank if preset.lora else "-"
    train = preset.train_size if preset.train_size is not None else "all"
    print(f"{name:18} {preset.student:24} {preset.dataset:9} {train!s:>5} {preset.epochs:>6} {rank:>6} "
          f"{preset.learning_rate:>8.0e} {preset.batch_size:>5}")
print(f"\nthis notebook uses '{cfg.name}': alpha={cfg.alpha}, beta={cfg.beta}, p={cfg.p}, "
      f"C0={cfg.c0_fraction} B, T={cfg.stage_T}, K={cfg.n_clusters}")

# %% [markdown]
# ## 7. The benchmark formats
#
# The paper evaluates on GSM8K, ASDiv, SVAMP and CommonsenseQA (§4.1). `data_samples/formats/`
# holds one small file per format, written by this project (invented problems in each
# benchmark's own layout), and `load_examples` turns each into `Example` records with a
# normalised answer. `kpod_lite.data.fetch` downloads the real files, checked by sha256.

# %%
# NBVAL_CHECK_OUTPUT
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
# ## Recap
#
# * The course follows one run, `data_samples/thread/`, and one question, Ben's magazines,
#   from the teacher (01) to the students' answers (06).
# * Five groups of claims (Fig. 2, Table 1, Table 2's ablations and curricula, Table 3's
#   out-of-distribution tests) are built in notebooks 02-06 and judged in 07.
# * The thread is exactly what `kpod-lite run --preset tiny --until schedule` writes.
# * One `KPODConfig`, a handful of presets; `KPOD_PRESET` switches every notebook.
#
# ## Exercises
#
# Write your prediction down before you run anything; then run, and explain what you see.
#
# **Exercise 1 (predict the keypoints).** Which tokens of Ben's magazines' rationale will mask
# learning (Eq. 2-7) weigh above 0.5? All the labelled keypoints, or fewer? Then read
# `thread.named("weights.jsonl")` (fields `tokens`, `offsets`, `weights`) and label each token
# with `kpod_lite.weighting.evidence.token_classes`. Which keypoint kinds did it keep?

# %% [markdown]
# **Exercise 2 (predict the hard step).** Ben's magazines has two steps. Which one will Eq. 8
# score harder for the untrained student, the first or the last? Will that hold for every
# rationale of the thread? Read `difficulty.jsonl`, and say what it means for a schedule that
# hands the student the last steps first (§3.4).
#
# **Exercise 3 (predict the stage).** At stage 0 the student is given Ben's first step and
# writes only the last. At which of the thread's stages (`schedule.json`, field `stages[t]["c"]`)
# will it have to write the first step too: early or late? Compare the cost of that step with
# the costs of the steps selected in earlier stages, and explain with Eq. 12.

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. Mask learning keeps only what the answer predictor cannot do without (Eq. 5) and
# pays α for every kept token (Eq. 6-7). Digits, "=" and a quantity word survive; "+" and "-" do not:
# every prefix Eq. 5 scores ("steps" mode) ends after a step's result, so the predictor reads
# "16", never needs the sign that made it, and masking the sign costs nothing (notebook 02, Exercise 3).
from kpod_lite.weighting.evidence import token_classes

weights = thread.named("weights.jsonl")
labels = token_classes(weights["offsets"], rationale["spans"], rationale["rationale"])
heavy = [(token, label, w) for token, label, w in zip(weights["tokens"], labels, weights["weights"]) if w > 0.5]
for token, label, w in heavy:
    print(f"{token!r:14} {label!s:9} {w:.3f}")
by_label = {}
for label, w in zip(labels, weights["weights"]):
    by_label.setdefault(label, []).append(w)
print({label: round(max(ws), 3) for label, ws in by_label.items()})
assert {label for _, label, _ in heavy} >= {"number", "result"}
assert max(by_label["operator"]) < 0.5 and max(by_label["filler"]) < 0.5

# %% jupyter={"source_hidden": true}
# Solution 2. The first step is the harder one, in every rationale of the thread. Notebook 03
# (section 4) measures why: a token that repeats one the rationale already wrote is cheap, a new
# one dear, and step 1 has nothing earlier to repeat. Writing the last steps first is then also
# easy-to-hard, as §3.4 intends.
d = thread.named("difficulty.jsonl")["difficulty"]
print("Ben's magazines, d_k per step:", [round(x, 3) for x in d])
difficulties = [r["difficulty"] for r in thread.records("difficulty.jsonl")]
first_hardest = sum(ds[0] == max(ds) for ds in difficulties)
print(f"first step the hardest in {first_hardest} of {len(difficulties)} rationales")
assert d[0] > d[-1] and first_hardest == len(difficulties)

# %% jupyter={"source_hidden": true}
# Solution 3. Late: Ben's first step costs more than any step moved before the last stage.
# Every question taken adds to the diversity term of Eq. 12, so under a fixed budget ΔD(t)
# cheap steps buy more value per unit of difficulty and go first; the dear ones wait.
schedule = json.loads((thread.thread_folder() / "schedule.json").read_text())
steps_of = {r["id"]: r["difficulty"] for r in thread.records("difficulty.jsonl")}
given = {i: len(ds) - 1 for i, ds in steps_of.items()}  # c_i before stage 0: all but the last step
dearest_before_last = 0.0
for stage in schedule["stages"]:
    moved = [steps_of[i][given[i] - 1] for i in stage["selected"]]  # the step each selected one gives up
    print(f"stage {stage['t']}: c(Ben) = {stage['c'][thread.NAMED_ID]}, {len(moved)} questions moved, "
          f"dearest step {max(moved, default=0):.3f}")
    given = stage["c"]
    if stage is not schedule["stages"][-1]:
        dearest_before_last = max(dearest_before_last, *moved)
last = schedule["stages"][-1]
print(f"Ben's first step costs {steps_of[thread.NAMED_ID][0]:.3f}; selected at stage {last['t']}, the last")
assert thread.NAMED_ID in last["selected"] and steps_of[thread.NAMED_ID][0] > dearest_before_last
