# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/04_progressive_schedule.ipynb)
#
# # 04. The progressive schedule: D(t), h_i and c_i(t)
#
# KPOD teaches each rationale *back to front*: the student first reads the question and all
# but the last step(s) and writes the end; stage by stage, questions give up input steps.
# D(t) (Eq. 10) caps the total difficulty to generate at stage t; each stage spends the room
# under it on a set S(t) of questions, chosen by Eq. 12-13 (notebook 05), that give up Δs
# input steps each (Eq. 11).
#
# **After this notebook you can** compute D(t), h_i and one stage of Eq. 11 by hand, read a
# `schedule.json`, draw a question's input steps at each epoch (Eq. 14), and say what the
# diversity term changes.
#
# **Paper:** §3.4 (Eq. 9-11, 14), App. A (p, C_0, T, β, K), App. B (Algorithm 1), App. C (Fig. 4).
# **Runs in** about 30 seconds on 2 CPU cores (tiny preset).

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
# **The task and the student.** The course's thread (`data_samples/thread/`): the tiny
# preset's training rationales and their step difficulties from notebook 03 (tiny LLaMA,
# learned weights). We follow "Ben's magazines".
#
# **Stages and epochs.** Stage t counts from 0 (Eq. 10-11), epochs from 1. Algorithm 1 says
# only that an epoch e <= T takes c_i(t) from Eq. 11 and S(t), and a later one the whole
# rationale (c_i = 0); it does not say which stage t belongs to epoch e. kpod-lite reads
# e -> t = e - 1 (section 7 lists it among the choices the paper leaves open).

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # the thread is the tiny preset's run
PAPER_EPOCHS = 100  # App. A: 100 epochs for FlanT5 (T = 50); 20 or 40 for LLaMA-7B
GLOVE_PATH = None  # a GloVe text file (e.g. glove.6B.300d.txt, §3.4) if you have one; else TF-IDF

# %%
# %matplotlib inline
import math
from itertools import combinations

import matplotlib.pyplot as plt
import numpy as np

from kpod_lite import config, schedule, submodular, templates, thread, viz
from kpod_lite.distill.examples import split_at_step

cfg = config.preset(PRESET)
print(f"preset {cfg.name}: {cfg.epochs} epochs, T = {cfg.stage_T}, p = {cfg.p}, "
      f"C0 = {cfg.c0_fraction} B, Δs = {cfg.delta_s}, β = {cfg.beta}, K = {cfg.n_clusters}")

# %% [markdown]
# ## 1. How much difficulty the dataset may carry at stage t: D(t) (Eq. 10)
#
# The paper sets dD/dt = u t^p (p > 0: a slow start that speeds up) and integrates it:
#
# $$D(t) = \frac{u\,t^{p+1}}{p+1} + C_0 .\qquad\text{(Eq. 10)}$$
#
# D(0) = C_0, and D(T) = B, the sum of every step difficulty, fixes u = (B - C_0)(p + 1) /
# T^{p+1}. App. A: p = 0.5, C_0 = 0.3 B, T = half the epochs.

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
# With p = 0.5 the curve is convex: later stages add more than early ones. **Explore:** drag
# the sliders to redraw D(t)/B (dotted: a straight ramp). On GitHub only the static figure of
# App. A's values shows; run the notebook for the sliders.

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
# ## 2. The thread's step difficulties (Eq. 8)
#
# The schedule needs only d_1^(i), ..., d_{n_i}^(i) for every question i: the thread's
# `difficulty.jsonl`, which notebook 03 reproduced.

# %%
records = thread.records("difficulty.jsonl")
question_of = {r["id"]: r["question"] for r in thread.records("rationales.jsonl")}
ids = [r["id"] for r in records]
difficulties = {r["id"]: r["difficulty"] for r in records}
steps = {r["id"]: r["steps"] for r in records}
n_steps = np.array([len(difficulties[i]) for i in ids])
NAMED = thread.NAMED_ID  # Ben's magazines
print(f"{len(ids)} questions; steps per rationale:",
      {int(n): int(k) for n, k in zip(*np.unique(n_steps, return_counts=True))})
print(f"Ben's magazines ({NAMED}):")
for j, (s, d) in enumerate(zip(steps[NAMED], difficulties[NAMED]), 1):
    print(f"  step {j}: d_{j} = {d:.3f}  {s}")

