# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/03_step_difficulty.ipynb)
#
# # 03. Step difficulty: how hard is each reasoning step for the student? (Eq. 8)
#
# KPOD teaches every rationale from its easy steps to its hard ones (§3.4), so it first asks
# the pre-trained student how hard each step is: the student's teacher-forced loss of the
# step's tokens, each weighted by its significance w_j from notebook 02:
#
# $$d_k = -\sum_{j=p_k}^{q_k} \hat w_j \log P(r_j \mid r_{<j}, x; \theta^s),\qquad
#   \hat w_j = \operatorname{softmax}(w_{p_k}, \dots, w_{q_k})_j \qquad\text{(Eq. 8)}$$
#
# **After this notebook you can** compute Eq. 8 from scratch for any rationale and student,
# say what its softmax does with sigmoid weights, say why the first step is the hardest for
# our student, and what fillers do to weighted and unweighted difficulty (KPOD-w.o.-sig-dif).
#
# **Paper:** §3.4 (Eq. 8), Table 2 (KPOD-w.o.-sig-dif), App. B (Algorithm 1).
# **Runs in** about a minute on 2 CPU cores (tiny preset).

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
# **The task and the student.** The course's thread (`data_samples/thread/`, the tiny preset's
# run): its template-teacher rationales, the token weights notebook 02 learned, and the tiny
# preset's own student, the causal tiny LLaMA, before distillation. We follow one question,
# "Ben's magazines".

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # the thread is the tiny preset's run
N_RATIONALES = 300  # thread rationales the measurements use (of 800; GSM8K has 7,473, App. A)
SHARP_TEMPERATURE = 0.1  # ours: softmax(w / τ); τ = 1 is Eq. 8 as written

# %%
# %matplotlib inline
import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from transformers.utils import logging as hf_logging

from kpod_lite import config, data, difficulty, synthetic, templates, thread
from kpod_lite.models import is_local_build, load_student

cfg = config.preset(PRESET)
if is_local_build(cfg.student):  # a progress widget per load of a local model would clutter the page
    hf_logging.disable_progress_bar()
model, tokenizer = load_student(cfg)  # θ^s, the pre-trained student, before any distillation
seq2seq = model.config.is_encoder_decoder  # the family comes from the model (kpod_lite.families)
rationales = thread.records("rationales.jsonl")[:N_RATIONALES]
weight_records = thread.records("weights.jsonl")[:N_RATIONALES]  # learned in notebook 02 (Eq. 2-7)
assert [r["id"] for r in rationales] == [w["id"] for w in weight_records]
named, named_w = thread.named("rationales.jsonl"), thread.named("weights.jsonl")
print(f"student {cfg.student} ({'seq2seq' if seq2seq else 'causal'}); {len(rationales)} thread rationales")
print(f"Q: {named['question']}\nr: {named['rationale']}")

# %% [markdown]
# ## 1. log P(r_j | r_<j, x; θ^s), from scratch
#
# Teacher forcing: the student generates nothing. A causal student reads the §3.1 prompt
# x = "Q: <question>\nA: Let's think step by step." and the rationale r as one sequence; the
# output at position t predicts token t + 1, so only the rationale's positions are scored.
# (A seq2seq student would read x in its encoder and r as decoder labels.) The rationale is
# tokenised alone: these are the tokens notebook 02 weighted, one to one.

# %%
def my_token_logprobs(question, rationale):
    prompt = tokenizer(templates.build_prompt(question))["input_ids"]  # x, as the student reads it
    r = tokenizer(rationale, add_special_tokens=False)["input_ids"]  # r_1 ... r_n
    with torch.no_grad():
        if seq2seq:
            logits = model(input_ids=torch.tensor([prompt]), labels=torch.tensor([r])).logits[0]
        else:
            logits = model(input_ids=torch.tensor([prompt + r])).logits[0, len(prompt) - 1:-1]
    return logits.float().log_softmax(-1)[torch.arange(len(r)), torch.tensor(r)]


