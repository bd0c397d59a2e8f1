# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/04_progressive_schedule.ipynb)
#
# # 04. The progressive schedule: D(t), h_i and c_i(t)
#
# KPOD does not ask the student to write a whole rationale from the first epoch. It teaches
# each rationale *back to front*: early on the student gets the question and all but the last
# step(s) as input and learns to write only the end; stage by stage, questions give up input
# steps until every rationale is generated in full. How fast? A curve D(t) (Eq. 10) caps the
# total difficulty of what the whole dataset must generate at stage t; every stage spends the
# room left under the curve on a set of questions S(t) that each give up Δs input steps
# (Eq. 11), chosen for closeness to the budget and for diversity (Eq. 12-13, notebook 05). In
# this notebook you build D(t), the per-question difficulty h_i (Eq. 9) and one Eq. 11 stage
# from scratch, check them against `kpod_lite.schedule`, and then watch whole schedules run on
# the synthetic training questions, with the tiny preset's settings and the paper's.
# **Runs in** about 25 seconds on 2 CPU cores (tiny preset).
#
# **After this notebook you can** compute D(t) for any p, C_0 and T, explain what one stage of
# Eq. 11 does and why its budget can be negative, read a `schedule.json`, and say what the
# diversity term changes in the selected sets.
#
# **Paper:** §3.4 (Eq. 9-11; Eq. 12-13 are notebook 05's), App. A (p, C_0, T, β, K),
# App. B (Algorithm 1), App. C (Figure 4: sensitivity to p and C_0).

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
# **The task and the student.** This notebook schedules the shipped synthetic training split
# (`data_samples/synthetic/`: 2-4 steps with + - × ÷), scored by the tiny T5, like notebooks
# 00-05. Its rationales contain every keypoint kind, and its 2-4 steps leave the schedule room
# to move. The easier task and the tiny LLaMA of the tiny preset belong to notebooks 06-07.
#
# **How stages and epochs are counted in this course.** The paper's stage index t runs
# 0, 1, ..., T (Eq. 10-11), and figures labelled "stage t" count from 0. Training epochs are
# counted from 1, as the training histories of notebook 06 are, and epoch e trains with the
# c_i of stage t = e - 1. With the tiny preset (8 epochs, T = 4), epochs 1-5 are stages 0-4 and
# epochs 6-8 train on whole rationales.

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # tiny | flan-t5-large | flan-t5-xl | llama-7b
N_QUESTIONS = 300  # synthetic training questions to schedule (GSM8K has 7,473, App. A Table 4)
PAPER_EPOCHS = 100  # App. A: 100 epochs for FlanT5 (T = 50); 20 or 40 for LLaMA-7B
GLOVE_PATH = None  # a GloVe text file (e.g. glove.6B.300d.txt, §3.4) if you have one; else TF-IDF

# %%
# %matplotlib inline
import math

import matplotlib.pyplot as plt
import numpy as np

from kpod_lite import config, data, schedule, submodular

cfg = config.preset(PRESET)
if PRESET == "tiny":
    # This notebook's figures and remarks are for the seq2seq tiny T5; the tiny preset itself
    # distils the causal tiny LLaMA (docs/RESULTS.md, "Calibration"). Its schedule here is built
    # from the tiny T5's step difficulties, as in notebook 03.
    cfg = cfg.replace(student="tiny-t5")
print(f"preset {cfg.name}: {cfg.epochs} epochs, T = {cfg.stage_T}, p = {cfg.p}, "
      f"C0 = {cfg.c0_fraction} B, Δs = {cfg.delta_s}, β = {cfg.beta}, K = {cfg.n_clusters}")

# %% [markdown]
# ## 1. How much difficulty the dataset may carry at stage t: D(t) (Eq. 10)
#
# The paper sets the *growth rate* of the overall difficulty, dD/dt = u t^p with p > 0 (a
# slow start that speeds up), and integrates it:
#
# $$D(t) = \frac{u\,t^{p+1}}{p+1} + C_0 .\qquad\text{(Eq. 10)}$$
#
# C_0 = D(0) is where the dataset starts. The schedule must arrive at full difficulty at stage
# T: D(T) = B, the sum of every step difficulty of every rationale. Solving that one equation
# for u gives u = (B - C_0)(p + 1) / T^{p+1}. App. A: p = 0.5, C_0 = 0.3 B, T = half the
# epochs. From scratch:

# %%
# NBVAL_CHECK_OUTPUT
def my_growth_rate(B, C0, T, p):
    return (B - C0) * (p + 1) / T ** (p + 1)  # from D(T) = B  (Eq. 10)


def my_D(t, B, T, p, C0):
    return my_growth_rate(B, C0, T, p) * t ** (p + 1) / (p + 1) + C0  # Eq. 10


