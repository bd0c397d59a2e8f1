# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/06_distill_flan_t5_large.ipynb)
#
# # 06. Distilling the student: progressive, keypoint-weighted training (Eq. 14-15)
#
# Notebooks 02-04 made a weight w_j for every rationale token and, for every question and
# epoch, a number c_i(t) of steps the student is *given*. This notebook is the training loop
# that uses them: at stage t the student reads the question plus the first c_i(t) steps and
# learns to write the rest (Eq. 14), each token counting with its weight (Eq. 15). You build
# one stage's example, its weights and a batch's loss from scratch, check each against
# `kpod_lite.distill`, then distil two students, plain CoT (Eq. 1) and KPOD, on the course's
# thread and follow "Ben's magazines" to their answers.
#
# **After this notebook you can** build any stage's input and target, compute Eq. 15 by
# hand, and run the same cells on FlanT5-Large on a Colab T4.
# **Runs in** about 2.5 minutes on 2 free CPU cores (tiny preset). **Paper:** §3.4-3.5 (Eq. 14-15),
# App. A-B.

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
# **The task and the student** are the thread's, as in notebooks 02-04: the tiny preset's
# synthetic +/- problems of 2-3 steps and the tiny LLaMA (causal, like the paper's LLaMA-7B).
# The rationales, learned weights and schedule are the shipped ones, so nothing before
# distillation is recomputed. Epochs count from 1; epoch e trains stage t = e − 1.

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # tiny | colab | flan-t5-large | flan-t5-xl | llama-7b | colab-rehearsal
# App. A: Adam, batch 4; FlanT5: lr 5e-5, 100 epochs (T = 50), LoRA r = 128 for -XL (none given for
# -Large: the preset takes -XL's, ours); LLaMA-7B: lr 1e-5, 20 epochs, r = 64. "colab" (ours): FlanT5-Large
# on Table 4's SVAMP with the released GPT-3.5 rationales, 200 questions, 6 epochs.
# LLaMA-7B is this cell alone: PRESET = "llama-7b" and STUDENT = its weights (gated: a folder or hub id).
STUDENT = None  # None: the preset's student
DATASET = None  # None: the preset's; or a data source fetched once: "mcckd-gsm8k", "mcckd-svamp", "gsm8k", ...
TEACHER = None  # None: the preset's; "released" (MCC-KD's GPT-3.5 rationales), "openai", "hf", "gold"
EPOCHS = None  # None: the preset's
TRAIN_SIZE = None  # None: the preset's; a number: a seeded subset of the training questions
RUN_DIR = None  # None: a copy of the thread (tiny), a temporary folder (rehearsals), ../runs/nb06-<preset> (GPU)

# %% [markdown]
# **On Colab with a T4.** Choose *Runtime → Change runtime type → T4 GPU*, run the install
# cell, set `PRESET = "colab"` above and run all. The cell below prints what that run
# downloads and its estimated time and peak memory on a T4 (float32: a T4 has no native
# bf16, and T5 overflows in fp16), from FLOPs and kernel launches, not measured. No API key:
# MCC-KD's GPT-3.5 rationales come with the data. With `RUN_DIR` on your Drive, a restarted
# runtime resumes.
#
# **What to expect.** Both students learn SVAMP's rationale format, so both should leave the
# pretrained row behind. Far fewer questions and epochs than App. A's mean it shows the
# method, not Table 1's numbers; and KPOD against plain CoT is one seed, so a gap within two
# of the printed standard errors of a difference says nothing. The paper presets need a
# `DATASET` and a `TEACHER`: the cell says which.

# %%
# %matplotlib inline
import io
import json
import tempfile
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, Image, Markdown, display
from transformers.utils import logging as hf_logging

from kpod_lite import data, distill, evaluate, gpu_time, pipeline, thread, viz
from kpod_lite.config import preset
from kpod_lite.gpu_time.plan import accuracy_noise, gpu_key
from kpod_lite.models import is_local_build, load_student, student_family
from kpod_lite.schedule import Schedule

cfg = preset(PRESET)
if DATASET:
    cfg = cfg.replace(**data.source_settings(DATASET))  # its train and test splits, its format