text = named["rationale"]
mine = my_token_logprobs(named["question"], text)
ids, offsets = templates.rationale_tokens(tokenizer, text)
pieces = [text[start:end] for start, end in offsets]
assert tokenizer.convert_ids_to_tokens(ids) == named_w["tokens"]  # the weighted tokens, one to one
print(" ".join(f"{piece!r}:{-lp:.1f}" for piece, lp in zip(pieces[:16], mine[:16].tolist())), "...")

# %%
# NBVAL_CHECK_OUTPUT
(library,) = difficulty.token_logprobs(model, tokenizer, [named["question"]], [text])
assert torch.allclose(mine, library, atol=1e-4)
print(f"{len(ids)} rationale tokens, all log-probabilities finite and <= 0:",
      bool(torch.isfinite(library).all() and (library <= 0).all()))

# %% [markdown]
# ## 2. Tokens to steps, and Eq. 8 from scratch
#
# §3.4 cuts the rationale into steps at "." (`data.split_steps`). A token belongs to **the step
# of the first non-space character at or after its start**, so " Lastly" opens the step that
# "Lastly" opens; each step's tokens are then the positions p_k..q_k of Eq. 8. The weights
# w_j are the thread's learned ones. The d_k below must equal the thread's
# `difficulty.jsonl`, which the pipeline wrote for this question.

# %%
weights = named_w["weights"]
steps = data.split_steps(text)


def my_token_step(start):
    while start < len(text) and text[start].isspace():  # the first non-space character ...
        start += 1
    return next((k for k, step in enumerate(steps) if start < step.end), len(steps) - 1)  # ... its step


token_step = torch.tensor([my_token_step(start) for start, _ in offsets])
assert token_step.tolist() == difficulty.token_steps(offsets, text)


def my_step_difficulty(logprobs, weights, k, temperature=1.0):
    in_step = token_step == k
    w_hat = torch.softmax(torch.tensor(weights)[in_step] / temperature, dim=0)  # softmax within step k
    return float(-(w_hat * logprobs[in_step]).sum())  # Eq. 8


named_d = [my_step_difficulty(library, weights, k) for k in range(len(steps))]
for k, step in enumerate(steps):
    print(f"d_{k + 1} = {named_d[k]:.3f}  ({int((token_step == k).sum())} tokens) {step.text}")

# %%
# NBVAL_CHECK_OUTPUT
shipped = thread.named("difficulty.jsonl")["difficulty"]  # what the pipeline wrote (Eq. 8)
assert np.allclose(named_d, shipped, atol=1e-4)
assert np.allclose(named_d, difficulty.step_difficulties(library, weights, offsets, text))
# KPOD-w.o.-sig-dif is Eq. 8 with equal w_j: softmax(constant) is uniform, the step's mean loss.
uniform = difficulty.step_difficulties(library, None, offsets, text, weighted=False)
assert np.allclose(uniform, [float(-library[token_step == k].mean()) for k in range(len(steps))])
print("Eq. 8 from scratch == data_samples/thread/difficulty.jsonl == kpod_lite.difficulty:",
      [round(d, 3) for d in shipped])

# %% [markdown]
# ### What the softmax does with sigmoid weights
#
# w_j comes out of a sigmoid (Eq. 3), so it lies in (0, 1) and exp(w_j) in (1, e): within a
# step a keypoint (w ≈ 1) counts **at most e times** (Euler's number) a filler (w ≈ 0). Eq. 8 as
# written damps the other words; it does not remove them. `kpod_lite.difficulty` keeps Eq. 8
# by default and offers a temperature, softmax(w / τ) (ours, `config.difficulty_temperature`).
# Below, each token of Ben's rationale: its loss, and its share ŵ_j of its step.

# %%
def within_step_weights(weights, temperature=1.0):
    w = torch.tensor(weights)
    return torch.cat([torch.softmax(w[token_step == k] / temperature, 0) for k in range(len(steps))])