B, T, p, C0 = 100.0, cfg.stage_T, cfg.p, cfg.c0_fraction * 100.0
assert math.isclose(my_growth_rate(B, C0, T, p), schedule.growth_rate(B, C0, T, p))
for t in range(T + 1):
    assert math.isclose(my_D(t, B, T, p, C0), schedule.overall_difficulty(t, B, T, p, C0))
    print(f"t = {t}: D(t) = {my_D(t, B, T, p, C0):6.2f}   D(t) - D(t-1) = "
          f"{my_D(t, B, T, p, C0) - my_D(max(t - 1, 0), B, T, p, C0):5.2f}")
print(f"u = {my_growth_rate(B, C0, T, p):.3f}  (B = {B:.0f}, C0 = {C0:.0f}, T = {T}, p = {p})")

# %% [markdown]
# With p = 0.5 the curve is convex: the later stages add more difficulty than the early ones.
# The library returns B itself from t = T on (App. B: after T every rationale is learnt in
# full), so D(T) = B holds exactly rather than up to rounding.
#
# **Explore.** Drag the sliders (p, C_0 as a fraction of B, T) to redraw D(t)/B; the dotted
# line is a straight ramp from C_0 to B. On GitHub only the static figure of
# the defaults shows; run the notebook to get the sliders.

# %%
import ipywidgets as widgets


def draw_D(p=0.5, c0_fraction=0.3, T=50):
    t = np.linspace(0, T, 200)
    D = [schedule.overall_difficulty(x, 1.0, T, p, c0_fraction) for x in t]  # B = 1
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    ax.plot(t, D, label="D(t) / B  (Eq. 10)")
    ax.plot([0, T], [c0_fraction, 1.0], ls=":", color="grey", label="a straight ramp, for comparison")
    ax.set_xlabel("stage t (from 0)")
    ax.set_ylabel("D(t) / B")
    ax.set_ylim(0, 1.05)
    ax.set_title(f"p = {p:.2f}, C0 = {c0_fraction:.2f} B, T = {T}")
    ax.legend(loc="lower right")
    plt.show()