changes = {"student": STUDENT, "teacher": TEACHER, "epochs": EPOCHS, "train_size": TRAIN_SIZE}
cfg = cfg.replace(**{key: value for key, value in changes.items() if value is not None})

# With tiny, what the colab preset would cost (the tiny run's own time is at the top).
here = gpu_key(torch.cuda.get_device_name()) if torch.cuda.is_available() else None
plan_of_run = gpu_time.run_plan(preset("colab") if cfg.name == "tiny" else cfg, ("T4", "L4", "A100", here or "T4"))
print(plan_of_run)
one, gap = accuracy_noise(plan_of_run.test_questions)
print(f"one seed on {plan_of_run.test_questions} test questions: one accuracy ± up to {one:.1f} points, "
      f"KPOD − plain CoT ± up to {gap:.1f} (one binomial standard error)")
gpu_time.check_ready(cfg)  # stops here, listing what to set, before anything is downloaded

# %% [markdown]
# ## 1. The run folder: the thread, extended
#
# Distillation reads three files earlier notebooks made: the teacher's rationales (§3.1), their
# token weights (Eq. 2-7) and the schedule (Eq. 8-13). With the tiny preset they are the
# thread's: `thread.extend()` copies the shipped folder, and `pipeline.run` reuses every stage
# in it. Any other preset (or a changed tiny one) builds its own folder; the call below stops
# after the schedule, and the second call in section 5 carries on.

# %%
if is_local_build(cfg.student):  # a progress widget per load of a local model would clutter the page
    hf_logging.disable_progress_bar()
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # and in the worker processes of section 5
if RUN_DIR:
    run_dir = Path(RUN_DIR)
elif cfg == preset("tiny"):  # the thread is the tiny preset's run: reuse it, stage for stage
    run_dir = thread.extend()
elif is_local_build(cfg.student):  # a changed tiny run or a rehearsal: a fresh folder
    run_dir = Path(tempfile.mkdtemp(prefix="kpod-nb06-"))
else:  # a GPU run keeps its folder, so a restarted kernel resumes it
    run_dir = Path("..") / "runs" / f"nb06-{cfg.name}"
pipeline.run(cfg, run_dir, methods=("plain-cot", "kpod"), stages=("schedule",))

rationales = [record for _, record in data.read_jsonl(run_dir / "rationales.jsonl")]
weight_records = {(r["id"], int(r.get("sample", 0))): r for _, r in data.read_jsonl(run_dir / "weights.jsonl")}
plan = Schedule.load(run_dir / "schedule.json")
family = student_family(cfg)  # seq2seq or causal, read off the model's config
causal = not family.seq2seq
# The thread's named question, "Ben's magazines"; another preset follows its first question.
record = next((r for r in rationales if r["id"] == thread.NAMED_ID), rationales[0])
steps = [s.text for s in data.split_steps(record["rationale"])]

# %%
# NBVAL_CHECK_OUTPUT
print(f"preset {cfg.name}: student {cfg.student} ({family.name}), {cfg.epochs} epochs (T = {cfg.stage_T}), "
      f"lr {cfg.learning_rate}, batch {cfg.batch_size}, λ = {cfg.token_weight_floor}")
print(f"{len(rationales)} rationales, {len(weight_records)} weight records, stages 0..{len(plan.stages) - 1}")
print(f"\n{record['id']}: {record['question']}  (answer {record['answer']})")
for k, step in enumerate(steps, 1):
    print(f"  step {k}: {step}")
print(f"c_i(t) by epoch 1..{cfg.epochs}:", [plan.input_steps(t)[record["id"]] for t in range(cfg.epochs)])

# %% [markdown]
# ## 2. The stage-t example (Eq. 14), from scratch
#
# Eq. 14 trains on the rationale from p_{c_i(t)+1}, the first token of step c_i(t) + 1, on;
# everything before it is input. With steps cut at "." (§3.4, `data.split_steps`):
#
#     input  = "Q: <question>\nA: Let's think step by step." + the first c steps
#     target = the remaining steps + "Therefore, the answer is <y>."
#
# The prompt is §3.1's zero-shot CoT template, the one the student meets at test time (c = 0);
# the answer sentence is Eq. 1's second term, always in the target. Ben's magazines at every
# c, by hand and by `distill.stage_examples`, decoded back to text:

# %%
# NBVAL_CHECK_OUTPUT
def my_stage_example(record, c):
    """(input, target) of Eq. 14 for one rationale given c input steps."""
    text, steps = record["rationale"], data.split_steps(record["rationale"])
    cut = steps[c].start if c < len(steps) else len(text)  # p_{c+1}: where step c + 1 starts
    given, remaining = text[:cut].strip(), text[cut:].strip()
    prompt = f"Q: {record['question']}\nA: Let's think step by step."  # §3.1
    answer = f"Therefore, the answer is {record['answer']}."  # the second term of Eq. 1
    return (f"{prompt} {given}" if given else prompt), (f"{remaining} {answer}" if remaining else answer)


def my_token_ids(source, target):
    """(input ids, label ids) the student is trained on: one sequence for a causal student."""
    # The target is tokenised on its own, as the rationale tokens r_j were, and closed by </s>.
    target_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if causal:  # "<s> input target </s>", the input part labelled -100 (read, not learned)
        source_ids = tokenizer(source)["input_ids"]
        return source_ids + target_ids, [-100] * len(source_ids) + target_ids
    return tokenizer(source)["input_ids"], target_ids  # encoder (+ </s>) / decoder


model, tokenizer = load_student(cfg)  # the student before distillation
decode = lambda ids: tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
for c in range(len(steps) + 1):
    source, target = my_stage_example(record, c)
    given, offset = distill.split_at_step(record["rationale"], c)  # kpod_lite: the first c steps, p_{c+1}
    assert source.endswith(given) and target.startswith(record["rationale"][offset:].strip())
    example = distill.stage_examples([record], weight_records, {record["id"]: c}, tokenizer, cfg, family)[0]
    assert my_token_ids(source, target) == (example["input_ids"], example["labels"])
    n_input = example["labels"].count(-100) if causal else len(example["input_ids"])
    print(f"--- c = {c}: {n_input} input tokens, {sum(t != -100 for t in example['labels'])} target tokens")
    print(f"INPUT : {decode(example['input_ids'][:n_input])}")
    print(f"TARGET: {decode([t for t in example['labels'] if t != -100]).strip()}")

# %% [markdown]
# The ids built by hand are `kpod_lite`'s. The rationale is never rewritten, only cut where
# step c + 1 starts. A causal student reads input and target as one sequence whose input
# positions carry the label −100 (read, not learned); FlanT5 feeds the input to its encoder.
# The curriculum ends where the test begins: the c = 0 input is the test prompt.

# %% [markdown]
# ## 3. The weight of each target token (Eq. 15)
#
# Weights belong to the tokens of the *rationale*; a target token takes the weight of the
# rationale token with exactly its characters, else of the one owning most of them (a
# SentencePiece "▁" shares its span with the number after it, so equal spans are matched in
# order). The answer sentence and the end token get 1. One addition is ours: a floor λ
# (`token_weight_floor`), training each token with λ + (1 − λ) w_j. The paper is λ = 0, as the
# GPU presets keep; tiny sets 0.2, because its student with filler words weighted near 0
# never learned to write a sentence (docs/RESULTS.md, "Calibration").