rows = [-library.numpy(), within_step_weights(weights).numpy(), within_step_weights(weights, SHARP_TEMPERATURE).numpy()]
names = ["-log P(r_j | r_<j, x)", "ŵ_j (Eq. 8, τ = 1)", f"ŵ_j (τ = {SHARP_TEMPERATURE})"]
fig, axes = plt.subplots(3, 1, figsize=(15, 4.2), sharex=True, layout="constrained")
images = []
for ax, row, name in zip(axes, rows, names):
    scale = {"cmap": "magma", "vmin": 0} if ax is axes[0] else {"cmap": "Blues", "vmin": 0, "vmax": rows[2].max()}
    images.append(ax.imshow(row[None, :], aspect="auto", **scale))
    ax.set_yticks([0], [name])
    for boundary in np.flatnonzero(np.diff(token_step.numpy())) + 0.5:
        ax.axvline(boundary, color="red", linestyle="--", linewidth=1)
axes[-1].set_xticks(range(len(pieces)), [p.strip() or "␣" for p in pieces], rotation=90, fontsize=7)
axes[-1].set_xlabel("rationale token j of Ben's magazines (red dashes: step boundaries)")
fig.colorbar(images[0], ax=axes[0], pad=0.01, aspect=6, label="nats")
fig.colorbar(images[1], ax=axes[1:], pad=0.01, aspect=12, label="ŵ_j, share of its step")
fig.suptitle("one rationale, token by token: the student's loss and the within-step weights")
plt.show()

# %% [markdown]
# Look for the tokens that are dark in the top row and pale in the middle one: expensive, yet
# weighted almost like the rest at τ = 1. At τ = 0.1 the weight gathers on the keypoints.

# %% [markdown]
# ## 3. Every rationale
#
# One batched pass scores the thread's rationales; Eq. 8 then costs nothing per variant. The
# τ = 1 column must be the shipped `difficulty.jsonl` for every rationale.

# %%
all_logprobs = difficulty.token_logprobs(model, tokenizer, [r["question"] for r in rationales],
                                         [r["rationale"] for r in rationales], batch_size=64)  # speed only
variants = {"unweighted (KPOD-w.o.-sig-dif)": {"weighted": False}, "Eq. 8, τ = 1": {},
            f"Eq. 8, τ = {SHARP_TEMPERATURE}": {"temperature": SHARP_TEMPERATURE}}
scored = {name: [difficulty.step_difficulties(lp, w["weights"], w["offsets"], r["rationale"], **kwargs)
                 for r, w, lp in zip(rationales, weight_records, all_logprobs)]
          for name, kwargs in variants.items()}
shipped_all = {r["id"]: r["difficulty"] for r in thread.records("difficulty.jsonl")}
assert all(np.allclose(d, shipped_all[r["id"]], atol=1e-4) for r, d in zip(rationales, scored["Eq. 8, τ = 1"]))

width = max(len(d) for d in scored["Eq. 8, τ = 1"])
fig, axes = plt.subplots(1, 3, figsize=(12, 4.5), sharey=True, layout="constrained")
shown = np.concatenate([np.concatenate(ds[:20]) for ds in scored.values()])
for ax, (name, ds) in zip(axes, scored.items()):
    grid = np.full((20, width), np.nan)
    for i, d in enumerate(ds[:20]):
        grid[i, :len(d)] = d
    image = ax.imshow(grid, cmap="magma", aspect="auto", vmin=shown.min(), vmax=shown.max())
    ax.set_title(name, fontsize=10)
    ax.set_xticks(range(width), range(1, width + 1))
    ax.set_xlabel("step k")
axes[0].set_ylabel("thread rationale (first 20; row 0: Ben's magazines)")
fig.colorbar(image, ax=axes, fraction=0.03, label="d_k, nats per token")
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
hardest = {name: np.bincount([int(np.argmax(d)) for d in ds], minlength=width) for name, ds in scored.items()}
for name, counts in hardest.items():
    print(f"{name:31} the hardest step is step 1..{width} in {counts.tolist()} rationales")
assert min(hardest[name][0] for name in list(variants)[:2]) > 0.95 * len(rationales)

