# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/03_step_difficulty.ipynb)
#
# # 03. Step difficulty: how hard is each reasoning step for the student? (Eq. 8)
#
# KPOD teaches every rationale from its easy steps to its hard ones (§3.4), so it needs a
# difficulty for each step *before* distillation starts. It asks the student itself: feed the
# pre-trained student the question and the teacher's rationale (teacher forcing), read off the
# log-probability of every rationale token, and average the losses of a step's tokens, with
# each token weighted by its significance from the token weighting module (§3.3, notebook 02):
#
# $$d_k = -\sum_{j=p_k}^{q_k} \hat w_j \log P(r_j \mid r_{<j}, x; \theta^s),\qquad
#   \hat w_j = \operatorname{softmax}(w_{p_k}, \dots, w_{q_k})_j \qquad\text{(Eq. 8)}$$
#
# Filler words ("just", "simply", "Okay,") should not decide how hard a step is; the weights
# are there to make the difficulty about the keypoints. In this notebook you compute the
# teacher-forced log-probabilities, map tokens to steps and apply Eq. 8 from scratch, check
# each against `kpod_lite.difficulty`, look at the difficulties as heat maps, and measure how
# much planted fillers move the weighted and the unweighted difficulty.
#
# **After this notebook you can** score the steps of any rationale file with any student
# (seq2seq or causal), explain what the softmax in Eq. 8 does and does not do with sigmoid
# weights, and say what the ablation KPOD-w.o.-sig-dif (Table 2) changes.
#
# **Paper:** §3.4 (step difficulty assessment, Eq. 8), Table 2 (KPOD-w.o.-sig-dif), App. B.
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
# This notebook scores rationales of the shipped synthetic split (`data_samples/synthetic/`: 2-4
# steps of + - × ÷, every keypoint kind labelled), the split notebooks 00-05 share, with the
# pre-trained tiny T5: the labels let us check what Eq. 8 does with fillers, and the
# seq2seq student is the paper's FlanT5 in small (the tiny preset itself distils the tiny LLaMA).

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # tiny | flan-t5-large | flan-t5-xl | llama-7b
N_QUESTIONS = 40  # synthetic training questions to score (GSM8K has 7,473, App. A Table 4)
FILLER_RATE = 0.8  # filler slots filled in the filler experiment (the shipped data: 0.3)
SHARP_TEMPERATURE = 0.1  # ours: softmax(w / τ); τ = 1 is Eq. 8 as written
WEIGHTS_FILE = None  # a weights.jsonl from notebook 02 or `kpod-lite weigh`; None: oracle weights

# %%
# %matplotlib inline
import random
import re
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from transformers.utils import logging as hf_logging

from kpod_lite import config, data, difficulty, synthetic, teacher, templates
from kpod_lite.models import is_local_build, load_student

cfg = config.preset(PRESET)
if is_local_build(cfg.student):  # a progress widget per load of a local model would clutter the page;
    hf_logging.disable_progress_bar()  # a GPU preset keeps the bars: its first load is a download
if PRESET == "tiny":
    # This notebook's figures and remarks are for the seq2seq tiny T5; the tiny preset itself
    # distils the causal tiny LLaMA (docs/RESULTS.md, "Calibration"). Exercise 3 compares them.
    cfg = cfg.replace(student="tiny-t5")
model, tokenizer = load_student(cfg)  # the pre-trained student θ^s, before any distillation
seq2seq = model.config.is_encoder_decoder  # the family comes from the model (kpod_lite.families)
print(f"student {cfg.student} ({'seq2seq' if seq2seq else 'causal'}), on {model.device}; "
      f"weighted difficulty: {cfg.switches.weighted_difficulty}")

# %% [markdown]
# The rationales come from the template teacher of notebook 01: synthetic problems, written
# out the way an LLM answers "Let's think step by step", with planted filler words and a label
# for every character (keypoint, filler or plain).

# %%
run_dir = Path(tempfile.mkdtemp(prefix="kpod-difficulty-"))
questions = data.load_examples(Path("..") / "data_samples" / "synthetic" / "train.jsonl", "kpod")[:N_QUESTIONS]
report = teacher.teach(questions, teacher.make_backend("template"), out=run_dir / "rationales.jsonl",
                       seed=cfg.seed, progress=False)
rationales = [record for _, record in data.read_jsonl(report.out)]
example = rationales[0]
print(f"{len(rationales)} rationales; the first one:\nQ: {example['question']}\nr: {example['rationale']}")