# %%
def my_target_weights(record, c, weight_record, floor=cfg.token_weight_floor):
    """(target token ids, their weights in Eq. 15) for the target of Eq. 14 at c input steps."""
    steps = data.split_steps(record["rationale"])
    rationale_start = steps[c].start if c < len(steps) else len(record["rationale"])  # p_{c+1}
    n_remaining = len(record["rationale"][rationale_start:].strip())  # rationale characters in the target
    target = my_stage_example(record, c)[1]  # tokenised on its own, as the rationale was
    encoded = tokenizer(target, add_special_tokens=False, return_offsets_mapping=True)
    offsets = [tuple(o) for o in weight_record["offsets"]]
    same_span, owner = {}, {}  # span -> rationale tokens with exactly it; character -> its owner
    for index, (a, b) in enumerate(offsets):
        if b > a:
            same_span.setdefault((a, b), []).append(index)
        for position in range(a, b):  # the narrowest covering token, then the later one
            if position not in owner or b - a <= offsets[owner[position]][1] - offsets[owner[position]][0]:
                owner[position] = index
    ids, weights, previous, run = list(encoded["input_ids"]), [], None, 0
    for a, b in encoded["offset_mapping"]:
        # rationale characters only: the answer sentence after them has no rationale token
        span = (rationale_start + a, rationale_start + min(b, n_remaining)) if a < n_remaining else (0, 0)
        run, previous = (run + 1 if span == previous else 0), span
        if span in same_span:  # the k-th of k equal spans in a row is the k-th such token
            index = same_span[span][min(run, len(same_span[span]) - 1)]
        else:
            votes = Counter(owner[p] for p in range(*span) if p in owner)
            index = max(votes, key=lambda i: (votes[i], i)) if votes else None
        w = 1.0 if index is None else weight_record["weights"][index]  # 1: answer sentence
        weights.append(floor + (1 - floor) * w)  # λ + (1 - λ) w_j; λ = 0 is the paper's w_j
    # "</s>" closes the target: the student must learn to stop (weight 1)
    return ids + [tokenizer.eos_token_id], weights + [1.0]


checked = 0
for r in rationales[:200]:  # enough to meet every kind of step; all 800 would only take longer
    for c in range(len(data.split_steps(r["rationale"])) + 1):
        example = distill.stage_examples([r], weight_records, {r["id"]: c}, tokenizer, cfg, family)[0]
        if any(example["truncated"]):  # kpod_lite cut it to max_target_length; not modelled here
            continue
        lib = [(t, w) for t, w in zip(example["labels"], example["weights"]) if t != -100]
        ids, weights = my_target_weights(r, c, weight_records[(r["id"], int(r.get("sample", 0)))])
        assert ids == [t for t, _ in lib]
        assert torch.allclose(torch.tensor(weights), torch.tensor([w for _, w in lib]))
        checked += 1
print(f"target tokens and weights (floor λ = {cfg.token_weight_floor}) match kpod_lite "
      f"for all {checked} (rationale, c) pairs")

# %%
def weight_strip(pieces, weights):
    """The target as HTML: the lower the weight, the paler the token (hover for w_j)."""
    spans = [f'<span title="w = {w:.3f}" style="background: rgba(214, 39, 40, {w:.2f}); padding: 1px">'
             f'{piece.replace("<", "&lt;")}</span>' for piece, w in zip(pieces, weights)]
    return f'<div style="font-family: monospace; line-height: 1.8">{"".join(spans)}</div>'


weight_record = weight_records[(record["id"], int(record.get("sample", 0)))]
ids0, learned0 = my_target_weights(record, 0, weight_record, floor=0.0)  # the learned w_j
_, trained0 = my_target_weights(record, 0, weight_record)  # what Eq. 15 multiplies, with the floor
display(HTML(weight_strip([tokenizer.decode([i]) for i in ids0], learned0)))
print(f"{len(ids0)} target tokens at c = 0: mean learned w_j {sum(learned0) / len(ids0):.2f}, "
      f"mean trained weight {sum(trained0) / len(ids0):.2f}")

# %% [markdown]
# Ben's magazines at c = 0, shaded by learned w_j: deep red is 1 (the numbers, "=", the
# results and the answer sentence), pale is near 0 (connecting words and the filler notebook 02
# found). That contrast is what Eq. 15 puts into the loss.
#
# ## 4. The loss of a batch (Eq. 15), from scratch
#
# Eq. 15 sums −w_j log P(r_j | r_<j, x) over target tokens; `kpod_lite` divides by the number
# of target tokens (the paper writes plain sums):
#
# $$\text{loss} = \frac{\sum_{j} w_j \cdot \big(-\log P(r_j \mid r_{<j}, x)\big)}{\text{number of target tokens}}$$
#
# Dividing by the count, not by Σ w_j, keeps the weights' effect (a low weight really shrinks
# its token's gradient), and with w ≡ 1 it is the ordinary cross-entropy of plain CoT (Eq. 1).
# `distill.pad_batch` pads labels with −100 and weights with 0, so padding never counts.