draw_D(cfg.p, cfg.c0_fraction, PAPER_EPOCHS // 2)  # the static figure: App. A's values
widgets.interact(draw_D,
                 p=widgets.FloatSlider(value=cfg.p, min=0.1, max=4.0, step=0.1),
                 c0_fraction=widgets.FloatSlider(value=cfg.c0_fraction, min=0.0, max=0.9, step=0.05),
                 T=widgets.IntSlider(value=PAPER_EPOCHS // 2, min=1, max=100));

# %% [markdown]
# The paper's Figure 4 varies p (a) and C_0 (c) and finds accuracy on GSM8K insensitive to
# both. This is what those knobs do to the curve, at T = 50:

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), sharey=True)
t = np.arange(0, 51)
for p_ in (0.25, 0.5, 1.0, 2.0, 4.0):
    axes[0].plot(t, [schedule.overall_difficulty(x, 1.0, 50, p_, 0.3) for x in t], label=f"p = {p_}")
for c0_ in (0.1, 0.2, 0.3, 0.4, 0.5):
    axes[1].plot(t, [schedule.overall_difficulty(x, 1.0, 50, 0.5, c0_) for x in t], label=f"C0 = {c0_} B")
axes[0].set_title("varying p (C0 = 0.3 B), cf. Fig. 4(a)")
axes[1].set_title("varying C0 (p = 0.5), cf. Fig. 4(c)")
axes[0].set_ylabel("D(t) / B")
for ax in axes:
    ax.set_xlabel("stage t (from 0)")
    ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 2. The questions and their step difficulties (Eq. 8)
#
# The schedule only needs, for every question i, the list d_1^(i), ..., d_{n_i}^(i) of its
# steps' difficulties; steps are the sentences of the rationale, cut at "." (§3.4,
# `data.split_steps`). We take the first N_QUESTIONS synthetic training questions and their
# rationales (2 to 4 steps each).

# %%
examples = data.load_examples("../data_samples/synthetic/train.jsonl", "kpod")[:N_QUESTIONS]
ids = [e.id for e in examples]
steps = {e.id: [s.text for s in data.split_steps(e.meta["rationale"])] for e in examples}
n_steps = np.array([len(steps[i]) for i in ids])
print(f"{len(ids)} questions; steps per rationale:",
      {int(n): int(k) for n, k in zip(*np.unique(n_steps, return_counts=True))})
print("example:", ids[0])
for j, s in enumerate(steps[ids[0]], 1):
    print(f"  step {j}: {s}")

# %% [markdown]
# Each d_j^(i) is Eq. 8: the pre-trained student's negative log-likelihood of the step's
# tokens, teacher-forced, averaged with the softmax of the token weights within the step.
# Notebook 03 builds it from scratch; here we call `kpod_lite.difficulty` on the tiny student.
# The token weights are **oracle weights** derived from the synthetic keypoint labels in each
# record's `meta.spans`, as in notebook 03: 0.95 for keypoint tokens (numbers, operators, "=",
# results, quantity words), 0.05 for planted fillers, 0.5 for the rest; learned weights from
# notebook 02 would go in the same place.

# %%
import transformers

from kpod_lite import difficulty, templates
from kpod_lite.models import is_local_build, load_student

if is_local_build(cfg.student):  # a GPU preset keeps the bars: its first load is a download
    transformers.utils.logging.disable_progress_bar()
model, tokenizer = load_student(cfg)  # θ^s before distillation (Eq. 8)
KEYPOINT = {"number", "operator", "equals", "result", "quantity"}


def oracle_weights(example, offsets):
    text = example.meta["rationale"]
    label = [lab for start, end, lab in example.meta["spans"] for _ in range(start, end)]
    out = []
    for start, _ in offsets:  # a token takes the label of its first non-space character
        while start < len(text) - 1 and text[start].isspace():
            start += 1
        out.append(0.95 if label[start] in KEYPOINT else 0.05 if label[start] == "filler" else 0.5)
    return out


rationale_records, weight_records = [], []
for e in examples:
    token_ids, offsets = templates.rationale_tokens(tokenizer, e.meta["rationale"])
    rationale_records.append({"id": e.id, "question": e.question, "rationale": e.meta["rationale"]})
    weight_records.append({"id": e.id, "tokens": tokenizer.convert_ids_to_tokens(token_ids),
                           "weights": oracle_weights(e, offsets)})
records = difficulty.difficulty_records(rationale_records, weight_records, model, tokenizer,
                                        cfg.replace(batch_size=64))  # the scoring batch: speed only
difficulties = {r["id"]: r["difficulty"] for r in records}
assert all(r["steps"] == steps[r["id"]] for r in records)
DIFFICULTY_SOURCE = f"Eq. 8, {cfg.student}, oracle weights from the synthetic labels"

# %%
B_data = schedule.total_difficulty(difficulties)
last = sum(d[-1] for d in difficulties.values())
print(f"difficulties: {DIFFICULTY_SOURCE}")
print(f"B = {B_data:.1f} over {n_steps.sum()} steps; the last steps alone hold {last / B_data:.0%} of B")

fig, ax = plt.subplots(figsize=(5.5, 3))
for n in sorted(set(n_steps.tolist())):
    rows = np.array([difficulties[i] for i in ids if len(difficulties[i]) == n])
    ax.plot(range(1, n + 1), rows.mean(axis=0), "o-", label=f"n_i = {n} ({len(rows)} questions)")
ax.set_xlabel("step j")
ax.set_ylabel("mean d_j")
ax.set_xticks([1, 2, 3, 4])
ax.set_title("step difficulty by position (Eq. 8)")
ax.legend()
plt.show()

# %% [markdown]
# For the pre-trained tiny student the first step is, on average, the hardest: it is written
# with no earlier step to lean on. Keep the share of the last steps in mind and compare it with
# C_0 = 0.3 B: it decides how the schedule starts (§4, §6).

# %% [markdown]
# ## 3. h_i and one stage of Eq. 11, from scratch
#
# If question i gets its first c_i steps as input, the student must generate the rest, which
# costs
#
# $$h_i = \sum_{j=c_i+1}^{n_i} d_j^{(i)} .\qquad\text{(Eq. 9)}$$
#
# A stage t then works like this (Eq. 11):
#
# 1. the budget is the room left under the curve, ΔD(t) = D(t) - Σ_i h_i(c_i(t-1));
# 2. every question that still has input steps is a candidate; giving up Δs of them (or the
#    c_i it has left, if fewer) raises its h_i by the difficulty of those steps: its *cost*;
# 3. S(t) is chosen by FTGP on Eq. 12-13 (`kpod_lite.submodular.ftgp`, notebook 05): costs
#    that fit into ΔD(t) together, spread over the question clusters;
# 4. c_i(t) = c_i(t-1) - q_i(t) Δs, with q_i(t) = 1 for i in S(t) and 0 otherwise.
#
# First on five hand-made questions, in two clusters:

# %%
# NBVAL_CHECK_OUTPUT
def my_h(d, c):
    return sum(d[c:])  # Eq. 9: the steps after the c input steps


def my_stage(d, c_prev, labels, D_t, delta_s=1, beta=12.0, eps=0.1):
    """One stage of Eq. 11: returns ΔD(t), the selected questions, ΔH(S(t)) and c(t)."""
    delta_D = D_t - sum(my_h(d[i], c_prev[i]) for i in range(len(d)))
    candidates = [i for i in range(len(d)) if c_prev[i] > 0]
    cost = [sum(d[i][max(c_prev[i] - delta_s, 0):c_prev[i]]) for i in candidates]
    chosen = [candidates[x] for x in submodular.ftgp(cost, [labels[i] for i in candidates],
                                                     delta_D, beta=beta, eps=eps)]
    c = [c_prev[i] - min(delta_s, c_prev[i]) if i in chosen else c_prev[i] for i in range(len(d))]
    return delta_D, sorted(chosen), sum(my_h(d[i], c[i]) - my_h(d[i], c_prev[i]) for i in chosen), c


toy_d = [[2.0, 3.0, 1.0], [4.0, 1.0], [1.0, 2.0, 2.0, 3.0], [5.0, 2.0], [3.0, 3.0, 1.0]]
toy_labels = [0, 0, 1, 1, 0]
for i, d in enumerate(toy_d):
    for c in range(len(d) + 1):
        assert math.isclose(my_h(d, c), schedule.step_difficulty_sum(d, c))
c_start = [len(d) - 1 for d in toy_d]  # c_i before stage 0: generate the last step only
print("h_i at the start:", [my_h(d, c) for d, c in zip(toy_d, c_start)])
delta_D, chosen, delta_H, c_next = my_stage(toy_d, c_start, toy_labels, D_t=16.0)
print(f"D(t) = 16.0, ΔD(t) = {delta_D}, S(t) = {chosen}, ΔH(S(t)) = {delta_H}, c(t) = {c_next}")

# %% [markdown]
# The costs of giving up one step are 3, 4, 2, 5 and 3, and ΔD = 8 can be filled exactly by
# {0, 3}, {3, 4} or {0, 2, 4}. Eq. 12 prefers the last: its diversity term is β(√2 + 1)
# (two questions from cluster 0, one from cluster 1) against 2β for the pairs.
#
# Now the same on the synthetic questions: every stage of the tiny preset's schedule from
# c_i = n_i - 1 (the starting point, §6), checked stage by stage against
# `kpod_lite.schedule.build_schedule`. The clusters C_k of Eq. 12 come first (K-means, K = 5,
# App. A). §3.4 averages GloVe word vectors per question, which cannot be downloaded here, so
# `embed_questions` falls back to TF-IDF vectors unless GLOVE_PATH names a GloVe file; the
# printed source says which was used.

# %%
# Clusters C_k for Eq. 12: question embeddings (GloVe means, §3.4, or the TF-IDF fallback), K-means.
embeddings, embedding_source = schedule.embed_questions([e.question for e in examples], glove_path=GLOVE_PATH)
labels = schedule.cluster_questions(embeddings, k=cfg.n_clusters, seed=0)
clusters = dict(zip(ids, labels.tolist()))
print(f"embeddings: {embedding_source}; cluster sizes: {np.bincount(labels).tolist()}")

lib = schedule.build_schedule(difficulties, clusters, epochs=cfg.epochs, T=cfg.stage_T, p=cfg.p,
                              c0_fraction=cfg.c0_fraction, delta_s=cfg.delta_s, beta=cfg.beta,
                              eps=cfg.ftgp_eps)
d_list = [difficulties[i] for i in ids]
c = [len(d) - 1 for d in d_list]
for t in range(cfg.stage_T + 1):  # stages 0..T of Eq. 11, budgets from Eq. 10, costs from Eq. 9
    D_t = my_D(t, B_data, cfg.stage_T, cfg.p, cfg.c0_fraction * B_data)
    delta_D, chosen, delta_H, c = my_stage(d_list, c, labels.tolist(), D_t, cfg.delta_s, cfg.beta, cfg.ftgp_eps)
    stage = lib.stages[t]
    assert math.isclose(delta_D, stage.delta_D, abs_tol=1e-6) and math.isclose(delta_H, stage.delta_H, abs_tol=1e-6)
    assert [ids[i] for i in chosen] == sorted(stage.selected) and c == [stage.c[i] for i in ids]
    print(f"stage {t}: D(t) = {D_t:7.1f}  ΔD(t) = {delta_D:7.1f}  ΔH(S(t)) = {delta_H:6.1f}  "
          f"|S(t)| = {len(chosen):3d}  questions with input steps left: {sum(x > 0 for x in c)}")

# %% [markdown]
# Every stage matches the library. Two things stand out already: stage 0 selects nothing
# because its budget is negative (§6 explains why), and at stage T some questions still hold
# input steps although D(T) = B (§4).
#
# ## 4. Whole schedules: the tiny preset and the paper's settings
#
# The tiny preset trains for 8 epochs (T = 4); the paper's FlanT5 runs train for 100
# (T = 50). Same questions, same difficulties, same clusters. Epoch e (from 1) trains with
# the c_i of stage t = e - 1 up to t = T and with full rationales afterwards
# (`Schedule.input_steps(t)` takes the 0-based stage index; App. B). The stacked bars show
# how many questions get 0, 1, 2 or 3 input steps at each epoch:

# %%
# Eq. 9-13 over all stages, for both settings, with and without the diversity term of Eq. 12.
settings = {"tiny preset": cfg.epochs, "paper (App. A)": PAPER_EPOCHS}
runs = {}
for name, epochs in settings.items():
    for beta in (cfg.beta, 0.0):  # beta = 0 is KPOD-w.o.-div (§5)
        runs[name, beta] = schedule.build_schedule(
            difficulties, clusters, epochs=epochs, p=cfg.p, c0_fraction=cfg.c0_fraction,
            delta_s=cfg.delta_s, beta=beta, eps=cfg.ftgp_eps,
            meta={"embeddings": embedding_source, "difficulty": DIFFICULTY_SOURCE})

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 3]})
colours = plt.cm.viridis(np.linspace(0.9, 0.1, 4))
for ax, (name, epochs) in zip(axes, settings.items()):
    sched = runs[name, cfg.beta]
    # epoch e (1-based) trains stage t = e - 1 (0-based), the index input_steps takes
    counts = np.array([np.bincount(list(sched.input_steps(e - 1).values()), minlength=4)
                       for e in range(1, epochs + 1)])
    bottom = np.zeros(epochs)
    for k in range(4):
        ax.bar(range(1, epochs + 1), counts[:, k], bottom=bottom, width=1.0, color=colours[k], label=f"c_i = {k}")
        bottom += counts[:, k]
    ax.axvline(sched.T + 0.5, color="k", ls=":", label="end of epoch T (Algorithm 1)")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"{name}: {epochs} epochs, T = {sched.T}")
    ax.set_xlabel("epoch (from 1)")