# %% [markdown]
# ## 1. log P(r_j | r_<j, x; θ^s), from scratch
#
# Teacher forcing: the student never generates anything here. It reads the question x as it
# will during distillation (the §3.1 prompt "Q: <x>\nA: Let's think step by step.") and the
# teacher's rationale r, and at every rationale position gives a distribution over the next
# token; we keep the probability of the token the teacher actually wrote.
#
# * A **seq2seq** student (T5) reads x in its encoder; r goes in as the decoder's labels, and
#   the decoder's output at position j predicts r_j.
# * A **causal** student (LLaMA) reads x and r as one sequence; the output at position t
#   predicts token t + 1, so the rationale's first token is predicted from the prompt's last
#   position, and the prompt's own tokens are not scored.
#
# The rationale is tokenised alone, without special tokens: these are the very tokens the
# token weighting module gave weights to, so the two line up one to one.

# %%
def my_token_logprobs(question, rationale):
    prompt = tokenizer(templates.build_prompt(question))["input_ids"]  # x, as the student reads it
    r = tokenizer(rationale, add_special_tokens=False)["input_ids"]  # r_1 ... r_n
    with torch.no_grad():
        if seq2seq:
            logits = model(input_ids=torch.tensor([prompt], device=model.device),
                           labels=torch.tensor([r], device=model.device)).logits[0]
        else:
            logits = model(input_ids=torch.tensor([prompt + r], device=model.device)).logits[0, len(prompt) - 1:-1]
    return logits.float().log_softmax(-1)[torch.arange(len(r)), torch.tensor(r)].cpu()


mine = my_token_logprobs(example["question"], example["rationale"])
ids, offsets = templates.rationale_tokens(tokenizer, example["rationale"])
pieces = [example["rationale"][start:end] for start, end in offsets]
print(" ".join(f"{piece!r}:{-lp:.1f}" for piece, lp in zip(pieces[:16], mine[:16].tolist())), "...")

# %%
# NBVAL_CHECK_OUTPUT
(library,) = difficulty.token_logprobs(model, tokenizer, [example["question"]], [example["rationale"]])
assert torch.allclose(mine, library, atol=1e-4)
print(f"{len(ids)} rationale tokens, all log-probabilities finite and <= 0:",
      bool(torch.isfinite(library).all() and (library <= 0).all()))

# %% [markdown]
# ## 2. Tokens to steps, and Eq. 8 from scratch
#
# §3.4 cuts the rationale into steps at "." (`data.split_steps` keeps each step's character
# offsets). A token belongs to **the step containing the first non-space character at or after
# its start**: " Lastly" belongs to the step that "Lastly" opens, and a token that is only
# whitespace joins the step that follows it. Every token then belongs to exactly one step, and
# each step's tokens are the consecutive positions p_k..q_k of Eq. 8.
#
# The weights w_j. Notebook 02 learns them by mask learning (§3.3). Here, to keep this notebook
# self-contained and to know the right answer, we use **oracle weights** read off the
# synthetic labels: 0.95 for keypoint tokens (numbers, operators, "=", results, quantity
# words), 0.05 for planted fillers, 0.5 for everything else. They stand in for what a good
# weighting module would produce; set `WEIGHTS_FILE` above to score with learned ones (§5).

# %%
ORACLE = {"filler": 0.05, "plain": 0.5}  # every keypoint label: 0.95


def token_labels(text, labels_per_char, offsets):
    """The label of each token's first non-space character (the same rule as for steps)."""
    out = []
    for start, _ in offsets:
        while start < len(text) - 1 and text[start].isspace():
            start += 1
        out.append(labels_per_char[start])
    return out


def oracle_weights(text, labels_per_char, offsets):
    return [ORACLE.get(label, 0.95) for label in token_labels(text, labels_per_char, offsets)]


def char_labels(spans):
    return [label for start, end, label in spans for _ in range(start, end)]


text = example["rationale"]
weights = oracle_weights(text, char_labels(example["spans"]), offsets)
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


mine_d = [my_step_difficulty(library, weights, k) for k in range(len(steps))]
for k, step in enumerate(steps):
    print(f"d_{k + 1} = {mine_d[k]:.3f}  ({int((token_step == k).sum())} tokens) {step.text}")

