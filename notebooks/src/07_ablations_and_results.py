# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/07_ablations_and_results.ipynb)
#
# # 07. Ablations and results: what KPOD's parts buy, at tiny scale and in the paper
#
# The paper backs each part of KPOD with an ablation (§4.3, Table 2): drop the token weights
# from the loss (w.o.-sig), drop them from the step difficulty (w.o.-sig-dif), drop the
# diversity term of the question selection (w.o.-div), or drop the progressive schedule
# altogether (w.o.-prog); every variant loses a point or two of GSM8K accuracy against the
# full method. It also tests out-of-distribution transfer (§4.4, Table 3). This notebook reads
# the same table, produced by this project on the tiny preset with three seeds per method, puts
# the paper's numbers beside it, and asks which differences are larger than the spread between
# seeds, i.e. what transfers to a 0.6M-parameter student on synthetic arithmetic and what does
# not.
#
# **After this notebook you can** produce and read a KPOD ablation table with seed spreads,
# tell a real difference from seed noise with a paired comparison, and say where the tiny
# results agree with the paper and where they do not.
#
# **Paper:** §4.2-4.4 (Tables 1-3), App. A.

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
# The run folder of `kpod-lite run --preset PRESET --ablations --seeds 3 --out RUN_DIR`. Training
# 18 tiny students takes about an hour on 2 CPU cores, too long for a lesson: when the folder
# has no results, the tiny preset falls back to the copy of that run shipped in docs/results/.
RUN_DIR = f"../runs/{PRESET}-ablations"

# %%
import json
import statistics
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from kpod_lite import pipeline, viz

run_results = Path(RUN_DIR) / "results"
shipped = Path("../docs/results") / PRESET

def complete(folder: Path) -> bool:
    """A results folder of an ablation run: every Table 2 variant and the baseline."""
    path = folder / "results.json"
    return path.exists() and set(pipeline.ABLATIONS) <= set(json.loads(path.read_text())["methods"])


source = run_results if complete(run_results) else shipped
if not complete(source):
    raise FileNotFoundError(f"no results for preset {PRESET!r}: run `kpod-lite run --preset {PRESET} "
                            f"--ablations --seeds 3 --out {RUN_DIR}` first")
results = json.loads((source / "results.json").read_text())
rows = {row["method"]: row for row in results["rows"]}
histories = json.loads((source / "histories.json").read_text())
config = json.loads((source / "config.json").read_text())
# Runs made before the settings were typed fields kept the training-set size under "extra".
train_size = config["train_size"] if "train_size" in config else config["extra"].get("train_size")
print(f"results from {source}: methods {results['methods']}, seeds {results['seeds']}")
print(f"student {config['student']}, {config['epochs']} epochs, lr {config['learning_rate']}, "
      f"batch {config['batch_size']}, {train_size} training questions")

# %% [markdown]
# ## 1. The table
#
# One row per method, accuracy in % as mean ± standard deviation over the seeds. A seed changes
# the distillation only (initial data order; the tiny student is fully fine-tuned, so nothing
# else is random): the teacher's rationales, the token weights and the schedules are the same
# for every seed, so the spread is the spread of the stage the methods differ in
# (`kpod_lite.pipeline`). "teacher" is the template teacher on the test questions, "before" the
# pretrained student given the same zero-shot prompt without any distillation.

# %%
display(Markdown(pipeline.table_markdown(results["rows"])))

# %% [markdown]
# Check the table against its per-seed values, computing mean and sample standard deviation by
# hand (the table is what `pipeline.results_table` wrote; here we recompute it):

# %%
# NBVAL_CHECK_OUTPUT
test_sets = [key[:-5] for key in results["rows"][0] if key.endswith("_mean")]
for row in results["rows"]:
    for test_set in test_sets:
        values = row[f"{test_set}_per_seed"]
        mean = sum(values) / len(values)
        std = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
        assert abs(mean - row[f"{test_set}_mean"]) < 0.01 and abs(std - row[f"{test_set}_std"]) < 0.01
print("every mean and std matches its per-seed values:", test_sets)

# %%
fig = viz.accuracy_figure(results["rows"])
plt.show()

# %% [markdown]
# ## 2. Seed by seed
#
# With three seeds a standard deviation is itself rough. Seeds are *paired* across methods:
# seed s of every method starts from the same student and sees the questions in the same
# order, so the difference KPOD − variant for the same seed removes part of the noise that the
# methods share. A difference whose sign flips between seeds is not one this run can claim.