# %% [markdown]
# ## 4. Why step 1 is the hardest
#
# Unweighted and at τ = 1, step 1 is the hardest step in every rationale scored (the first
# two lines above: no other step is ever the hardest). Is it the arithmetic? The token losses
# by where a token sits: the rationale's opening two tokens, a token that **repeats** one
# already written earlier in the rationale, or a **new** one; then how often step 1 stays the
# hardest when the opening tokens, or everything but keypoints, are left out.

# %%
# NBVAL_CHECK_OUTPUT
def token_kinds(record, w):
    """keypoint, filler or plain per weighted token: the label of its first non-space character."""
    labels = [label for start, end, label in record["spans"] for _ in range(start, end)]
    text_ = record["rationale"]
    kinds = [labels[s + len(text_[s:e]) - len(text_[s:e].lstrip())] if text_[s:e].strip() else "plain"
             for s, e in w["offsets"]]
    return ["keypoint" if kind in synthetic.KEYPOINT_LABELS else kind for kind in kinds]


losses = {}  # (step 1 or later, kind) -> token losses
first_hardest = {"every token": 0, "every token but the opening two": 0, "keypoint tokens only": 0}
for record, w, lp in zip(rationales, weight_records, all_logprobs):
    token_ids, offs = templates.rationale_tokens(tokenizer, record["rationale"])
    owner = np.array(difficulty.token_steps(offs, record["rationale"]))
    keypoint = np.array(token_kinds(record, w)) == "keypoint"
    nll, seen = -lp.numpy(), set()
    for j, token in enumerate(token_ids):
        kind = "opening two" if j < 2 else "repeat" if token in seen else "new"
        losses.setdefault(("step 1" if owner[j] == 0 else "later steps", kind), []).append(nll[j])
        seen.add(token)
    for variant, keep in [("every token", nll >= 0), ("every token but the opening two", np.arange(len(nll)) >= 2),
                          ("keypoint tokens only", keypoint)]:
        d = [nll[(owner == k) & keep].mean() for k in range(owner.max() + 1)]
        first_hardest[variant] += int(np.argmax(d) == 0)
print(f"{'':12} {'opening two':>16} {'repeat':>16} {'new':>16}   (mean -log P, nats; token count)")
for where in ("step 1", "later steps"):
    print(f"{where:12}", " ".join(f"{np.mean(losses[where, k]):7.2f} ({len(losses[where, k]):5d})"
                                  if (where, k) in losses else f"{'-':>16}" for k in ("opening two", "repeat", "new")))
for variant, count in first_hardest.items():
    print(f"d_k = mean loss of {variant + ':':33} step 1 is the hardest in {count} of {len(rationales)}")
chance = sum(1 / len(d) for d in scored["Eq. 8, τ = 1"])
print(f"{'(a step drawn at random:':52} step 1 in {chance:.0f} of {len(rationales)})")
mean = {key: np.mean(values) for key, values in losses.items()}
assert all(mean[where, "repeat"] < mean[where, "new"] for where in ("step 1", "later steps"))
share_new = {where: len(losses[where, "new"]) / (len(losses[where, "new"]) + len(losses[where, "repeat"]))
             for where in ("step 1", "later steps")}
assert share_new["step 1"] > 0.5 > share_new["later steps"]
assert mean["step 1", "opening two"] > mean["step 1", "new"]
assert first_hardest["every token but the opening two"] > 0.9 * len(rationales)
assert first_hardest["keypoint tokens only"] > 1.5 * chance

# %% [markdown]
# **Reading it.** A token the rationale has already written (a number step 1 computed, "the
# number of magazines") is cheap in any step; a new one is expensive. Step 1 is written with
# nothing of the rationale before it, so most of its tokens are new; later steps mostly repeat
# what step 1 wrote. So step 1 is the hardest because it has no earlier step to lean on. The
# opening two tokens ("First", ",") cost most of all, but step 1 stays the hardest without
# them, and on keypoints alone more often than chance. Eq. 8 at τ = 1 cannot discount the new
# words: they are within a factor e of a keypoint.