# %%
# NBVAL_CHECK_OUTPUT
assert np.allclose(mine_d, difficulty.step_difficulties(library, weights, offsets, text))
# The unweighted variant (KPOD-w.o.-sig-dif) is Eq. 8 with all w_j equal: softmax(constant) is
# uniform, so d_k becomes the step's mean token loss.
uniform = difficulty.step_difficulties(library, None, offsets, text, weighted=False)
assert np.allclose(uniform, [my_step_difficulty(library, [0.5] * len(ids), k) for k in range(len(steps))])
assert np.allclose(uniform, [float(-library[token_step == k].mean()) for k in range(len(steps))])
print("Eq. 8 from scratch == kpod_lite.difficulty.step_difficulties; unweighted == mean NLL per step")

# %% [markdown]
# ### What the softmax does with sigmoid weights
#
# Read Eq. 8 closely: w_j comes out of a sigmoid (Eq. 3), so it lies in (0, 1), and the
# softmax maps it to exp(w_j) ∈ (1, e) before normalising. Within a step, a keypoint token
# (w ≈ 1) therefore counts **at most e ≈ 2.7 times** as much as a filler (w ≈ 0). Eq. 8 as
# written damps fillers; it does not remove them. `kpod_lite.difficulty` keeps Eq. 8 exactly
# by default and offers a temperature, softmax(w / τ), as a knob of ours
# (`config.difficulty_temperature`); with τ = 0.1 a keypoint counts e^9 ≈ 8,000 times
# a filler. A toy step makes this concrete: the filler's loss rises from 1 to 9 nats.

# %%
# NBVAL_CHECK_OUTPUT
toy_text, toy_offsets = "Add just 3.", [(0, 3), (3, 8), (8, 10), (10, 11)]  # "Add", " just", " 3", "."
toy_w = [0.95, 0.05, 0.95, 0.5]
easy, hard = [-2.0, -1.0, -3.0, -0.5], [-2.0, -9.0, -3.0, -0.5]
for label, kwargs in [("unweighted (mean NLL)", {"weighted": False}), ("Eq. 8, τ = 1", {}),
                      (f"Eq. 8, τ = {SHARP_TEMPERATURE}", {"temperature": SHARP_TEMPERATURE})]:
    (before,) = difficulty.step_difficulties(easy, toy_w, toy_offsets, toy_text, **kwargs)
    (after,) = difficulty.step_difficulties(hard, toy_w, toy_offsets, toy_text, **kwargs)
    print(f"{label:22} d: {before:.3f} -> {after:.3f}  (moves {after - before:+.3f})")

# %% [markdown]
# ## 3. Heat maps
#
# First one rationale, token by token: the student's loss of each token, and the normalised
# weight ŵ_j that Eq. 8 gives it within its step (dashed lines separate the steps). Then the
# step difficulties of many rationales, unweighted and weighted.

# %%
def within_step_weights(weights, temperature=1.0):
    w = torch.tensor(weights)
    return torch.cat([torch.softmax(w[token_step == k] / temperature, 0) for k in range(len(steps))])


rows = [-library.numpy(), within_step_weights(weights).numpy(), within_step_weights(weights, SHARP_TEMPERATURE).numpy()]
names = ["-log P(r_j | r_<j, x)", "ŵ_j (Eq. 8, τ = 1)", f"ŵ_j (τ = {SHARP_TEMPERATURE})"]
w_max = max(rows[1].max(), rows[2].max())  # the two ŵ rows share one scale, so they compare
fig, axes = plt.subplots(3, 1, figsize=(15, 4.2), sharex=True, layout="constrained")
images = []
for ax, row, name in zip(axes, rows, names):
    scale = {"cmap": "magma", "vmin": 0} if ax is axes[0] else {"cmap": "Blues", "vmin": 0, "vmax": w_max}
    images.append(ax.imshow(row[None, :], aspect="auto", **scale))
    ax.set_yticks([0], [name])
    for boundary in np.flatnonzero(np.diff(token_step.numpy())) + 0.5:
        ax.axvline(boundary, color="red", linestyle="--", linewidth=1)
axes[-1].set_xticks(range(len(pieces)), [p.strip() or "␣" for p in pieces], rotation=90, fontsize=7)
axes[-1].set_xlabel("rationale token j (red dashes: step boundaries)")
fig.colorbar(images[0], ax=axes[0], pad=0.01, aspect=6, label="nats")
fig.colorbar(images[1], ax=axes[1:], pad=0.01, aspect=12, label="ŵ_j, share of its step")
fig.suptitle("one rationale, token by token: the student's loss and the within-step weights")

# %% [markdown]
# Now all rationales. `kpod_lite.difficulty.difficulty_records` does the above for a whole set:
# it checks that each weight record's tokens are the rationale's, scores everything in
# batches (on a GPU when there is one), and returns `{"id", "sample", "steps", "difficulty"}`,
# the records the schedule (Eq. 9-11, notebook 04) reads.