# %%
methods = [m for m in results["methods"] if m in rows]
fig, ax = plt.subplots(figsize=(7, 3.2))
for x, method in enumerate(methods):
    values = rows[method]["test_per_seed"]
    ax.scatter([x] * len(values), values, color="#d62728" if method == "kpod" else "#1f77b4")
    ax.hlines(rows[method]["test_mean"], x - 0.25, x + 0.25, color="black")
ax.set_xticks(range(len(methods)), methods, rotation=20)
ax.set_ylabel("test accuracy (%) per seed")
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
kpod = rows["kpod"]["test_per_seed"]
print(f"{'variant':<14} {'KPOD − variant, per seed':<28} mean    same sign on every seed?")
for method in methods:
    if method == "kpod":
        continue
    diffs = [round(a - b, 1) for a, b in zip(kpod, rows[method]["test_per_seed"])]
    consistent = all(d > 0 for d in diffs) or all(d < 0 for d in diffs)
    print(f"{method:<14} {str(diffs):<28} {statistics.fmean(diffs):+5.1f}   {'yes' if consistent else 'no'}")

# %% [markdown]
# ## 3. Training curves and the curriculum
#
# The loss of Eq. 15 is not on one scale across methods (weights below 1 shrink it, and a stage
# that gives input steps asks for shorter targets), so read each curve for its own shape. The
# second plot is the progressive schedule at work: the mean number of input steps c_i(t) falls
# to 0 by stage T = epochs / 2 (App. A) for the progressive methods, and is 0 throughout for
# w.o.-prog and plain CoT.

# %%
fig = viz.loss_figure(histories)
plt.show()
fig = viz.curriculum_figure(histories)
plt.show()

# %% [markdown]
# ## 4. Out of distribution
#
# The paper trains on GSM8K and tests on ASDiv and SVAMP (Table 3). The tiny preset mirrors the
# idea with two synthetic shifts it never trains on: questions with one irrelevant sentence and
# number ("Ana is 9 years old.", the kind of variation SVAMP makes), and chains of four steps
# where training had two or three.

# %%
ood_sets = [s for s in test_sets if s.startswith("ood-")]
print(f"{'':<32}" + "".join(f"{s:>20}" for s in ["test", *ood_sets]))
for row in results["rows"]:
    cells = "".join(f"{row[f'{s}_mean']:>13.1f} ± {row[f'{s}_std']:<4.1f}" for s in ["test", *ood_sets])
    print(f"{row['row']:<32}{cells}")

# %% [markdown]
# ## 5. The paper's numbers beside ours
#
# Table 2 (GSM8K accuracy, %) and Table 3 (trained on GSM8K; ASDiv and SVAMP are OOD) for the
# LLaMA-7B student, the paper's strongest; the FlanT5-XL rows tell the same story a few points
# lower. The paper reports one number per setting, without seeds or spreads.

# %%
paper_table2 = {"kpod": 46.74, "w.o.-sig": 42.64, "w.o.-sig-dif": 44.01, "w.o.-prog": 43.25, "w.o.-div": 44.16}
paper_table3_kpod = {"GSM8K": 46.74, "ASDiv (OOD)": 57.96, "SVAMP (OOD)": 47.33}
print(f"{'method':<14}{'paper, LLaMA-7B':>17}{'KPOD − it':>11}   {'ours, tiny':>14}{'KPOD − it':>11}")
for method, paper in paper_table2.items():
    ours = rows[method]["test_mean"] if method in rows else float("nan")
    print(f"{method:<14}{paper:>17.2f}{paper_table2['kpod'] - paper:>+11.2f}   "
          f"{ours:>14.1f}{rows['kpod']['test_mean'] - ours:>+11.1f}")
print("paper, plain CoT-style baselines on GSM8K (Table 1, LLaMA-7B): SCoTD 38.54 ... MCC-KD 41.58")
print(f"ours, plain CoT distillation: {rows['plain-cot']['test_mean']:.1f} ± {rows['plain-cot']['test_std']:.1f}")
print("paper, KPOD OOD (Table 3, LLaMA-7B):", paper_table3_kpod)

