# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/07_ablations_and_results.ipynb)
#
# # 07. The verdict: does KPOD work at tiny scale, and which part does what?
#
# Notebooks 02-06 built each part of KPOD on one thread: the tiny preset's task and student.
# This notebook reads the pre-registered run of Table 2 on that thread, trained as the paper
# trains (N_e = 60 epochs, T = 30 progressive, 5 seeds x 500 test questions; docs/RESULTS.md,
# `make table2`). It builds the paired bootstrap from scratch, fills notebook 00's claims
# ledger, lays out weights x schedule as a 2 x 2, and reads the training curves.
#
# **After this notebook you can** say what a paired comparison with a bootstrap interval allows
# you to claim, and which of the paper's claims hold for a 0.6M-parameter student, which do not,
# and which this run cannot tell.
#
# **Paper:** §4.2-4.4 (Tables 1-3), App. A. **Runs in** about 20 seconds on 2 CPU cores.

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

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # the thread's preset; the run below is made with it
# Your own run folder from `make table2` (about 6 hours on 2 cores, in four resumable parts).
# Without one, the notebook reads the copy of that run shipped in docs/results/table2.
RUN_DIR = "../runs/table2"
SEEDS = 5

# %% [markdown]
# The task and student are the thread's (`data_samples/thread`, the tiny preset): 2-3 steps of
# + and − on numbers up to 9, the 0.6M-parameter tiny LLaMA. The run shares the thread's
# questions, rationales, weights and difficulties; only the schedule differs, rebuilt from the
# same difficulties for T = 30 instead of 4. Ben's magazines is a training question, so it
# leaves the thread here: the students are judged on 500 test questions they never saw.
# The shipped copy keeps every student's answers compactly (`correct.json`) with the histories.

# %%
# %matplotlib inline
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Markdown, display

from kpod_lite import convergence, ledger, stats, thread, viz
from kpod_lite.methods import ABLATIONS, CONTROLS, CURRICULUM_ROWS

TEST_SETS = ["test", "ood-distractors", "ood-four-steps"]
shipped = Path("../docs/results/table2")
run = Path(RUN_DIR)
if (run / "students" / "kpod").is_dir():
    # Your own run: keep the finished students' answers and histories as the shipped copy does.
    source = run / "results"
    seeds = stats.run_seeds(run, SEEDS)
    trained = [m for m in (*ABLATIONS, *CONTROLS, *CURRICULUM_ROWS) if (run / "students" / m).is_dir()]
    found = convergence.curves(run, trained, seeds)
    finished = [m for m, r in found.items() if len(r["histories"]) == len(seeds)]
    source.mkdir(exist_ok=True)
    stats.write_correctness(run, finished, seeds, source / "correct.json", TEST_SETS)
    (source / "histories.json").write_text(json.dumps({m: found[m]["histories"] for m in finished}))
    config = json.loads((run / "config.json").read_text())
else:
    source = shipped
    config = json.loads((shipped / "config.json").read_text())
correct = json.loads((source / "correct.json").read_text())
histories = json.loads((source / "histories.json").read_text())
methods = list(correct["correct"])
print(f"results from {source}: {len(methods)} methods with {len(correct['seeds'])} seeds: {', '.join(methods)}")
print(f"{config['epochs']} epochs (T = {config['T'] or config['epochs'] // 2}), {config['train_size']} training "
      f"questions, {len(correct['questions']['test'])} test questions, student {config['student']}")

# %% [markdown]
# ## 1. The table
#
# Each method's test accuracy, mean and range over the seeds. A seed changes distillation only
# (the data order): the rationales, weights and schedule are the thread's, built once, so seed
# s of every method is paired with seed s of every other, on the same questions.

# %%
# NBVAL_CHECK_OUTPUT
def answers(method: str, test_set: str = "test") -> np.ndarray:
    """(seeds, questions) 0/1 array of one method's answers."""
    return stats.read_correctness(correct, method, test_set)


print(f"{'method':<20}{'test %':>8}{'seed range':>14}{'distractors %':>15}{'four steps %':>14}")
for method in methods:
    per_seed = answers(method).mean(axis=1) * 100
    print(f"{method:<20}{per_seed.mean():>8.1f}{f'{per_seed.min():.1f}-{per_seed.max():.1f}':>14}"
          f"{answers(method, 'ood-distractors').mean() * 100:>15.1f}{answers(method, 'ood-four-steps').mean() * 100:>14.1f}")