# %% [markdown]
# ## 5. Do fillers change a step's difficulty?
#
# Eq. 8's weights are there so that filler words ("just", "Okay,") do not decide how hard a
# step looks (§3.4). The thread's rationales have planted fillers, labelled. Each rationale's
# **twin** is the same text with the fillers deleted; every remaining token keeps its learned
# weight. Same reasoning, same steps.

# %%
def drop_fillers(text, labels):
    """The rationale without its planted fillers (and the space after each); the kept positions."""
    keep = [label != "filler" for label in labels]
    for position in range(len(text) - 1):
        if labels[position] == "filler" and labels[position + 1] != "filler":
            keep[position + 1] = False  # the space after the phrase
    kept = [position for position, k in enumerate(keep) if k]
    # An opener filler ("Okay, first, ...") took the sentence's capital letter with it.
    clean = re.sub(r"(^|\. )([a-z])", lambda m: m.group(1) + m.group(2).upper(), "".join(text[p] for p in kept))
    return clean, kept


twins = []  # (record, its weights, its log-probs, the twin, the twin's offsets and weights)
for record, w, lp in zip(rationales, weight_records, all_logprobs):
    labels = [label for start, end, label in record["spans"] for _ in range(start, end)]
    if "filler" not in labels:
        continue
    clean, kept = drop_fillers(record["rationale"], labels)
    token_of = np.zeros(len(labels), dtype=int)  # the original token holding each character
    for j, (start, end) in enumerate(w["offsets"]):
        token_of[start:end] = j
    _, clean_offsets = templates.rationale_tokens(tokenizer, clean)
    # A token's first non-space character says which original token it is (a lone space: itself).
    starts = [start + len(clean[start:end]) - len(clean[start:end].lstrip()) if clean[start:end].strip() else start
              for start, end in clean_offsets]
    twins.append((record, w, lp, clean, clean_offsets, [w["weights"][token_of[kept[s]]] for s in starts]))
assert all(len(data.split_steps(r["rationale"])) == len(data.split_steps(c)) for r, _, _, c, _, _ in twins)
print(f"{len(twins)} rationales with fillers; Ben's magazines and its twin:\n  {twins[0][0]['rationale']}\n  {twins[0][3]}")

# %%
clean_logprobs = difficulty.token_logprobs(model, tokenizer, [r["question"] for r, *_ in twins],
                                           [t[3] for t in twins], batch_size=64)
moves = {}
for name, kwargs in variants.items():
    noisy = np.concatenate([difficulty.step_difficulties(lp, w["weights"], w["offsets"], r["rationale"], **kwargs)
                            for r, w, lp, *_ in twins])
    clean = np.concatenate([difficulty.step_difficulties(lp, cw, co, c, **kwargs)
                            for (_, _, _, c, co, cw), lp in zip(twins, clean_logprobs)])
    moves[name] = (noisy, clean)
    correlation = np.corrcoef(np.argsort(np.argsort(noisy)), np.argsort(np.argsort(clean)))[0, 1]
    print(f"{name:31} mean d_k {clean.mean():.3f} without fillers, {noisy.mean():.3f} with; "
          f"steps made harder: {(noisy > clean).mean():.0%}; rank correlation {correlation:.2f}")
# The number tokens themselves, with and without fillers before them:
keypoint_loss = {"with": [], "without": []}
for (r, w, lp, c, co, cw), clean_lp in zip(twins, clean_logprobs):
    for key, t, offs, scores in (("with", r["rationale"], w["offsets"], lp), ("without", c, co, clean_lp)):
        numbers = [j for j, (s, e) in enumerate(offs) if re.fullmatch(r"\s*\d+", t[s:e])]
        keypoint_loss[key] += (-scores[numbers]).tolist()