# %%
B_data = schedule.total_difficulty(difficulties)
last = sum(d[-1] for d in difficulties.values())
print(f"B = {B_data:.1f} over {n_steps.sum()} steps; the last steps alone hold {last / B_data:.0%} of B")
first_hardest = sum(int(np.argmax(d) == 0) for d in difficulties.values())
print(f"step 1 is the hardest step in {first_hardest} of {len(ids)} rationales")

fig, ax = plt.subplots(figsize=(5.5, 3))
for n in sorted(set(n_steps.tolist())):
    rows = np.array([difficulties[i] for i in ids if len(difficulties[i]) == n])
    ax.plot(range(1, n + 1), rows.mean(axis=0), "o-", label=f"n_i = {n} ({len(rows)} questions)")
ax.set_xlabel("step j")
ax.set_ylabel("mean d_j")
ax.set_xticks(range(1, n_steps.max() + 1))
ax.set_title("step difficulty by position (Eq. 8)")
ax.legend()
plt.show()

# %% [markdown]
# Step 1 is the hardest, as notebook 03 found and explained: it has no earlier step to lean
# on. Its words and numbers are new to the student, later steps repeat them, and a repeated
# token is cheap. So the last steps, which the schedule hands out first, are the easy ones.
# Compare their share of B with C_0 = 0.3 B: it decides how the schedule starts (sections 3
# and 7).


# %% [markdown]
# ## 3. h_i and one stage of Eq. 11, from scratch
#
# Given its first c_i steps as input, question i must generate the rest, which costs
#
# $$h_i = \sum_{j=c_i+1}^{n_i} d_j^{(i)} .\qquad\text{(Eq. 9)}$$
#
# A stage t (Eq. 11): the budget is the room left under the curve, ΔD(t) = D(t) - Σ_i
# h_i(c_i(t-1)); every question with input steps left is a candidate whose *cost* is the
# difficulty of the Δs steps it would give up; FTGP picks S(t) on Eq. 12-13 (notebook 05);
# then c_i(t) = c_i(t-1) - q_i(t) Δs. First on five hand-made questions in two clusters:

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
toy_cost = {i: d[c - 1] for i, (d, c) in enumerate(zip(toy_d, c_start))}  # the one step (Δs = 1) each gives up
print("cost of each question:", list(toy_cost.values()))
exact = [S for r in range(1, len(toy_d) + 1) for S in combinations(toy_cost, r)
         if sum(toy_cost[i] for i in S) == delta_D]
diversity = {S: float(np.sqrt(np.bincount([toy_labels[i] for i in S])).sum()) for S in exact}  # Σ_k √|C_k ∩ S|
for S in exact:
    print(f"  {list(S)} fills ΔD(t) exactly; Σ_k √|C_k ∩ S| = {diversity[S]:.2f}")
assert chosen == list(max(exact, key=diversity.get))  # same spend, so Eq. 12's diversity term decides


# %% [markdown]
# Each question's cost is the step it would give up (printed). Several sets fill ΔD(t)
# exactly; they spend the same, so Eq. 12's diversity term β Σ_k √|C_k ∩ S| decides, and
# FTGP's S(t) is the exact fill with the largest sum (printed beside each).
#
# Now every stage of the thread's schedule, against `kpod_lite.schedule` and the shipped
# `schedule.json`. Eq. 12's clusters: K-means (K = 5) on mean GloVe vectors (§3.4), or on
# TF-IDF vectors unless GLOVE_PATH names a GloVe file.

# %%
# Clusters C_k for Eq. 12: question embeddings (GloVe means, §3.4, or the TF-IDF fallback), K-means.
embeddings, embedding_source = schedule.embed_questions([question_of[i] for i in ids], glove_path=GLOVE_PATH)
labels = schedule.cluster_questions(embeddings, k=cfg.n_clusters, seed=cfg.seed)
clusters = dict(zip(ids, labels.tolist()))
print(f"embeddings: {embedding_source}; cluster sizes: {np.bincount(labels).tolist()}")

lib = schedule.build_schedule_from_config(cfg, difficulties, clusters,
                                          meta={"embeddings": embedding_source, "clusters": cfg.n_clusters,
                                                "method": cfg.method})
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

# %%
# NBVAL_CHECK_OUTPUT
shipped = schedule.Schedule.load(thread.thread_folder() / "schedule.json")
if GLOVE_PATH is None:  # the thread clustered on TF-IDF
    assert lib == shipped, "the notebook's schedule differs from data_samples/thread/schedule.json"
    print("from scratch == kpod_lite.schedule == data_samples/thread/schedule.json, stage by stage")