# %% [markdown]
# A mean hides the pairing and says nothing about the questions: a method could win on these
# 500 and lose on the next 500.
#
# ## 2. A paired difference with a two-level bootstrap, from scratch
#
# `correct[s, q]` is 1 when the student of seed s answered question q. Δ = the mean of B − A
# over seeds and questions. Its uncertainty has two sources, which questions were asked and
# which seeds were drawn, so the bootstrap resamples both, with replacement, the same draw for A
# and B (that keeps the pairing). The 2.5th and 97.5th percentiles of Δ over the resamples make
# the 95% interval.

# %%
def bootstrap_difference(a: np.ndarray, b: np.ndarray, resamples: int = 10000, seed: int = 0,
                         level: float = 0.95) -> tuple[float, float, float]:
    """Δ = mean(b - a) in points and its two-level bootstrap interval at `level`."""
    rng = np.random.default_rng(seed)
    n_seeds, n_questions = a.shape
    deltas = np.empty(resamples)
    for r in range(resamples):
        s = rng.integers(0, n_seeds, n_seeds)  # seeds, with replacement
        q = rng.integers(0, n_questions, n_questions)  # questions, with replacement
        deltas[r] = (b[np.ix_(s, q)] - a[np.ix_(s, q)]).mean() * 100
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(deltas, [tail, 100 - tail])
    return float((b - a).mean() * 100), float(low), float(high)


mine = bootstrap_difference(answers("plain-cot"), answers("kpod"))
library = stats.paired_bootstrap(answers("plain-cot"), answers("kpod"))
print(f"from scratch:    KPOD − plain CoT = {mine[0]:+.2f} points, 95% interval [{mine[1]:+.2f}, {mine[2]:+.2f}]")
print(f"kpod_lite.stats: KPOD − plain CoT = {library['difference']:+.2f} points, 95% interval "
      f"[{library['interval'][0]:+.2f}, {library['interval'][1]:+.2f}]")
print("per seed:", ", ".join(f"{d:+.1f}" for d in library["per_seed_difference"]))
# The same Δ exactly; intervals from other random draws agree to Monte Carlo error.
assert abs(mine[0] - library["difference"]) < 0.01
assert all(abs(x - y) < 0.5 for x, y in zip(mine[1:], library["interval"]))

# %% [markdown]
# ## 3. The claims ledger
#
# Notebook 00 listed the paper's claims. Here each gets its tiny verdict by the rule written
# before the run: an interval above 0 says KPOD is better (a direction at this scale), below 0
# worse, and one that holds 0 says no difference this run can see, its ends the largest
# differences it does not rule out. Table 2's seven rows are read on Bonferroni intervals
# (level 1 − 0.05/7), so that "KPOD beats each variant" holds for the seven together.
# `kpod_lite.ledger` holds the paper's numbers; a variant not yet trained says so.

# %%
# NBVAL_CHECK_OUTPUT
rows = ledger.ledger_rows(correct)
display(Markdown(ledger.markdown(rows)))
keypoints = json.loads((thread.thread_folder() / "weights.summary.json").read_text())["keypoints"]
means = keypoints["mean_weight"]
print(f"Fig. 2's keypoints (notebook 02): the thread's learned weights rank keypoint tokens above fillers "
      f"with AUROC {keypoints['auroc_keypoint_vs_filler']:.2f} (0.5 is chance, 1 perfect); mean weight of "
      f"numbers {means['number']:.2f}, results {means['result']:.2f}, '=' {means['equals']:.2f}, but operator "
      f"signs {means['operator']:.2f} and fillers {means['filler']:.2f}: partly, the signs are masked")

# %% [markdown]
# ## 4. Weights x schedule, as a 2 x 2
#
# KPOD changes two things at once: Eq. 15's token weights and Eq. 14's schedule. w.o.-prog keeps
# the weights without the schedule. Two controls give every token the same weight, the learned
# weights' mean, so that "weights" means emphasis and not a smaller loss: kpod-uniform (with the
# schedule) and w.o.-prog-uniform (without). The 2 x 2 separates the two effects and asks whether
# they interact (the weights' effect with the schedule minus without it).

# %%
# NBVAL_CHECK_OUTPUT
cells = stats.WEIGHTS_BY_SCHEDULE
if all(method in methods for method in cells.values()):
    mean = {key: answers(method).mean() * 100 for key, method in cells.items()}
    print(f"{'test accuracy %':<18}{'schedule on':>13}{'schedule off':>14}")
    for weights in ("learned", "uniform"):
        print(f"{weights + ' weights':<18}{mean[(weights, 'on')]:>13.1f}{mean[(weights, 'off')]:>14.1f}")
    effects = stats.weights_by_schedule({method: answers(method) for method in cells.values()})
    for name, effect in effects["effects"].items():
        print(f"{name:<62}{effect['difference']:>+7.1f} [{effect['interval'][0]:+.1f}, {effect['interval'][1]:+.1f}]")
    # From scratch: the interaction is a difference of differences of the four cell means.
    by_hand = (mean[("learned", "on")] - mean[("uniform", "on")]) - (mean[("learned", "off")] - mean[("uniform", "off")])
    assert abs(by_hand - effects["effects"]["interaction (weights with schedule - without)"]["difference"]) < 0.01