print(f"mean loss of the number tokens: {np.mean(keypoint_loss['without']):.3f} without fillers, "
      f"{np.mean(keypoint_loss['with']):.3f} with")

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharex=True, sharey=True)
everything = np.concatenate([np.concatenate(pair) for pair in moves.values()])
for ax, (name, (noisy, clean)) in zip(axes, moves.items()):
    ax.scatter(clean, noisy, s=8, alpha=0.5)
    ax.plot([everything.min(), everything.max()], [everything.min(), everything.max()], color="grey", linewidth=1)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("d_k without fillers")
axes[0].set_ylabel("d_k of the same step with fillers")
fig.suptitle("each point is one step: above the diagonal, fillers made it look harder")
fig.tight_layout()
plt.show()

# %%
# NBVAL_CHECK_OUTPUT
shift = {name: float(noisy.mean() - clean.mean()) for name, (noisy, clean) in moves.items()}
assert all(value < 0 for value in shift.values())  # fillers make the average step look easier ...
sharp = f"Eq. 8, τ = {SHARP_TEMPERATURE}"
assert abs(shift[sharp]) < abs(shift["unweighted (KPOD-w.o.-sig-dif)"])  # ... least at τ = 0.1
assert abs(shift["Eq. 8, τ = 1"] - shift["unweighted (KPOD-w.o.-sig-dif)"]) < abs(shift["unweighted (KPOD-w.o.-sig-dif)"]) / 2
assert abs(np.mean(keypoint_loss["with"]) - np.mean(keypoint_loss["without"])) < 0.05  # numbers: unmoved
mean_w = {kind: np.mean([x for r, w in zip(rationales, weight_records) for x, k in zip(w["weights"], token_kinds(r, w))
                         if k == kind]) for kind in ("keypoint", "filler", "plain")}
print("fillers move the mean d_k by", {name: f"{value:+.3f}" for name, value in shift.items()})
print("mean learned weight w_j:", {kind: round(float(value), 3) for kind, value in mean_w.items()})

# %% [markdown]
# **Reading it.** In every variant fillers make a step look **easier**: they are cheap words
# that pull the step's average loss down, while the numbers' own loss hardly moves. Eq. 8 at
# τ = 1 removes about none of it here. The learned weights (last line) lift the keypoints but
# give fillers about what they give the plain words, and a keypoint counts at most e times
# either. Only the sharp softmax, which makes d_k nearly the keypoints' loss, shrinks the
# effect. Look at the rank correlations too: fillers reorder steps about equally in all three.

# %% [markdown]
# ## 6. The pipeline step
#
# `kpod-lite difficulty` runs `difficulty.difficulty_file`: rationales and weights in, matched
# by (id, sample) with their tokens checked, one record per rationale out. A weight record
# made with another tokenizer fails loudly, naming the file, line and first differing token.

# %%
# NBVAL_CHECK_OUTPUT
run_dir = Path(tempfile.mkdtemp(prefix="kpod-difficulty-"))
data.write_jsonl(run_dir / "rationales.jsonl", rationales[:20])
data.write_jsonl(run_dir / "weights.jsonl", weight_records[:20])
summary = difficulty.difficulty_file(run_dir / "rationales.jsonl", run_dir / "weights.jsonl",
                                     run_dir / "difficulty.jsonl", cfg, model=model, tokenizer=tokenizer)
written = [record for _, record in data.read_jsonl(run_dir / "difficulty.jsonl")]
assert written == thread.records("difficulty.jsonl")[:20]  # the shipped file, record for record
print({key: summary[key] for key in ("rationales", "steps", "weighted", "temperature")})
bad = [dict(w) for w in weight_records[:20]]
bad[2] = {**bad[2], "tokens": ["Ġoops"] + bad[2]["tokens"][1:]}
data.write_jsonl(run_dir / "bad_weights.jsonl", bad)
try:
    difficulty.difficulty_file(run_dir / "rationales.jsonl", run_dir / "bad_weights.jsonl", run_dir / "x.jsonl",
                               cfg, model=model, tokenizer=tokenizer)
except data.DataFormatError as error:
    print(str(error).replace(str(run_dir), "<run>")[:130], "...")