# %%
def oracle_weight_records(records):
    """Weight records in the format `kpod_lite.weighting` writes, with oracle weights."""
    out = []
    for record in records:
        ids, offsets = templates.rationale_tokens(tokenizer, record["rationale"])
        out.append({"id": record["id"], "sample": record["sample"], "tokens": tokenizer.convert_ids_to_tokens(ids),
                    "offsets": [list(o) for o in offsets],
                    "weights": oracle_weights(record["rationale"], char_labels(record["spans"]), offsets)})
    return out


weight_records = oracle_weight_records(rationales)
variants = {
    "unweighted (KPOD-w.o.-sig-dif)": cfg.replace(method="w.o.-sig-dif"),
    "Eq. 8, τ = 1": cfg,
    f"Eq. 8, τ = {SHARP_TEMPERATURE}": cfg.replace(difficulty_temperature=SHARP_TEMPERATURE),
}
scored = {name: difficulty.difficulty_records(rationales, weight_records, model, tokenizer, c)
          for name, c in variants.items()}

n_show = min(20, len(rationales))
width = max(len(r["steps"]) for records in scored.values() for r in records)
shown_values = np.concatenate([r["difficulty"] for records in scored.values() for r in records[:n_show]])
scale = {"vmin": float(shown_values.min()), "vmax": float(shown_values.max())}  # one scale for the three
fig, axes = plt.subplots(1, 3, figsize=(12, 5), sharey=True, layout="constrained")
for ax, (name, records) in zip(axes, scored.items()):
    grid = np.full((n_show, width), np.nan)
    for i, record in enumerate(records[:n_show]):
        grid[i, : len(record["difficulty"])] = record["difficulty"]
    image = ax.imshow(grid, cmap="magma", aspect="auto", **scale)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("step k")
    ax.set_xticks(range(width), range(1, width + 1))
axes[0].set_ylabel("rationale (first 20)")
axes[0].set_yticks(range(0, n_show, 5))
fig.colorbar(image, ax=axes, fraction=0.03, pad=0.02, label="d_k, nats per token (Eq. 8)")
fig.suptitle("step difficulty d_k on one colour scale (blank: the rationale has fewer steps)")

# %%
# NBVAL_CHECK_OUTPUT
for name, records in scored.items():
    assert all(len(r["difficulty"]) == len(r["steps"]) and all(np.isfinite(r["difficulty"])) for r in records)
print(f"{len(rationales)} rationales, {sum(len(r['steps']) for r in records)} steps scored in each variant")

# %%
for name, records in scored.items():
    values = np.concatenate([r["difficulty"] for r in records])
    hardest = np.bincount([int(np.argmax(r["difficulty"])) for r in records], minlength=width)
    print(f"{name:31} mean d_k {values.mean():.2f}, hardest step is step k = 1..{width}: {hardest.tolist()}")

# %% [markdown]
# Unweighted, and with Eq. 8 at τ = 1, the first step is almost always the hardest. Look back at
# the token losses of section 1: the rationale's opening words ("First", ",") cost the tiny
# student over 10 nats each. It was pretrained on questions and on rationales as *separate*
# documents, so a rationale right after a question surprises it; that is true of this student
# before distillation, and it is what Eq. 8 measures. But those are not keypoint tokens: the
# oracle gives them 0.5 against 0.95 for a number, which the softmax at τ = 1 turns into a
# factor of only e^0.45 ≈ 1.6. With the sharper softmax the difficulty follows the
# arithmetic, and the hardest step is spread over the rationale.
#
# ## 4. Fillers distort the unweighted difficulty
#
# The question Eq. 8's weights answer: do filler words change how hard a step looks? We take
# the programs behind the synthetic problems, render each as a rationale with many fillers
# (`synthetic.render_rationale`, filler rate `FILLER_RATE`), and make its **twin without
# fillers** by deleting the planted filler phrases (and the space after each) from the very
# same text, so the two differ in nothing else. Same reasoning, same steps: a difficulty that
# measures reasoning should barely move between the twins.

# %%
def drop_fillers(text, labels_per_char):
    """The same rationale without its planted fillers, and its per-character labels."""
    keep = [True] * len(text)
    for position, label in enumerate(labels_per_char):
        if label == "filler":
            keep[position] = False
            if position + 1 < len(text) and labels_per_char[position + 1] != "filler":
                keep[position + 1] = False  # the space after the phrase
    clean = "".join(ch for ch, k in zip(text, keep) if k)
    labels = [label for label, k in zip(labels_per_char, keep) if k]
    # An opener filler ("Okay, first, ...") took the sentence's capital letter with it.
    clean = re.sub(r"(^|\. )([a-z])", lambda m: m.group(1) + m.group(2).upper(), clean)
    return clean, labels