else:
    print("not yet run: " + ", ".join(m for m in cells.values() if m not in methods))

# %% [markdown]
# **Not pre-registered: the weights' scale.** The controls answer "emphasis or a smaller loss?"
# only halfway. Plain CoT and w.o.-sig train every rationale token at weight 1; the uniform
# controls at λ + (1 − λ) times the learned weights' mean, the same for every token. Pair them by
# schedule and the only difference left is that scale (the answer sentence keeps weight 1 in
# all four). The cell measures it with and without the schedule, then splits KPOD − w.o.-sig
# into emphasis (learned against uniform weights) plus scale. Read it as a question for the
# next run: it was not among the comparisons fixed before this one.

# %%
# NBVAL_CHECK_OUTPUT
scale_pairs = {"schedule off": ("w.o.-prog-uniform", "plain-cot"), "schedule on": ("kpod-uniform", "w.o.-sig")}
if all(m in methods for pair in scale_pairs.values() for m in pair):
    mean_weight = json.loads((thread.thread_folder() / "weights.summary.json").read_text())["mean_weight"]
    floor = config["token_weight_floor"]
    print(f"rationale tokens at 1 against {floor} + (1 - {floor}) x {mean_weight:.3f} = "
          f"{floor + (1 - floor) * mean_weight:.2f} (the thread's mean weight)")
    for schedule_state, (small, full) in scale_pairs.items():
        effect = stats.paired_bootstrap(answers(small), answers(full))
        print(f"{schedule_state:<14}{full} − {small}: {effect['difference']:+.1f} "
              f"[{effect['interval'][0]:+.1f}, {effect['interval'][1]:+.1f}]")
    emphasis = (answers("kpod") - answers("kpod-uniform")).mean() * 100
    scale = (answers("kpod-uniform") - answers("w.o.-sig")).mean() * 100
    total = (answers("kpod") - answers("w.o.-sig")).mean() * 100
    print(f"KPOD − w.o.-sig {total:+.1f} = emphasis {emphasis:+.1f} + smaller scale {scale:+.1f}")
    assert abs(total - (emphasis + scale)) < 1e-9  # paired on the same seeds and questions
else:
    print("not yet run: " + ", ".join(m for pair in scale_pairs.values() for m in pair if m not in methods))

# %% [markdown]
# ## 5. Training to convergence
#
# After every epoch each student answered the validation questions (the first output below
# says how many). The first plot is against
# the epoch; the second against the target tokens the student had been trained to write by
# then: during its T progressive epochs KPOD writes only the steps not given as input, so
# against epochs it may look slow where it only writes less. The band is the seeds' range.
# The rule of the pre-registration: a method whose last quarter of epochs gains a point or more
# is not converged. The analysis reads it both ways: a student still falling is not settled either.

# %%
for against in ("epoch", "target tokens"):
    fig = viz.epoch_accuracy_figure(histories, split="validation", against=against)
    plt.show()

# %%
# NBVAL_CHECK_OUTPUT
epochs = config["epochs"]
print(f"per-epoch accuracy on {config['epoch_eval_size']} {config['epoch_eval_split']} questions; "
      f"converged by the rule: a last-quarter change under 1 point either way")
print(f"{'method':<20}{'epoch 30':>9}{'epoch 45':>9}{'epoch 60':>9}{'last-quarter gain (points)':>29}")
for method, runs in histories.items():
    read = convergence.summary([{row["epoch"]: row["test_accuracy"] for row in run} for run in runs], epochs)
    at, gains = read["mean_accuracy_by_epoch"], read["last_quarter_gain_per_seed"]
    print(f"{method:<20}{at[30]:>9.1f}{at[45]:>9.1f}{at[60]:>9.1f}{read['last_quarter_gain_mean']:>+18.1f} "
          f"({', '.join(f'{g:+.1f}' for g in gains)}): {'converged' if read['converged'] else 'not converged'}")

# %% [markdown]
# ## 6. The mechanism: are keypoints more exact?
#
# Eq. 15 weights the loss so that the student copies keypoint tokens precisely (§3.3). That is
# measurable: give each trained student the question and the teacher's test rationale up to
# token j, and count how often its most likely next token is r_j, by token class
# (`kpod_lite.keypoint_accuracy`). If the weights do what §3.3 says, KPOD and w.o.-prog should
# gain on keypoints relative to plain CoT, and not on the rest.