axes[0].set_ylabel("questions")
axes[1].legend(loc="lower right", fontsize=8)
plt.show()

# %% [markdown]
# Now the budget itself. Left: D(t) against the difficulty the schedule actually reaches,
# H(t) = Σ_i h_i(c_i(t)). Right: ΔH(S(t)), what each stage spends, against ΔD(t), what it
# may spend.

# %%
fig, axes = plt.subplots(2, 2, figsize=(11, 6))
for row, (name, epochs) in enumerate(settings.items()):
    sched = runs[name, cfg.beta]
    t = np.arange(sched.T + 1)
    # H(t) = Σ_i h_i(c_i(t)) (Eq. 9): the difficulty the schedule actually reaches
    H = [sum(schedule.step_difficulty_sum(difficulties[i], s.c[i]) for i in ids) for s in sched.stages]
    axes[row, 0].plot(t, np.array(sched.D) / B_data, label="D(t) / B")
    axes[row, 0].plot(t, np.array(H) / B_data, "o-", ms=3, label="H(t) / B, reached")
    axes[row, 0].set_title(f"{name}")
    axes[row, 0].set_ylabel("fraction of B")
    axes[row, 0].legend()
    axes[row, 1].bar(t, [s.delta_D for s in sched.stages], color="lightgrey", label="ΔD(t), the budget")
    axes[row, 1].plot(t, [s.delta_H for s in sched.stages], "o-", ms=3, color="C3", label="ΔH(S(t)), spent")
    axes[row, 1].axhline(0, color="k", lw=0.5)
    axes[row, 1].legend(fontsize=8)
    for ax in axes[row]:
        ax.xaxis.get_major_locator().set_params(integer=True)