# %%
def my_token_nll(model, batch):
    """(−log P(r_j | r_<j, x), w_j, is a target token) at every label position of a padded batch."""
    if causal:  # position k predicts token k + 1: drop the last logits, the first labels
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
        labels, weights = batch["labels"][:, 1:], batch["weights"][:, 1:]
    else:  # T5 builds its decoder inputs from the labels; logits line up with them
        logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).logits
        labels, weights = batch["labels"], batch["weights"]
    is_target = labels != -100
    log_p = torch.log_softmax(logits.float(), dim=-1)
    nll = -log_p.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # -log P(r_j | r_<j, x)
    return nll, weights, is_target


def my_eq15(model, batch):
    """(Eq. 15 with the batch's weights, the same with every w_j = 1), per target token."""
    nll, weights, is_target = my_token_nll(model, batch)
    return (weights * nll * is_target).sum() / is_target.sum(), (nll * is_target).sum() / is_target.sum()


examples = distill.stage_examples(rationales[:4], weight_records, plan.input_steps(0), tokenizer, cfg, family)
batch = {key: value.to(model.device) for key, value in distill.pad_batch(examples, tokenizer.pad_token_id).items()}
with torch.no_grad():
    my_loss, my_loss_ones = my_eq15(model, batch)
    # kpod_lite: the Trainer's own compute_loss (it needs the family, and no curriculum of Table 2's last rows)
    lib_loss = distill.KPODTrainer.compute_loss(SimpleNamespace(family=family, curriculum=None), model, dict(batch))
    model_loss = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).loss
tol = 1e-5 if model.dtype == torch.float32 else 1e-2
assert torch.allclose(my_loss, lib_loss, atol=tol) and torch.allclose(my_loss_ones, model_loss.float(), atol=tol)
print(f"Eq. 15 weighted: mine {my_loss.item():.4f}, KPODTrainer.compute_loss {lib_loss.item():.4f}")
print(f"every w_j = 1:   mine {my_loss_ones.item():.4f}, the model's own loss {model_loss.item():.4f}")
is_target = batch["labels"] != -100
print(f"weighted / unweighted {my_loss.item() / my_loss_ones.item():.2f}; "
      f"mean trained weight of the target tokens {batch['weights'][is_target].mean().item():.2f}")

# %% [markdown]
# With w ≡ 1 the hand-made loss is the loss `transformers` computes from the labels: plain CoT
# (Eq. 1) is the case w ≡ 1, c_i(t) = 0. With the learned weights it is smaller. Compare the
# ratio with the mean weight: were every token equally hard they would be equal; a ratio below
# the mean weight means the low-weight tokens are the ones this untrained student finds
# hardest, above it the high-weight ones.
#
# ## 5. Plain CoT against KPOD
#
# `pipeline.run` now trains one student per method on the Hugging Face Trainer
# (`distill.KPODTrainer`, whose loss you just checked; `distill.CurriculumCallback` sets each
# question's c_i(t) every epoch) and evaluates it by greedy generation from the c = 0 prompt
# (§4.1). On a CPU the two students train side by side, one process each.

# %%
del model  # the pipeline loads its own students (on a GPU the memory matters)
local = is_local_build(cfg.student) and not torch.cuda.is_available()
# A bar with an ETA per stage for a GPU run; a CPU run trains both students at once, one process each.
table = pipeline.run(cfg, run_dir, methods=("plain-cot", "kpod"), progress=not local, workers=2 if local else 1)
display(Markdown(table))