# %%
# NBVAL_CHECK_OUTPUT
exactness = json.loads((shipped / "keypoint_accuracy.json").read_text())
CLASSES = ("keypoint", "not keypoint", "number", "result", "operator", "filler")
print(f"{'next-token accuracy %':<22}" + "".join(f"{c:>14}" for c in CLASSES))
for method, per_seed in exactness.items():
    share = {c: np.mean([s[c][0] / s[c][1] for s in per_seed.values()]) * 100 for c in CLASSES}
    print(f"{method:<22}" + "".join(f"{share[c]:>14.1f}" for c in CLASSES))

# %% [markdown]
# ## 7. A reading
#
# * **The primary comparison** (section 2): the sign and interval of KPOD − plain CoT, and
#   whether every seed agrees.
# * **Which part costs or helps** (section 4): the schedule's effect with learned and with
#   uniform weights, and the weights' with and without it. A schedule effect below 0 under
#   both weightings makes the schedule the cost, whatever the weights.
# * **The curves** (section 5): whether KPOD's fall or plain CoT's rise after epoch 30 makes
#   the gap. A method the rule calls not converged makes its comparison provisional.
# * **The mechanism** (section 6): whether the weights made keypoints more exact at all.
# * **What this cannot say**: Table 2's gaps are 1.2 to 4.1 points on GSM8K, with 3B and 7B
#   students and GPT-3.5's rationales. Intervals this wide cannot confirm or rule out gaps that
#   small, and nothing here speaks to scale.

# %% [markdown]
# ## Recap
#
# * Compare methods paired by seed and question, with a two-level bootstrap interval; decide the
#   comparisons and the rule before the run, and correct for how many you make.
# * A ledger row is a claim, a tiny verdict and an interval; "not yet run" and "no difference
#   this run can see" are answers too.
# * A 2 x 2 with controls says which of two changes made a difference; a single ablation cannot.

# %% [markdown]
# ## Exercises
#
# **Exercise 1 (predict, then run).** Predict how much wider the interval of KPOD − plain CoT
# would be with 2 seeds instead of 5. Then compute it with `bootstrap_difference` on the first
# two seeds, and explain what dominates the width here: seeds or questions?
#
# **Exercise 2 (predict, then run).** Before computing it: on the four-step chains, which no
# student trained on, would you expect KPOD's schedule (trained on ever-longer targets) to help?
# Compute KPOD − plain CoT there and read it with its interval and the accuracies it compares.
#
# **Exercise 3 (a small experiment).** Predict how the width of that interval changes with
# a quarter of the test questions: a normal approximation says twice as wide (1/√n). Take the
# first 125, 250 and 500 questions, measure the widths, and explain what the result says about
# how to spend a bigger budget: on questions or on seeds?

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. With two seeds the seed-to-seed spread is estimated from two values; when seeds
# differ much (the per-seed differences of section 2), the width comes mostly from them.
full = bootstrap_difference(answers("plain-cot"), answers("kpod"), resamples=2000)
two = bootstrap_difference(answers("plain-cot")[:2], answers("kpod")[:2], resamples=2000)
print(f"5 seeds: width {full[2] - full[1]:.1f} points; 2 seeds: width {two[2] - two[1]:.1f} points")
one_seed_questions = bootstrap_difference(answers("plain-cot")[:1], answers("kpod")[:1], resamples=2000)
print(f"one seed, questions resampled only: width {one_seed_questions[2] - one_seed_questions[1]:.1f} points")
assert one_seed_questions[2] - one_seed_questions[1] < full[2] - full[1]  # questions alone explain less

# %% jupyter={"source_hidden": true}
# Solution 2.
delta, low, high = bootstrap_difference(answers("plain-cot", "ood-four-steps"), answers("kpod", "ood-four-steps"))
print(f"four-step chains: plain CoT {answers('plain-cot', 'ood-four-steps').mean() * 100:.1f}%, KPOD "
      f"{answers('kpod', 'ood-four-steps').mean() * 100:.1f}%: KPOD − plain CoT {delta:+.1f} [{low:+.1f}, {high:+.1f}]")
assert low <= delta <= high

# %% jupyter={"source_hidden": true}
# Solution 3. The widths barely move: the five seeds' spread (section 2's per-seed differences)
# dominates the interval, and more questions do not shrink it; more seeds would.
widths = {}
for n in (125, 250, 500):
    _, low, high = bootstrap_difference(answers("plain-cot")[:, :n], answers("kpod")[:, :n], resamples=2000)
    widths[n] = high - low
for n, width in widths.items():
    print(f"{n:>4} questions: width {width:5.1f} points; 1/sqrt(n) from 500 predicts {widths[500] * (500 / n) ** 0.5:5.1f}")
assert widths[125] < widths[500] * 2 ** 0.5  # far from the doubling that questions alone would give