# %% [markdown]
# ## Recap
#
# * Eq. 8 scores step k with the pre-trained student's teacher-forced token losses, averaged
#   with ŵ = softmax(w) *within the step*; a token belongs to the step of its first non-space
#   character. The unweighted ablation (KPOD-w.o.-sig-dif) is the step's mean token loss.
# * With sigmoid weights, a keypoint counts at most e times another token: Eq. 8 damps the
#   other words, it does not remove them. τ < 1 sharpens it (ours).
# * Step 1 is the hardest for our student because it has no earlier step to lean on: its
#   tokens are new, later steps repeat them, and repeats are cheap.
# * Fillers make a step look easier (cheap words in the average), with or without Eq. 8's
#   weights at τ = 1: the learned weights treat fillers like plain words. τ = 0.1 shrinks it.

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** *Predict:* within one step of Ben's magazines, how many times can the
# largest ŵ_j exceed the smallest, at τ = 1 and at τ = 0.1? *Run:* compute it per step.
# *Explain* the numbers from the range of w_j.
#
# **Exercise 2.** *Predict:* which token of Ben's step 1 contributes most to d_1 (ŵ_j times
# its loss): a number, or a word? *Run* it for τ = 1 and τ = 0.1. *Explain* with section 4.
#
# **Exercise 3.** *Predict:* at τ = 0.1, will step 1 still be the hardest step as often as at
# τ = 1? *Run:* count it, and how many rationales change their hardest step. *Explain* what
# the schedule of notebook 04, which orders steps by d_k, would then see differently.

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. w_j lies in (0, 1), so the ratio exp((w_max - w_min) / τ) stays below e^(1/τ):
# about e at τ = 1, however sure the weighting module is; e^10 at τ = 0.1.
for t in (1.0, SHARP_TEMPERATURE):
    w_hat = within_step_weights(weights, t)
    ratios = [float(w_hat[token_step == k].max() / w_hat[token_step == k].min()) for k in range(len(steps))]
    spread = [np.ptp(np.array(weights)[token_step.numpy() == k]) for k in range(len(steps))]
    print(f"τ = {t}: largest ŵ ratio per step {[round(r, 2) for r in ratios]}, bound e^(1/τ) = {np.exp(1 / t):.4g}")
    assert all(r < np.exp(1 / t) for r in ratios)
    assert np.allclose(ratios, np.exp(np.array(spread) / t), rtol=1e-4)

# %% jupyter={"source_hidden": true}
# Solution 2. At τ = 1 the opening word wins: its loss is several times a number's and its ŵ is
# within a factor e of it. At τ = 0.1 the weight sits on the keypoints, so a number (or "=") wins.
top = {}
for t in (1.0, SHARP_TEMPERATURE):
    in_step = token_step == 0
    contribution = within_step_weights(weights, t)[in_step] * -library[in_step]
    j = int(torch.argmax(contribution))
    top[t] = pieces[j].strip()
    print(f"τ = {t}: the largest share of d_1 = {float(contribution.sum()):.2f} is {top[t]!r}, "
          f"{float(contribution[j]):.2f} nats (weight w = {weights[j]:.3f})")
assert not top[1.0].isdigit() and (top[SHARP_TEMPERATURE].isdigit() or top[SHARP_TEMPERATURE] in "=+-")

# %% jupyter={"source_hidden": true}
# Solution 3. Sharpening makes d_k the keypoints' loss: step 1 stays the hardest less often, so
# the schedule, which takes the easiest (last) steps away last, would order some rationales differently.
sharp = f"Eq. 8, τ = {SHARP_TEMPERATURE}"
changed = sum(int(np.argmax(a)) != int(np.argmax(b)) for a, b in zip(scored["Eq. 8, τ = 1"], scored[sharp]))
print(f"step 1 hardest: τ = 1 in {hardest['Eq. 8, τ = 1'][0]}, τ = {SHARP_TEMPERATURE} in {hardest[sharp][0]} "
      f"of {len(rationales)}; the hardest step changes in {changed}")
assert hardest[sharp][0] < hardest["Eq. 8, τ = 1"][0] and changed > 0