pairs = []
for example_q in questions:
    noisy, spans = synthetic.render_rationale(example_q.meta["program"], random.Random(example_q.id), FILLER_RATE)
    noisy_labels = [label for span in spans for label in [span.label] * (span.end - span.start)]
    pairs.append((example_q, (noisy, noisy_labels), drop_fillers(noisy, noisy_labels)))

q, (noisy, _), (clean, _) = pairs[0]
print("with fillers:   ", noisy)
print("without fillers:", clean)

# %%
# NBVAL_CHECK_OUTPUT
assert all(len(data.split_steps(n)) == len(data.split_steps(c)) for _, (n, _), (c, _) in pairs)
assert all(n != c for _, (n, _), (c, _) in pairs[:5])
print(f"{len(pairs)} twins, same number of steps each")


# %%
def score(texts_and_labels):
    """Token log-probabilities (one batched pass), offsets and oracle weights of each rationale."""
    logprobs = difficulty.token_logprobs(model, tokenizer, [q.question for q, *_ in pairs],
                                         [t for t, _ in texts_and_labels], batch_size=cfg.batch_size)
    out = []
    for (text_, labels), lp in zip(texts_and_labels, logprobs):
        _, offs = templates.rationale_tokens(tokenizer, text_)
        out.append((text_, lp, offs, oracle_weights(text_, labels, offs)))
    return out


def all_steps(scored_texts, temperature=None):
    """d_k of every step of every rationale: unweighted (None), or Eq. 8 at τ = temperature."""
    if temperature is None:
        return np.concatenate([difficulty.step_difficulties(lp, None, offs, t, weighted=False)
                               for t, lp, offs, _ in scored_texts])
    return np.concatenate([difficulty.step_difficulties(lp, w, offs, t, temperature=temperature)
                           for t, lp, offs, w in scored_texts])


noisy_scored, clean_scored = score([noisy for _, noisy, _ in pairs]), score([clean for _, _, clean in pairs])
moves = {}
for name, temperature in [("unweighted", None), ("Eq. 8, τ = 1", 1.0), (f"Eq. 8, τ = {SHARP_TEMPERATURE}", SHARP_TEMPERATURE)]:
    with_fillers, without = all_steps(noisy_scored, temperature), all_steps(clean_scored, temperature)
    moves[name] = (with_fillers, without)
    change = np.abs(with_fillers - without) / without
    print(f"{name:16} mean d_k {without.mean():.2f} without fillers, {with_fillers.mean():.2f} with; "
          f"mean relative move {change.mean():.1%}")

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharex=True, sharey=True)  # one scale: the spreads compare
everything = np.concatenate([np.concatenate(pair) for pair in moves.values()])
lo, hi = everything.min(), everything.max()
for ax, (name, (with_fillers, without)) in zip(axes, moves.items()):
    ax.scatter(without, with_fillers, s=10, alpha=0.6)
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1)
    ax.set_title(name, fontsize=10)
    ax.set_xlabel("d_k without fillers (nats per token)")
axes[0].set_ylabel("d_k of the same step with fillers\n(nats per token)")
fig.suptitle("each point is one step: on the diagonal, fillers did not change its difficulty")
fig.tight_layout()

# %% [markdown]
# What to read from it. The unweighted difficulty moves most: every filler token enters the
# step's mean with the same weight as a number, so the same reasoning looks harder or easier
# depending on how much the teacher padded it. Eq. 8 with τ = 1 gives fillers less weight but,
# as section 2 showed, not none, so it moves less; the sharper softmax moves least. It still
# moves a little, and that part is real: a filler changes the *context* of the keypoint tokens
# after it, and with it their probabilities. What the progressive schedule (Eq. 9-11) uses is
# the ordering of steps and questions by difficulty, so what matters downstream is whether the
# fillers reorder them:

# %%
def ranks(values):
    return np.argsort(np.argsort(values))


agreements = {}
for name, (with_fillers, without) in moves.items():
    agreements[name] = np.corrcoef(ranks(with_fillers), ranks(without))[0, 1]
    print(f"{name:16} rank correlation of step difficulties with and without fillers: {agreements[name]:.3f}")