# %% [markdown]
# Every stage matches. Stage 0 buys little: the last steps alone hold about C_0 (section 7).
#
# ## 4. Ben's magazines, stage by stage (Eq. 14)
#
# At each epoch the student reads the question and the first c_i(t) steps and learns to write
# the rest, then the answer (Eq. 14). `Schedule.input_steps(e - 1)` gives epoch e's c_i
# (kpod-lite's reading, e -> t = e - 1), 0 after epoch T. Ben's row, and what the student
# reads and writes:

# %%
# NBVAL_CHECK_OUTPUT
named_q = thread.named("rationales.jsonl")
print("c_i(t) of Ben's magazines, stages t = 0..T:", [s.c[NAMED] for s in shipped.stages])
row = [shipped.input_steps(e - 1)[NAMED] for e in range(1, cfg.epochs + 1)]
print("input steps at epochs 1..N_e:             ", row)
for e in sorted({row.index(c) + 1 for c in row}):  # the first epoch of each c_i
    given, offset = split_at_step(named_q["rationale"], row[e - 1])
    print(f"\nepoch {e} (c_i = {row[e - 1]}):")
    print(f"  input : {templates.student_prompt(named_q['question'], given_steps=given)!r}")
    print(f"  target: {templates.format_rationale_target(named_q['rationale'][offset:], named_q['answer'])!r}")

# %% [markdown]
# The staircase: a few thread questions, one row per step, one column per epoch; grey steps
# are input, red ones are what the student writes. The red grows upwards stage by stage; after
# the dotted line (epoch T) every step is red, whatever stage T had left (Algorithm 1).

# %%
shown = [NAMED] + [i for i in ids[1:40] if len(steps[i]) == 3][:3]
fig = viz.staircase_figure(shipped, {i: len(steps[i]) for i in shown}, shown,
                           names={i: "Ben's magazines" if i == NAMED else i for i in shown})
plt.show()


# %% [markdown]
# ## 5. Whole schedules: the tiny preset and the paper's settings
#
# The tiny preset trains 8 epochs (T = 4); the paper's FlanT5 runs 100 (T = 50). Same
# questions, difficulties and clusters. The bars count the questions with 0, 1 or 2 input
# steps at each epoch (`Schedule.input_steps(e - 1)`):

# %%
# Eq. 9-13 over all stages, for both settings, with and without the diversity term of Eq. 12.
settings = {"tiny preset": cfg.epochs, "paper (App. A)": PAPER_EPOCHS}
runs = {}
for name, epochs in settings.items():
    for beta in (cfg.beta, 0.0):  # beta = 0 is KPOD-w.o.-div (§4.3, Table 2; section 6 below)
        runs[name, beta] = schedule.build_schedule(
            difficulties, clusters, epochs=epochs, p=cfg.p, c0_fraction=cfg.c0_fraction,
            delta_s=cfg.delta_s, beta=beta, eps=cfg.ftgp_eps,
            meta={"embeddings": embedding_source, "difficulty": "data_samples/thread/difficulty.jsonl"})

fig, axes = plt.subplots(1, 2, figsize=(11, 3.2), gridspec_kw={"width_ratios": [1, 3]})
colours = plt.cm.viridis(np.linspace(0.9, 0.1, 3))
for ax, (name, epochs) in zip(axes, settings.items()):
    sched = runs[name, cfg.beta]
    # kpod-lite's reading: epoch e (1-based) trains stage t = e - 1 (0-based), the index input_steps takes
    counts = np.array([np.bincount(list(sched.input_steps(e - 1).values()), minlength=3)
                       for e in range(1, epochs + 1)])
    bottom = np.zeros(epochs)
    for k in range(3):
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
# Left: D(t) against the difficulty reached, H(t) = Σ_i h_i(c_i(t)). Right: what each stage
# spends, ΔH(S(t)), against what it may spend, ΔD(t).

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
    final, last_trained = sched.stages[-1], sched.stages[sched.T - 1]
    used = [s.delta_H / s.delta_D for s in sched.stages if s.delta_D > 0]
    H_T = sum(schedule.step_difficulty_sum(difficulties[i], final.c[i]) for i in ids)
    print(f"{name:15} stages with ΔD <= 0: {sum(s.delta_D <= 0 for s in sched.stages):2d}; "
          f"median ΔH/ΔD of the others: {np.median(used):.2f}; H(T) = {H_T / B_data:.2f} B; "
          f"with input steps at T - 1, the last trained stage: {sum(x > 0 for x in last_trained.c.values())}")