# %% [markdown]
# ## 6. A reading
#
# Per seed, KPOD minus each variant (section 2), and the paper's direction (section 5):
#
# * **Distillation works at all.** The pretrained student answers nothing (0%); the distilled
#   students answer 16-35% of the test questions on average, and KPOD lands inside the 20-80%
#   band the tiny preset was calibrated for.
# * **Token weights help, inside the progressive schedule.** KPOD beats w.o.-sig on every seed,
#   by about 10 points on average: the paper's direction, and a larger gap than its 4.1 points.
#   Without the schedule they do not: w.o.-prog (weights, no schedule) and plain CoT (neither)
#   have the same mean. One reading: with input steps given, the targets are short and the
#   weights decide what those few tokens teach; on whole rationales the student must learn the
#   connecting text anyway. A reading, not a result: three seeds do not test it.
# * **The diversity term helps a little.** KPOD beats w.o.-div on every seed, by about 6
#   points: the paper's direction.
# * **Weighted against unweighted step difficulty makes no difference here** (the sign flips
#   between seeds). The two schedules differ less than the names suggest: in stages 0-3 they
#   give a different c_i(t) to 94-123 of the 800 questions, the same to the rest (counted from
#   the run's `schedule.json` and `schedule.w.o.-sig-dif.json`).
# * **The progressive schedule costs accuracy at this scale.** w.o.-prog and plain CoT beat
#   KPOD on average, against the paper. With 8 epochs and T = 4 the student writes whole
#   rationales in only the last four epochs, where the paper's FlanT5 has 50 of 100; a tiny
#   student short of training time loses more from the shortened targets than it gains from the
#   order. Plain CoT's spread is also the largest (one seed reached 51%), so only the average
#   direction is clear, not its size.
# * **Out of distribution** the mean accuracies fall to 6-11%, and the differences between methods
#   are within the seed spread, although KPOD has the highest mean on both shifted sets. The
#   paper's OOD advantage (Table 3) can be neither confirmed nor refuted here.
#
# What transfers, then, is the machinery and two of the four ablation directions; what does not
# is the headline that KPOD beats plain CoT distillation. That needs a student that already
# writes fluently and enough epochs for the schedule to pay off: the FlanT5-Large run of
# notebook 06 on a GPU, which this project has not yet been able to make.

# %% [markdown]
# ## Recap
#
# * `kpod-lite run --preset tiny --ablations --seeds 3` trains the four Table 2 variants, KPOD
#   and plain CoT distillation with three seeds each, and writes `results/results.{md,csv,json}`
#   and figures; re-running it reuses every finished student.
# * Seeds change distillation only, and are paired across methods: compare per seed.
# * The paper's gaps between KPOD and its ablations are 2.6 to 4.1 points on GSM8K with a 7B
#   student; at tiny scale the seed spread is of that size too, so a tiny table can show whether
#   the machinery works, not settle which part matters.
#
# **Exercise 1.** Add two more seeds to the run (`--seeds 5`; the first three are reused) and
# see whether the sign of KPOD − w.o.-sig holds on all five.
#
# **Exercise 2.** Token weights of the run are in `weights.jsonl`; print the mean weight of the
# operator tokens ("+", "-") and explain why a student trained with Eq. 15 may then write the
# wrong operator more often than one trained with plain CoT.

# %% [markdown] jupyter={"source_hidden": true}
# **Solutions** (expand)
#
# ```python
# # 1. In a terminal (about 20 more minutes on 2 cores):
# #    kpod-lite run --preset tiny --ablations --seeds 5 --out runs/tiny-ablations
# #    then re-run this notebook: section 2 prints five differences per variant.
#
# # 2.
# import json
# from kpod_lite import data
# weights = [r for _, r in data.read_jsonl("../runs/tiny-ablations/weights.jsonl")]
# ops = [w for r in weights for t, w in zip(r["tokens"], r["weights"]) if t.strip("Ġ▁ ") in {"+", "-"}]
# print(len(ops), sum(ops) / len(ops))
# # The mask learner keeps what it needs to read the answer: the numbers and the result after
# # "=". With only + and - and a verb ("adding", "subtracting") naming the operation, the
# # operator sign itself is redundant for that, so it gets a weight near 0 -- and Eq. 15 then
# # barely trains the student to write it. Keypoints for answer prediction are not the same
# # as keypoints for generation.
# ```