order = sorted(agreements, key=agreements.get)
print("\nfrom most reordered by fillers to least: " + ", ".join(f"{name} ({agreements[name]:.3f})" for name in order))

# %% [markdown]
# Two more measurements before reading them: where step 1's difficulty comes from, token kind by
# token kind, and how far the weighted difficulty (Eq. 8) is from the unweighted one on the
# same rationales, which is what the ablation KPOD-w.o.-sig-dif changes.

# %%
all_logprobs = difficulty.token_logprobs(model, tokenizer, [r["question"] for r in rationales],
                                         [r["rationale"] for r in rationales], batch_size=cfg.batch_size)
losses = {}  # (where, kind) -> token losses; the opening two tokens are kept apart
first_hardest = {"every token": 0, "every token but the opening two": 0, "keypoint tokens only": 0}
for record, lp in zip(rationales, all_logprobs):
    _, offs = templates.rationale_tokens(tokenizer, record["rationale"])
    owner = np.array(difficulty.token_steps(offs, record["rationale"]))
    kinds = np.array(["keypoint" if label in synthetic.KEYPOINT_LABELS else "other"
                      for label in token_labels(record["rationale"], char_labels(record["spans"]), offs)])
    nll = -lp.numpy()
    for j, (step, kind) in enumerate(zip(owner, kinds)):
        where = "opening two tokens" if j < 2 else "step 1" if step == 0 else "later steps"
        losses.setdefault((where, kind), []).append(nll[j])
    position = np.arange(len(nll))
    for variant, keep in [("every token", position >= 0), ("every token but the opening two", position >= 2),
                          ("keypoint tokens only", kinds == "keypoint")]:
        d = [nll[(owner == k) & keep].mean() if ((owner == k) & keep).any() else 0.0 for k in range(owner.max() + 1)]
        first_hardest[variant] += int(np.argmax(d) == 0)
print(f"{'mean -log P (nats)':20} {'keypoint':>9} {'other':>9}")
for where in ("opening two tokens", "step 1", "later steps"):
    row = [f"{np.mean(losses[(where, kind)]):9.2f}" if (where, kind) in losses else f"{'-':>9}" for kind in ("keypoint", "other")]
    print(f"{where:20} {' '.join(row)}")
for variant, count in first_hardest.items():
    print(f"d_k = mean loss of {variant + ':':33} step 1 is the hardest in {count} of {len(rationales)} rationales")
chance = sum(1 / len(r["steps"]) for r in scored["Eq. 8, τ = 1"])  # the chance that a random step is step 1
print(f"{'(a step drawn at random:':53} step 1 in {chance:.0f} of {len(rationales)})")
opening = np.mean(losses[("opening two tokens", "other")])
assert opening > 2 * np.mean(losses[("later steps", "other")])  # the opening words are the surprise
unweighted_d = np.concatenate([r["difficulty"] for r in scored["unweighted (KPOD-w.o.-sig-dif)"]])
similarity = {}
for name in list(scored)[1:]:
    weighted_d = np.concatenate([r["difficulty"] for r in scored[name]])
    similarity[name] = np.corrcoef(ranks(unweighted_d), ranks(weighted_d))[0, 1]
    print(f"rank correlation of unweighted and {name} step difficulties: {similarity[name]:.3f}")
assert similarity["Eq. 8, τ = 1"] > similarity[f"Eq. 8, τ = {SHARP_TEMPERATURE}"]