# %% [markdown]
# What to read off:
#
# * **The start is slow:** the last steps alone hold about C_0 (section 2), so stage 0 buys little.
# * **Then the curve is tracked closely:** FTGP fills each ΔD(t) almost exactly.
# * **The jump after T.** Stage T completes every rationale here (H(T) = B), but with
#   kpod-lite's e -> t = e - 1 (section 7) no epoch trains it: epoch T trains stage T - 1,
#   and Algorithm 1 gives later epochs whole rationales. Questions still holding input steps
#   at stage T - 1 (printed) go whole at epoch T + 1, in one jump. Compare the two settings.

# %% [markdown]
# ## 6. What the diversity term does: β = 12 against β = 0 (KPOD-w.o.-div)
#
# Eq. 12 adds β Σ_k √|C_k ∩ S(t)|: a second question from a cluster is worth less than the
# first from another. Below, the clusters of each S(t) with and without it, and of the
# candidates (questions with input steps left).

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
mean_balance = {}  # (setting, β) -> (S(t), candidates)
for name in settings:
    for beta in (cfg.beta, 0.0):
        sel, pool = cluster_counts(runs[name, beta], "selected"), cluster_counts(runs[name, beta], "candidates")
        rows = [t for t in range(len(sel)) if sel[t].sum() > 0 and (pool[t] > 0).all()]
        mean_balance[name, beta] = (np.mean([balance(sel[t]) for t in rows]), np.mean([balance(pool[t]) for t in rows]))
        print(f"  {name:15} β = {beta:4}: S(t) {mean_balance[name, beta][0]:.2f}, "
              f"candidates {mean_balance[name, beta][1]:.2f}  ({len(rows)} stages, "
              f"mean |S(t)| {sel[rows].sum(axis=1).mean():.0f} of {pool[rows].sum(axis=1).mean():.0f} candidates)")
for name in settings:  # what the prose below reads off these lines
    assert mean_balance[name, cfg.beta][0] >= mean_balance[name, cfg.beta][1]
    assert mean_balance[name, 0.0][0] < mean_balance[name, 0.0][1]


# %% [markdown]
# With β = 12 each S(t) takes about as many questions from every cluster with candidates left:
# near-even stripes, and in the printed balances S(t) is at least as even as its candidates.
# With β = 0, F only fills the budget, and S(t) comes out *less* even than the candidates it
# is drawn from (compare the two numbers of each β = 0 line): filling the budget favours
# some clusters. The term balances *numbers* per cluster, so small clusters run out first.

# %% [markdown]
# ## 7. The choices the paper leaves open
#
# (`kpod_lite.schedule`'s docstring.) **Before stage 0**, c_i = n_i - 1 (§3.4: first "the
# final few reasoning steps"). **Stage 0** is an ordinary Eq. 11 step, ΔD(0) = C_0 - Σ_i
# h_i(start), nothing bought if negative (`stage0_selection=False` moves it to stage 1).
# **Δs**: one step by default, at most the steps a question has. **Epoch to stage**:
# Algorithm 1 gives an epoch e <= T the c_i(t) of Eq. 11 without saying which t; kpod-lite
# reads t = e - 1, so epochs 1..T train stages 0..T - 1 and stage T is never trained
# (section 5). With this data:

# %%
start = sum(d[-1] for d in d_list)  # Σ_i h_i (Eq. 9) with c_i = n_i - 1; ΔD(0) = C0 - start (Eq. 10-11)
C0_data = cfg.c0_fraction * B_data
print(f"Σ h_i at the start = {start / B_data:.2f} B  vs  C0 = {cfg.c0_fraction} B  ->  "
      f"ΔD(0) = {(C0_data - start) / B_data:+.2f} B")