for ax in axes[1]:
    ax.set_xlabel("stage t (from 0)")
for ax in axes[:, 1]:
    ax.set_ylabel("difficulty (Eq. 8, nats)")
plt.tight_layout()
plt.show()

for name, epochs in settings.items():
    sched = runs[name, cfg.beta]
    final = sched.stages[-1]
    used = [s.delta_H / s.delta_D for s in sched.stages if s.delta_D > 0]
    H_T = sum(schedule.step_difficulty_sum(difficulties[i], final.c[i]) for i in ids)
    print(f"{name:15} stages with ΔD <= 0: {sum(s.delta_D <= 0 for s in sched.stages):2d}; "
          f"median ΔH/ΔD of the others: {np.median(used):.2f}; H(T) = {H_T / B_data:.2f} B; "
          f"questions with input steps at T: {sum(x > 0 for x in final.c.values())}")

# %% [markdown]
# What to read off these figures:
#
# * **The start is flat.** Our rationales are short (2-4 steps), so the last steps alone
#   already weigh more than C_0 = 0.3 B: ΔD(t) < 0 until D(t) catches up, and nothing moves
#   (the count of such stages is printed above: several with T = 50, stage 0 alone with T = 4).
# * **Then the curve is tracked closely.** Once ΔD(t) > 0, FTGP fills it almost exactly
#   (ΔH/ΔD near 1): H(t) follows D(t).
# * **The end lags.** With Δs = 1 a question can give up only one step per stage. In the
#   tiny preset (T = 4) the budget at the last stages is large, but every candidate is
#   already selected: ΔH < ΔD because there is nothing left to buy, and at stage T some
#   questions still hold input steps (H(T) < B). Algorithm 1 trains epochs 1..T on stages
#   0..T-1 and then "post-epoch T, the student is trained to generate the complete
#   rationale": the rest goes in one jump at epoch T + 1 (counted from 1).
#   With T = 50 the lag is small.
#
# ## 5. What the diversity term does: β = 12 against β = 0 (KPOD-w.o.-div)
#
# Eq. 12 adds β Σ_k √|C_k ∩ S(t)|: a second question from a cluster is worth less than the
# first from another. Below, the cluster make-up of each S(t), in the paper's setting, with
# and without that term; the last panel shows the clusters of the *candidates* (questions
# with input steps left), i.e. what a stage could choose from.