# %% [markdown]
# **Reading it.** Fillers do reorder the steps, and weighting undoes part of it: the rank
# correlation between the twins is lowest for the unweighted difficulty and highest for the
# sharp softmax, with Eq. 8 as written in between (the line that ranks them says so). Eq. 8 at
# τ = 1 removes only part of the reordering, as its factor-e limit on a keypoint's advantage says
# it must.
#
# What makes a step hard for this student is mostly not its arithmetic. The table splits the
# token losses: keypoint tokens cost about the same in step 1 as in later steps, while the
# other words cost more in step 1, and the rationale's opening two tokens ("First", ",", or a
# filler such as "Okay") cost more than twice the average word. The student was pretrained on
# questions and rationales as separate documents, so how a rationale *opens* after a question
# is what surprises it most; later steps repeat phrasing the first step introduced. Step 1's
# difficulty is therefore set by its non-keypoint words, the opening ones most but not only
# them: leave out the opening two tokens and step 1 is still the hardest in most rationales;
# score keypoint tokens only and it is the hardest about as often as a step drawn at random. Eq. 8 as written cannot discount these words: an opening word is a "plain" token
# (oracle weight 0.5), within a factor e^0.45 of a keypoint.
#
# These are oracle weights (`WEIGHTS_FILE = None`), not the learned weights of notebook 02, on
# purpose: with them we know what a perfect weighting module would say, so what we see is Eq. 8
# itself and not the quality of one mask-learning run (docs/WEIGHTING.md shows how much runs
# differ), and the notebook needs no minutes of mask learning. Learned weights are a different
# input: the tiny pipeline's run gave operators a mean weight of 0.008 and quantity words 0.37
# (docs/RESULTS.md), where the oracle gives both 0.95. Set `WEIGHTS_FILE` to a `weights.jsonl`
# (the tiny T5 and the tiny LLaMA share one vocabulary) to score with them (section 5).
#
# For the ablation KPOD-w.o.-sig-dif this means little should change. Even with the oracle's
# weights, Eq. 8 at τ = 1 ranks the steps almost exactly as the unweighted mean does (the last
# two lines above: close to 1 at τ = 1, far from it at τ = 0.1), so the schedule built on it
# (Eq. 9-11) hands out nearly the same input steps. That is what the tiny pre-registered run
# found: weighted against unweighted step difficulty made no difference, and the two schedules
# gave a different c_i(t) to only 94-123 of the 800 questions (docs/RESULTS.md). A test with a
# chance of showing the paper's +2.7 points would need weights that matter more in Eq. 8, such
# as a sharper softmax (τ < 1, ours), or a student whose step difficulty is not set by how a
# rationale opens.

# %% [markdown]
# ## 5. The pipeline step: files in, files out
#
# `kpod-lite difficulty --rationales R --weights W --out difficulty.jsonl` runs
# `difficulty.difficulty_file`: it reads the rationale file of notebook 01 and the weight file
# of notebook 02, matches them by (id, sample), checks the tokens, and writes one record per
# rationale. A weight record made with another tokenizer fails loudly, naming the file, the line
# and the first token that differs, rather than silently pairing losses with the wrong weights.

# %%
weights_path = Path(WEIGHTS_FILE) if WEIGHTS_FILE else run_dir / "oracle_weights.jsonl"
if not WEIGHTS_FILE:
    data.write_jsonl(weights_path, weight_records)
summary = difficulty.difficulty_file(report.out, weights_path, run_dir / "difficulty.jsonl", cfg,
                                     model=model, tokenizer=tokenizer)
print({key: summary[key] for key in ("rationales", "steps", "mean_difficulty", "weighted", "temperature")})
print(next(data.read_jsonl(run_dir / "difficulty.jsonl"))[1])

# %%
# NBVAL_CHECK_OUTPUT
bad = [dict(record) for record in weight_records]
bad[2] = {**bad[2], "tokens": ["Ġoops"] + bad[2]["tokens"][1:]}
data.write_jsonl(run_dir / "bad_weights.jsonl", bad)
try:
    difficulty.difficulty_file(report.out, run_dir / "bad_weights.jsonl", run_dir / "x.jsonl", cfg,
                               model=model, tokenizer=tokenizer)
except data.DataFormatError as error:
    print(str(error).replace(str(run_dir), "<run>")[:130], "...")