for T_ in (cfg.stage_T, PAPER_EPOCHS // 2):
    first = next(t for t in range(T_ + 1)
                 if schedule.overall_difficulty(t, B_data, T_, cfg.p, C0_data) > start)
    print(f"T = {T_:2d}: D(t) first exceeds the starting difficulty at stage {first}")

print("\nquestions still holding input steps at stage T - 1 (the last trained), by Δs and T:")
for delta_s in (1, 2, 3):
    left = []
    for epochs in (cfg.epochs, PAPER_EPOCHS):
        s = schedule.build_schedule(difficulties, clusters, epochs=epochs, p=cfg.p, c0_fraction=cfg.c0_fraction,
                                    delta_s=delta_s, beta=cfg.beta, eps=cfg.ftgp_eps)
        left.append(sum(x > 0 for x in s.stages[s.T - 1].c.values()))
    print(f"  Δs = {delta_s}: T = {cfg.stage_T}: {left[0]:3d}   T = {PAPER_EPOCHS // 2}: {left[1]:3d}")

print("\n|S(t)| per stage of the tiny preset's schedule, by C0 and stage0_selection:")
for c0_fraction in (cfg.c0_fraction, 0.5):
    for stage0 in (True, False):
        s = schedule.build_schedule(difficulties, clusters, epochs=cfg.epochs, p=cfg.p, c0_fraction=c0_fraction,
                                    beta=cfg.beta, eps=cfg.ftgp_eps, stage0_selection=stage0)
        print(f"  C0 = {c0_fraction} B, stage0_selection={stage0!s:5}: {[len(st.selected) for st in s.stages]}")


# %% [markdown]
# Read these against the choices above: with ΔD(0) near 0, stage 0 moves few questions either
# way, while C_0 = 0.5 B buys hundreds at once; a larger Δs lets a question go from "last step
# only" to "whole rationale" in one stage. Finally, the record the pipeline writes
# (`kpod-lite schedule`): D, every stage's ΔD, ΔH, S(t) and c_i(t), parameters and sources.

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
# * D(t) = u t^{p+1}/(p+1) + C_0 (Eq. 10), u fixed by D(T) = B; App. A: p = 0.5, C_0 = 0.3 B,
#   T = half the epochs.
# * h_i = Σ_{j>c_i} d_j (Eq. 9); a stage's budget ΔD(t) is the room left under the curve and
#   can be negative; S(t) by FTGP; c_i(t) = c_i(t-1) - q_i(t) Δs (Eq. 11).
# * Input = question + first c_i steps, target = the rest (Eq. 14). Algorithm 1: epochs
#   e <= T take c_i(t) from Eq. 11, later epochs the whole rationale; kpod-lite reads epoch
#   e as stage t = e - 1, which the paper leaves open.
# * Step 1 is the hardest (no earlier step to lean on), so the last steps come first.
# * β = 12 spreads each S(t) over the clusters by count.

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** *Predict:* at App. A's values (p = 0.5, C_0 = 0.3 B, T = 50), is D(T/2) above
# or below the midpoint of a straight ramp from C_0 to B? *Run* `my_D`, also for p = 0.25 and
# p = 2. *Explain* from the shape of Eq. 10.
#
# **Exercise 2.** *Predict:* if Ben's magazines were scheduled with Δs = 2, at which epoch
# would its student first write the whole rationale? *Run:* build the tiny preset's schedule
# with `delta_s=2` and print Ben's row of input steps. *Explain* what Δs changed for Ben.
#
# **Exercise 3.** *Predict:* for the same budget ΔD(1), does β = 0 (KPOD-w.o.-div) select more
# or fewer questions than β = 12, and cheaper or dearer ones? *Run* both. *Explain* with the
# marginal gain G(x | S) = w_x + β(√(m+1) - √m) of notebook 05.

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
# Solution 2. Ben's rationale has two steps and starts with c_i = 1: with any Δs it gives up
# that one step when selected. What Δs changes is everyone else: three-step questions now give
# up two steps at once, at twice the cost, so the budgets buy a different mix and Ben's turn
# can come at another stage. Δs acts through the whole schedule, not through one question.
rows = {}
for delta_s in (cfg.delta_s, 2):
    s = schedule.build_schedule(difficulties, clusters, epochs=cfg.epochs, p=cfg.p, c0_fraction=cfg.c0_fraction,
                                delta_s=delta_s, beta=cfg.beta, eps=cfg.ftgp_eps)
    rows[delta_s] = [s.input_steps(e - 1)[NAMED] for e in range(1, cfg.epochs + 1)]
    whole = rows[delta_s].index(0) + 1
    print(f"Δs = {delta_s}: input steps at epochs 1..{cfg.epochs}: {rows[delta_s]}; whole rationale from epoch {whole}")
assert all(set(r) == {0, 1} and r == sorted(r, reverse=True) for r in rows.values())  # one jump, 1 -> 0

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