def show(fig):
    """Display a `kpod_lite.viz` figure once, as a PNG of fixed size, and close it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    display(Image(buffer.getvalue()))


# One seed on n questions: a binomial standard error √(p(1 − p)/n), the least it is uncertain.
results = json.loads((run_dir / "results" / "results.json").read_text())
rows = [row for row in results["rows"] if "test_mean" in row]
n_test = json.loads((pipeline.student_dir(run_dir, "kpod", cfg.seed) / "eval.json").read_text())["test"]["questions"]
se = [100 * (row["test_mean"] / 100 * (1 - row["test_mean"] / 100) / n_test) ** 0.5 for row in rows]
fig = viz.accuracy_figure(results["rows"])
fig.axes[0].errorbar([row["test_mean"] for row in rows], range(len(rows)), xerr=se, fmt="none",
                     ecolor="tab:orange", capsize=5, lw=1.5)
fig.axes[0].set_xlabel(f"test accuracy (%); orange: ± 1 binomial standard error over {n_test} questions")
show(fig)

# %% [markdown]
# **The bars** are test accuracy, one seed each: the template teacher (right by
# construction), the student before distillation, and the two students. The orange whiskers
# are one binomial standard error; bars whose whiskers overlap are not told apart by this run,
# and the table's out-of-distribution columns (irrelevant numbers, four-step chains) are as noisy.
#
# This is the tiny preset's own 8-epoch run, a demo far from converged: the lines under the
# table give each student's training-loss change over its last quarter of epochs
# (`convergence.how_far`), still falling fast. Its gap is not the verdict: docs/RESULTS.md's
# pre-registered Table 2 run trains 60 epochs, 5 seeds x 500
# questions, and there plain CoT beats KPOD on this task; notebook 07 rebuilds it.
#
# ## 6. The training curves, and a like-with-like loss
#
# Each student's `history.json` holds one row per epoch: its mean Eq. 15 loss, the mean
# c_i(t) of its examples and the target tokens it was trained to write.

# %%
histories = {m: [json.loads((pipeline.student_dir(run_dir, m, cfg.seed) / "history.json").read_text())["history"]]
             for m in ("plain-cot", "kpod")}
print(f"{'method':<10} {'epoch':>5} {'mean c_i(t)':>11} {'full rationales':>15} {'target tokens':>13} {'loss':>7}")
for m, (history,) in histories.items():
    for row in history:
        print(f"{m:<10} {row['epoch']:>5} {row['mean_input_steps']:>11.2f} {row['full_rationales']:>15.0%} "
              f"{row['target_tokens']:>13} {row['loss']:>7.4f}")
for fig in (viz.loss_figure(histories), viz.curriculum_figure(histories)):
    show(fig)

# %% [markdown]
# **The second figure** is the schedule at work: KPOD starts with part of each rationale
# given (mean c_i(t) > 0), the count falls to 0 by epoch T + 1 and stays there (Algorithm 1);
# plain CoT is at 0 throughout.
#
# **The first figure** does not compare like with like: KPOD's loss is Eq. 15 with its
# weights, plain CoT's with w ≡ 1, and through epoch T KPOD's targets are only the last steps
# (fewer target tokens in the table). The weights pull KPOD's curve down; harder targets, or
# flatter weights, can put it above plain CoT's. Either way its height says nothing about
# which student learned more. The cell below compares like with like: both trained students
# on the same whole rationales (c = 0), once with w ≡ 1 and once with Eq. 15's weights.

# %%
def scored(method, records, batch_size=32):
    """(Eq. 15 weighted, w ≡ 1) loss per target token of a trained student on `records` at c = 0."""
    student, tok = evaluate.load_trained(pipeline.student_dir(run_dir, method, cfg.seed) / "model", cfg)
    totals, count = torch.zeros(2), 0
    for start in range(0, len(records), batch_size):
        chunk = distill.stage_examples(records[start:start + batch_size], weight_records,
                                       {r["id"]: 0 for r in records}, tok, cfg, family)
        batch = {k: v.to(student.device) for k, v in distill.pad_batch(chunk, tok.pad_token_id).items()}
        targets = (batch["labels"] != -100).sum().item()  # what my_eq15 divides by
        with torch.no_grad():
            totals += torch.tensor([loss.item() for loss in my_eq15(student, batch)]) * targets
        count += targets
    return totals / count, count


same = rationales[:200]
like = {m: scored(m, same) for m in ("plain-cot", "kpod")}
n_tokens = like["kpod"][1]
like = {m: losses for m, (losses, _) in like.items()}
print(f"{len(same)} training rationales, whole (c = 0), {n_tokens} target tokens; loss per token:")
print(f"{'student':<10} {'w ≡ 1':>7} {'Eq. 15 weights':>15}")
for m, (weighted, ones) in like.items():
    print(f"{m:<10} {ones:7.4f} {weighted:15.4f}")
    assert weighted <= ones + 1e-6  # every trained weight is at most 1

# %% [markdown]
# Read each column down: one loss, one set of targets, both students. Within a row Eq. 15's
# weights make the loss smaller, as in section 4. Across rows, the lower w ≡ 1 loss is the
# student that fits the teacher's whole rationales better, whatever the training curves
# showed. An answer, though, hangs on a few tokens, the numbers: exercise 3 splits this loss
# by weight to see where the two students differ.
#
# ## 7. Ben's magazines, answered by each student
#
# A training question, so a right answer would show the student fitted it, not that it
# generalises; the test questions after it show that. The student before distillation has
# never seen a rationale written this way.

# %%
question = data.Example(id=record["id"], question=record["question"], answer=record["answer"])
predictions = {}
for m in ("before", "plain-cot", "kpod"):
    folder = run_dir / "students" / "before" if m == "before" else pipeline.student_dir(run_dir, m, cfg.seed)
    student, tok = (load_student(cfg) if m == "before" else evaluate.load_trained(folder / "model", cfg))
    answer = evaluate.score([question], evaluate.generate(student, tok, evaluate.prompts_for([question]), cfg))[0]
    print(f"{m:<9} -> {answer['prediction']!s:>5} ({'right' if answer['correct'] else 'wrong'}): {answer['generated']}")
    if m != "before":
        predictions[m] = {p["id"]: p for _, p in data.read_jsonl(folder / "test.predictions.jsonl")}
print(f"gold answer {record['answer']}; teacher: {record['rationale']}")

ids = list(predictions["kpod"])
both = Counter((predictions["kpod"][i]["correct"], predictions["plain-cot"][i]["correct"]) for i in ids)
print(f"\n{len(ids)} test questions: both right {both[True, True]}, only KPOD {both[True, False]}, "
      f"only plain CoT {both[False, True]}, neither {both[False, False]}")
for i in [i for i in ids if predictions["kpod"][i]["correct"] != predictions["plain-cot"][i]["correct"]][:2]:
    print(f"\nQ: {predictions['kpod'][i]['question']}  (gold {predictions['kpod'][i]['answer']})")
    for m in ("kpod", "plain-cot"):
        p = predictions[m][i]
        print(f"   {m:<9} -> {p['prediction']!s:>5}: {p['generated'][:200]}")

# %% [markdown]
# Look at *how* a student is wrong: a rationale of the right shape whose numbers are not
# the question's means it learned the format but not yet to read the question, which 8 epochs
# do not finish even on questions it trained on. The questions where only one student is
# right show what separates them.

# %% [markdown]
# ## Recap
#
# * Stage t (Eq. 14): input = the §3.1 prompt + the first c_i(t) steps; target = the rest +
#   "Therefore, the answer is y."; at test time c = 0.
# * Eq. 15 weights each target token with its rationale token's w_j (λ + (1 − λ) w_j here);
#   the answer sentence and the end token keep 1. Divided by the token count, w ≡ 1 is Eq. 1.
# * Training losses of the two methods are on different targets and weights; compare students
#   on the same targets.
# * FlanT5-Large on a T4: `PRESET = "colab"`; LLaMA-7B: `PRESET = "llama-7b"` and `STUDENT`.

# %% [markdown]
# **Exercise 1** (recall). At which epoch does every question first train on its whole
# rationale? Read it off the schedule (Algorithm 1), then check KPOD's `full_rationales` column.
#
# **Exercise 2** (apply). The template teacher labels every character (`spans`: number,
# operator, result, ..., filler). Predict which labels carry the highest and the lowest mean
# learned w_j, then compute them over the thread's rationales.
#
# **Exercise 3** (experiment). Predict: compared with plain CoT's student, does KPOD's do
# relatively better on the high-weight tokens (w_j ≥ 0.5: numbers, results, the answer
# sentence) than on the rest? Split section 6's per-token losses by weight and explain with Eq. 15.

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. Epoch e trains stage t = e - 1 while e <= T, whole rationales after (Algorithm 1), or
# sooner if a stage took the last given step. `plan.input_steps` takes the epoch counted from 0.
first_epoch = 1 + next(e for e in range(cfg.epochs) if not any(plan.input_steps(e).values()))
first_full = next(row["epoch"] for row in histories["kpod"][0] if row["full_rationales"] == 1.0)
print(f"schedule: every c_i = 0 first at epoch {first_epoch} (T = {plan.T}); KPOD's history: {first_full}")
assert first_epoch <= plan.T + 1 and first_full == first_epoch

# %% jupyter={"source_hidden": true}
# Solution 2. A rationale token takes the label of its first non-space character (notebook 03's
# rule). Numbers, "=" and results should be near 1, connecting words and filler near 0.
by_label = {}
for r in (r for r in rationales if r.get("spans")):
    label = [lab for start, end, lab in r["spans"] for _ in range(start, end)]
    w_record = weight_records[(r["id"], int(r.get("sample", 0)))]
    for (a, b), w_j in zip(w_record["offsets"], w_record["weights"]):
        first = next((k for k in range(a, b) if not r["rationale"][k].isspace()), None)
        if first is not None:
            by_label.setdefault(label[first], []).append(w_j)
if by_label:
    means = sorted(((sum(v) / len(v), lab, len(v)) for lab, v in by_label.items()), reverse=True)
    for mean_w, lab, n in means:
        print(f"{lab:<9} {n:6d} tokens, mean w_j {mean_w:.3f}")
    assert min(sum(by_label[k]) / len(by_label[k]) for k in ("number", "result")) > sum(by_label["filler"]) / len(by_label["filler"])
else:
    print(f"skipped: the {cfg.teacher!r} teacher's rationales carry no labels")

# %% jupyter={"source_hidden": true}
# Solution 3. Eq. 15 gives a low-weight token λ + (1 − λ) w_j of its loss (λ = 0.2 on tiny), so
# KPOD's student learns those tokens less: relative to plain CoT's, its loss should rise more on
# them than on the high-weight ones, which both train at full weight.
def nll_by_weight(method, records, batch_size=32):
    """Mean −log P per target token of a trained student at c = 0: (w_j ≥ 0.5, w_j < 0.5)."""
    student, tok = evaluate.load_trained(pipeline.student_dir(run_dir, method, cfg.seed) / "model", cfg)
    sums, counts = torch.zeros(2), torch.zeros(2)
    for start in range(0, len(records), batch_size):
        chunk = distill.stage_examples(records[start:start + batch_size], weight_records,
                                       {r["id"]: 0 for r in records}, tok, cfg, family)
        batch = {k: v.to(student.device) for k, v in distill.pad_batch(chunk, tok.pad_token_id).items()}
        with torch.no_grad():
            nll, weights, is_target = my_token_nll(student, batch)
        high = is_target & (weights >= cfg.token_weight_floor + (1 - cfg.token_weight_floor) * 0.5)
        low = is_target & ~high
        sums += torch.stack([nll[high].sum(), nll[low].sum()]).cpu()
        counts += torch.stack([high.sum(), low.sum()]).cpu()
    return sums / counts


split = {m: nll_by_weight(m, same) for m in ("plain-cot", "kpod")}
for m, (high, low) in split.items():
    print(f"{m:<9} loss per token: w_j ≥ 0.5 {high:.3f}, the rest {low:.3f}, ratio {high / low:.2f}")
relative = (split["kpod"] / split["plain-cot"]).tolist()
print(f"KPOD / plain CoT: on high-weight tokens {relative[0]:.2f}, on the rest {relative[1]:.2f}")
if cfg.name == "tiny":  # a rehearsal's random teacher gives its weights no meaning
    assert relative[0] < relative[1]