# %% [markdown]
# ## Recap
#
# * Eq. 8 scores step k with the pre-trained student's teacher-forced token losses,
#   -log P(r_j | r_<j, x; θ^s), averaged with weights ŵ = softmax(w) taken *within the step*.
#   Seq2seq students read x in the encoder and r as decoder labels; causal students read x r
#   and only the rationale positions count.
# * A token belongs to the step of its first non-space character; whitespace joins the next step.
# * The unweighted ablation (KPOD-w.o.-sig-dif) is Eq. 8 with equal weights: the step's mean
#   token loss. Both are on the same per-token scale; only which tokens count differs.
# * With sigmoid weights in (0, 1), Eq. 8's softmax limits a keypoint's advantage over a filler
#   to a factor e: fillers are damped, not removed. A temperature τ < 1 sharpens it (ours).
# * Easy filler words make a padded step look easier under the unweighted difficulty; the
#   weighted one moves less.
# * For this student a step is hard mostly because of its non-keypoint words, step 1 because of
#   how the rationale opens; at τ = 1, weighted and unweighted difficulty rank steps almost
#   alike, so KPOD-w.o.-sig-dif has little to change (the tiny run's null, docs/RESULTS.md).
#
# ## Exercises
#
# **Exercise 1 (recall).** By how much can one token's ŵ_j exceed another's within a step, at
# τ = 1, when the weights come out of a sigmoid? Check it on the example rationale of section 2:
# the largest ratio ŵ_max / ŵ_min within each of its steps, at τ = 1 and at τ = 0.1.
#
# **Exercise 2 (apply).** Find the largest temperature τ at which the weighted difficulty of the
# toy step of section 2 moves by less than 0.01 nats when the filler's loss rises from 1 to 9,
# and explain the number from the formula.
#
# **Exercise 3 (a small experiment).** Which tokens make a step hard? For the first three
# rationales, print the three most expensive tokens of every step with their oracle weights, and
# count over all rationales how often step 1's most expensive token is one of its opening two.
# Then load the causal student that the tiny preset distils (`load_student(config.preset(PRESET))`,
# the tiny LLaMA) and count again.

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. w_j lies in (0, 1), so exp(w_j / τ) lies in (1, e^(1/τ)): at τ = 1 no token of a step
# counts more than e ≈ 2.7 times another, and the ratio is exactly exp((w_max - w_min) / τ).
for t in (1.0, SHARP_TEMPERATURE):
    w_hat = within_step_weights(weights, t)
    ratios = [float(w_hat[token_step == k].max() / w_hat[token_step == k].min()) for k in range(len(steps))]
    spread = [max(np.array(weights)[token_step.numpy() == k]) - min(np.array(weights)[token_step.numpy() == k])
              for k in range(len(steps))]
    print(f"τ = {t}: largest ŵ ratio per step {[round(r, 2) for r in ratios]}, bound e^(1/τ) = {np.exp(1 / t):.4g}")
    assert all(r < np.exp(1 / t) for r in ratios)
    assert np.allclose(ratios, np.exp(np.array(spread) / t), rtol=1e-4)

# %% jupyter={"source_hidden": true}
# Solution 2. Only the filler's loss changes, by 8 nats, so d moves by 8 times the filler's share
# e^(0.05/τ) / (2 e^(0.95/τ) + e^(0.5/τ) + e^(0.05/τ)) ≈ e^(-0.9/τ) / 2 once τ is small.
def filler_share(t):
    logits = np.array(toy_w) / t
    return np.exp(logits[1]) / np.exp(logits).sum()


found = None
for t in np.round(np.arange(1.0, 0.04, -0.01), 2):
    (a,) = difficulty.step_difficulties(easy, toy_w, toy_offsets, toy_text, temperature=t)
    (b,) = difficulty.step_difficulties(hard, toy_w, toy_offsets, toy_text, temperature=t)
    assert np.isclose(b - a, 8 * filler_share(t), atol=1e-4)
    if found is None and b - a < 0.01:
        found = t
print(f"largest τ on a 0.01 grid with a move under 0.01 nats: τ = {found} "
      f"(move {8 * filler_share(found):.4f}; 8 e^(-0.9/τ) / 2 = {4 * np.exp(-0.9 / found):.4f})")
assert 0.1 <= found <= 0.2

# %% jupyter={"source_hidden": true}
# Solution 3. Both students pay most for how the rationale opens, not for its arithmetic.
def opening_counts(student_model, student_tokenizer, show=0):
    logprobs = difficulty.token_logprobs(student_model, student_tokenizer, [r["question"] for r in rationales],
                                         [r["rationale"] for r in rationales], batch_size=cfg.batch_size)
    opening = 0
    for i, (record, lp) in enumerate(zip(rationales, logprobs)):
        text_, (_, offs) = record["rationale"], templates.rationale_tokens(tokenizer, record["rationale"])
        w = oracle_weights(text_, char_labels(record["spans"]), offs)
        owner = np.array(difficulty.token_steps(offs, text_))
        for k in range(owner.max() + 1):
            top = sorted(np.flatnonzero(owner == k), key=lambda j: float(lp[j]))[:3]
            opening += int(k == 0 and top[0] < 2)
            if i < show:
                print(f"  {record['id']} step {k + 1}:", [(text_[slice(*offs[j])], round(-float(lp[j]), 1), w[j]) for j in top])
    return opening


t5_opening = opening_counts(model, tokenizer, show=3)
# The tiny LLaMA has the tiny T5's vocabulary (so the offsets agree) but its own special tokens.
llama, llama_tokenizer = load_student(config.preset(PRESET))
llama_opening = opening_counts(llama, llama_tokenizer)
print(f"step 1's most expensive token is one of its opening two in {t5_opening} of {len(rationales)} rationales "
      f"(tiny T5) and {llama_opening} of {len(rationales)} (tiny LLaMA)")
assert t5_opening > len(rationales) / 2