# %%
# The clusters C_k of Eq. 12 in each S(t), and among the candidates (c_i > 0) of each stage.
def cluster_counts(sched, which):
    """Per stage, how many questions of each cluster were selected, or were candidates.

    The candidates of stage t are the questions with input steps left after stage t - 1.
    """
    c_before = [{i: len(difficulties[i]) - 1 for i in ids}] + [s.c for s in sched.stages[:-1]]
    rows = []
    for s, c_prev in zip(sched.stages, c_before):
        pool = s.selected if which == "selected" else [i for i in ids if c_prev[i] > 0]
        rows.append(np.bincount([clusters[i] for i in pool], minlength=cfg.n_clusters))
    return np.array(rows, dtype=float)


def balance(counts):
    """Normalised entropy of one stage's cluster counts: 1 = perfectly even, 0 = one cluster."""
    share = counts[counts > 0] / counts.sum()
    return float(-(share * np.log(share)).sum() / math.log(cfg.n_clusters))


name = "paper (App. A)"
panels = {"S(t), β = 12": cluster_counts(runs[name, cfg.beta], "selected"),
          "S(t), β = 0 (KPOD-w.o.-div)": cluster_counts(runs[name, 0.0], "selected"),
          "candidates of the stage (β = 12)": cluster_counts(runs[name, cfg.beta], "candidates")}
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2), sharey=True)
for ax, (title, counts) in zip(axes, panels.items()):
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    bottom = np.zeros(len(shares))
    for k in range(cfg.n_clusters):
        ax.bar(range(len(shares)), shares[:, k], bottom=bottom, width=1.0, color=f"C{k}", label=f"cluster {k}")
        bottom += shares[:, k]
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("stage t (from 0)")
axes[0].set_ylabel("share of the questions")
axes[2].legend(fontsize=7, loc="lower left")
plt.show()

print("mean balance (1 = even over the 5 clusters), over the stages where every cluster still has candidates:")
for name in settings:
    for beta in (cfg.beta, 0.0):
        sel, pool = cluster_counts(runs[name, beta], "selected"), cluster_counts(runs[name, beta], "candidates")
        rows = [t for t in range(len(sel)) if sel[t].sum() > 0 and (pool[t] > 0).all()]
        print(f"  {name:15} β = {beta:4}: S(t) {np.mean([balance(sel[t]) for t in rows]):.2f}, "
              f"candidates {np.mean([balance(pool[t]) for t in rows]):.2f}  ({len(rows)} stages, "
              f"mean |S(t)| {sel[rows].sum(axis=1).mean():.0f} of {pool[rows].sum(axis=1).mean():.0f} candidates)")

# %% [markdown]
# With β = 12 each S(t) takes about as many questions from every cluster that still has
# candidates, however large the cluster: the first panel is close to even stripes. With
# β = 0, F is just "fill the budget": ftgp packs it costliest-first, the costs here have
# little to do with the clusters, and S(t) roughly mirrors the candidate pool, noisily,
# dominated by the big cluster. In the tiny preset a stage takes half of all candidates or
# more, so there is little left to choose and β matters less.
#
# Note what the diversity term balances: the *number* of selected questions per cluster, not
# each cluster's share. Small clusters therefore run out of candidates first, and the last
# stages can only choose from the largest cluster (third panel): from then on no value of β
# balances anything.
#
# ## 6. The choices the paper leaves open
#
# `kpod_lite.schedule`'s docstring states them; here they are with this data.
#
# * **c_i before stage 0.** §3.4 says the schedule "initiates with training the student model
#   to generate the final few reasoning steps". kpod-lite starts every question at
#   c_i = n_i - 1: it generates its last step only (`initial_input_steps` overrides this, per
#   question or as one cap).
# * **Stage 0 and C_0.** The paper sets D(0) = C_0 but never says how the starting c_i reach
#   it. kpod-lite treats stage 0 as an ordinary Eq. 11 step from the starting point, with
#   ΔD(0) = C_0 - Σ_i h_i(start). If the last steps alone exceed C_0, ΔD(0) < 0 and nothing is
#   selected until D(t) catches up; because ΔD(t) always measures the room left under the
#   curve, the schedule corrects itself either way. `stage0_selection=False` keeps the
#   starting point as stage 0 and lets stage 1's budget absorb the gap.
# * **Δs.** One step per stage by default; a question with fewer than Δs input steps gives up
#   the ones it has, so its cost is the difficulty of min(Δs, c_i) steps.
# * **Epochs after T.** Eq. 11 moves a question by Δs per stage only, so at stage T a question
#   may still hold input steps; Algorithm 1's full-rationale training after epoch T removes them.
#
# The numbers for this data:

# %%
start = sum(d[-1] for d in d_list)  # Σ_i h_i (Eq. 9) with c_i = n_i - 1; ΔD(0) = C0 - start (Eq. 10-11)
C0_data = cfg.c0_fraction * B_data
print(f"Σ h_i at the start = {start / B_data:.2f} B  vs  C0 = {cfg.c0_fraction} B  ->  "
      f"ΔD(0) = {(C0_data - start) / B_data:+.2f} B")
for T_ in (cfg.stage_T, PAPER_EPOCHS // 2):
    first = next(t for t in range(T_ + 1)
                 if schedule.overall_difficulty(t, B_data, T_, cfg.p, C0_data) > start)
    print(f"T = {T_:2d}: D(t) first exceeds the starting difficulty at stage {first}")

print("\nquestions still holding input steps at stage T, by Δs and T:")
for delta_s in (1, 2, 3):
    left = []
    for epochs in (cfg.epochs, PAPER_EPOCHS):
        s = schedule.build_schedule(difficulties, clusters, epochs=epochs, p=cfg.p, c0_fraction=cfg.c0_fraction,
                                    delta_s=delta_s, beta=cfg.beta, eps=cfg.ftgp_eps)
        left.append(sum(x > 0 for x in s.stages[-1].c.values()))
    print(f"  Δs = {delta_s}: T = {cfg.stage_T}: {left[0]:3d}   T = {PAPER_EPOCHS // 2}: {left[1]:3d}")

print("\n|S(t)| per stage of the tiny preset's schedule, by C0 and stage0_selection:")
for c0_fraction in (cfg.c0_fraction, 0.5):
    for stage0 in (True, False):
        s = schedule.build_schedule(difficulties, clusters, epochs=cfg.epochs, p=cfg.p, c0_fraction=c0_fraction,
                                    beta=cfg.beta, eps=cfg.ftgp_eps, stage0_selection=stage0)
        print(f"  C0 = {c0_fraction} B, stage0_selection={stage0!s:5}: {[len(st.selected) for st in s.stages]}")

# %% [markdown]
# Reading these numbers: with C_0 = 0.3 B the stage-0 option changes nothing here, since
# ΔD(0) < 0 leaves stage 0 empty either way. With C_0 = 0.5 B there is room at stage 0: by
# default it is spent there; with `stage0_selection=False` stage 0 trains on the starting
# point and stage 1 spends the gap on top of its own increment. Δs trades the lag at the end
# against the size of each question's jumps: with Δs = 3 any question here can go from "last
# step only" to "the whole rationale" in one stage, so none is left at T; smaller values move
# more gently, and how many are left at T then depends on how the budget happens to fall.
#
# Finally, the record that the pipeline writes (`kpod-lite schedule`, `kpod_lite/schedule/record.py`): D, the stages
# with ΔD, ΔH, S(t) and every c_i(t), plus the parameters and where the clusters and
# difficulties came from.

# %%
tiny = runs["tiny preset", cfg.beta]
record = tiny.to_dict()  # D(t) (Eq. 10) and the stages of Eq. 11
print({"T": record["T"], "D": [round(x, 1) for x in record["D"]], "meta": record["meta"]})
print({k: (round(v, 2) if isinstance(v, float) else v) for k, v in record["params"].items()})
stage = record["stages"][1]
print(f"stage 1: t = {stage['t']}, delta_D = {stage['delta_D']:.1f}, delta_H = {stage['delta_H']:.1f}, "
      f"selected = {stage['selected'][:3]} ... ({len(stage['selected'])}), c = {{{len(stage['c'])} ids}}")
assert schedule.Schedule.from_json(tiny.to_json()).stages[2].c == tiny.stages[2].c  # a round trip keeps the ids

# %% [markdown]
# ## Recap
#
# * D(t) = u t^{p+1}/(p+1) + C_0 (Eq. 10), with u fixed by D(T) = B; App. A: p = 0.5,
#   C_0 = 0.3 B, T = half the epochs.
# * h_i = Σ_{j>c_i} d_j (Eq. 9) is what question i must generate; a stage's budget is the room
#   under the curve, ΔD(t) = D(t) - Σ_i h_i(c_i(t-1)), which can be negative.
# * One stage of Eq. 11: candidate costs (the difficulty of the Δs steps given up), S(t) by
#   FTGP, c_i(t) = c_i(t-1) - q_i(t) Δs.
# * On short rationales the start is flat (the last steps exceed C_0) and, with Δs = 1 and a
#   small T, the end lags behind D(t); after T every rationale is learnt in full (App. B).
# * β = 12 spreads each S(t) over the clusters by count; small clusters then finish first.
#
# **Exercise 1** (recall). With App. A's values (p = 0.5, C_0 = 0.3 B, T = 50), is D(T/2)
# above or below the midpoint (C_0 + B)/2 of a straight ramp? Answer from the shape of Eq. 10
# first, then check with `my_D`, also for p = 0.25 and p = 2.
#
# **Exercise 2** (apply). Which C_0 fraction makes ΔD(0) >= 0 on this data, so that stage 0
# already selects questions? Build the tiny preset's schedule with it and print |S(t)| per
# stage, next to the one with App. A's C_0 = 0.3 B.
#
# **Exercise 3** (a small experiment). In the tiny preset's schedule, compare stage 1 with
# β = 0 (KPOD-w.o.-div) and with β = 12: for the same budget ΔD(1), how many questions does
# each select, and what does one cost on average? Explain the difference with the marginal
# gain G(x | S) = w_x + β(√(m+1) - √m) of notebook 05 (m: how many of x's cluster S holds).

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. D(t) - C0 grows like t^(p+1) with p + 1 > 1: convex, so it stays below the
# straight ramp between (0, C0) and (T, B); at T/2 it has covered (1/2)^(p+1) of the way.
for p_ in (0.25, cfg.p, 2.0):
    half = my_D(25, 1.0, 50, p_, 0.3)  # B = 1, T = 50, C0 = 0.3 B
    print(f"p = {p_}: D(T/2) = {half:.3f} B, ramp midpoint 0.650 B, "
          f"0.3 + 0.7 x 0.5^(p+1) = {0.3 + 0.7 * 0.5 ** (p_ + 1):.3f}")
    assert half < 0.65 and math.isclose(half, 0.3 + 0.7 * 0.5 ** (p_ + 1))

# %% jupyter={"source_hidden": true}
# Solution 2. ΔD(0) = C0 - Σ_i h_i(start) (Eq. 11) with h_i(start) = the last step (Eq. 9), so
# C0 must be at least the last steps' share of B; strictly more, for ΔD(0) > 0 to buy anything.
share = sum(d[-1] for d in d_list) / B_data
print(f"ΔD(0) >= 0 needs c0_fraction >= {share:.3f}")
sizes = {}
for c0_fraction in (cfg.c0_fraction, round(min(1.0, share + 0.01), 3)):
    s = schedule.build_schedule(difficulties, clusters, epochs=cfg.epochs, p=cfg.p, c0_fraction=c0_fraction,
                                delta_s=cfg.delta_s, beta=cfg.beta, eps=cfg.ftgp_eps)
    sizes[c0_fraction] = [len(st.selected) for st in s.stages]
    print(f"  C0 = {c0_fraction} B: |S(t)| for t = 0..{s.T}: {sizes[c0_fraction]}")
assert (cfg.c0_fraction < share) == (sizes[cfg.c0_fraction][0] == 0)  # App. A's C0 leaves stage 0 empty here
assert max(sizes) > share and sizes[max(sizes)][0] > 0

# %% jupyter={"source_hidden": true}
# Solution 3. With β = 0 every question's gain per unit cost is exactly 1, and ftgp fills the
# budget costliest-first: few, expensive questions. With β > 0 the bonus β(√(m+1) - √m) is
# worth more per unit cost on a cheap question, so the same budget buys more, cheaper
# questions, spread over the clusters.
stage1 = {}
for beta in (0.0, cfg.beta):
    s = schedule.build_schedule(difficulties, clusters, epochs=cfg.epochs, p=cfg.p, c0_fraction=cfg.c0_fraction,
                                delta_s=cfg.delta_s, beta=beta, eps=cfg.ftgp_eps)
    st = s.stages[1]
    stage1[beta] = (len(st.selected), st.delta_H / max(len(st.selected), 1))
    print(f"β = {beta:4}: stage 1 budget ΔD = {st.delta_D:.1f}, spent {st.delta_H:.1f}, "
          f"|S(1)| = {stage1[beta][0]}, mean cost {stage1[beta][1]:.2f}; "
          f"|S(t)| for t = 0..{s.T}: {[len(x.selected) for x in s.stages]}")
assert stage1[0.0][0] < stage1[cfg.beta][0] and stage1[0.0][1] > stage1[cfg.beta][1]
