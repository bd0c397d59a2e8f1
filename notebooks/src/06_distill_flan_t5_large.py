# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/06_distill_flan_t5_large.ipynb)
#
# # 06. Distilling the student: progressive, keypoint-weighted training (Eq. 14-15)
#
# Everything so far prepared two inputs for one training loop: a weight w_j for every
# rationale token (notebook 02) and, for every question and every epoch, a number c_i(t) of
# rationale steps the student is *given* rather than asked to write (notebooks 03-05). This
# notebook is that loop. At stage t the student reads the question plus the first c_i(t)
# steps and learns to write the rest (Eq. 14); each token it writes counts with its weight
# w_j (Eq. 15). You build one stage's training example, its per-token weights and the batch
# loss from scratch, check each against `kpod_lite.distill`, then distil two students with
# `kpod_lite.pipeline` — plain CoT distillation (Eq. 1) and KPOD — and look at their
# training curves, the curriculum, their accuracy and their generations. The same cells run
# FlanT5-Large on a GPU when the config cell says so (last section).
# **Runs in** about 1.5 minutes on 2 CPU cores (tiny preset) and an estimated 23-56 minutes on
# a Colab T4 with the `colab` preset (from FLOPs and kernel launches, not measured).
# `KPOD_PRESET=colab-rehearsal` runs the `colab` preset's code path on a CPU in about a minute
# (random-weight FlanT5 family, SentencePiece stand-in tokenizer): a rehearsal, not a result.
#
# **After this notebook you can** write down the input and the target of any question at any
# stage, say which tokens of a target carry how much loss and why the answer sentence keeps
# weight 1, compute Eq. 15 over a padded batch by hand for a seq2seq or a causal student, run
# a distillation through the Hugging Face Trainer with `kpod_lite`, and move the run to
# FlanT5-Large or LLaMA-7B on a GPU.
#
# **Paper:** §3.4 (Eq. 14), §3.5 (Eq. 15), App. A (students, LoRA, optimiser, epochs),
# App. B (Algorithm 1).

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
# **The task and the student.** With the tiny preset this notebook distils the tiny LLaMA
# (0.66M parameters, causal) on the tiny preset's own synthetic task: 2-3 steps of + and - on
# numbers up to 9. It is easier than the split of notebooks 00-05, and on it a student this
# small reaches 20-35%, so methods can be compared at all (docs/RESULTS.md, "Calibration");
# notebook 07 uses the same task and student.
#
# **Counting.** As in notebook 04, the stage index t runs from 0 (the paper's t = 0..T) and
# epochs are counted from 1, as in the training histories: epoch e trains with the c_i of
# stage t = e - 1.

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # tiny | colab | flan-t5-large | flan-t5-xl | llama-7b | colab-rehearsal
# What the GPU presets hold. App. A gives Adam and batch size 4 for every student; for FlanT5
# models learning rate 5e-5 and 100 epochs (T = 50); for LLaMA-7B 1e-5 and 20 epochs on GSM8K.
# Its LoRA ranks are r = 128 for FlanT5-XL and r = 64 for LLaMA-7B; it gives none for FlanT5-Large.
#   flan-t5-xl:    LoRA r = 128 (App. A), GSM8K
#   flan-t5-large: LoRA r = 128, the -XL value: ours, where App. A is silent; GSM8K
#   llama-7b:      LoRA r = 64 (App. A), 20 epochs on GSM8K (T = 10)
#   colab:         ours: FlanT5-Large as above on Table 4's SVAMP with the released GPT-3.5
#                  rationales (offline, no API key), 200 questions, 6 epochs: 23-56 min on a T4 (estimated)
#   colab-rehearsal, llama-7b-rehearsal: ours, the code path of colab / llama-7b on a CPU (random weights)
# LLaMA-7B instead of FlanT5-Large is a change of this cell only: PRESET = "llama-7b" and
# STUDENT = a local folder or hub id of LLaMA-7B weights (they are gated, so you name them).
# Hours and memory per GPU: README, "Which preset on which GPU".
STUDENT = None  # None: the preset's student
DATASET = None  # None: the preset's; or a data source, fetched once: "mcckd-gsm8k", "mcckd-svamp", "gsm8k", ...
TEACHER = None  # None: the preset's; "released" (MCC-KD's GPT-3.5 rationales, mcckd-* data), "openai", "hf", "gold"
EPOCHS = None  # None: the preset's (App. A: 100 for FlanT5)
TRAIN_SIZE = None  # None: the preset's; a number: a seeded subset of the training questions
SHORT_TINY_RUN = True  # tiny only: 160 questions, 4 epochs, for a ~2-minute lesson; False: the full tiny preset
RUN_DIR = None  # None: a new temporary folder for tiny and the rehearsals, ../runs/nb06-<preset> otherwise

# %%
# %matplotlib inline
import io
import json
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, Image, Markdown, display
from torch.nn import functional as F
from transformers.utils import logging as hf_logging

from kpod_lite import data, distill, pipeline, viz
from kpod_lite.config import preset
from kpod_lite.models import is_local_build, load_student, student_family
from kpod_lite.presets_check import check_student_family
from kpod_lite.schedule import Schedule

cfg = preset(PRESET)
if is_local_build(cfg.student):  # a progress widget per load of a local model would clutter the page;
    hf_logging.disable_progress_bar()  # a GPU preset keeps the bars: its first load is a 3 GB download
if DATASET:
    cfg = cfg.replace(**data.source_settings(DATASET))  # its train and test splits, its format
if cfg.name == "tiny" and SHORT_TINY_RUN:
    # A SHORTENED tiny run: a fifth of the questions, half the epochs, a shorter mask learning.
    cfg = cfg.replace(epochs=4, weighting_epochs=2, train_size=160, test_size=50, ood=(),
                      weighting_predictor_warmup_steps=100)
changes = {"student": STUDENT, "teacher": TEACHER, "epochs": EPOCHS, "train_size": TRAIN_SIZE}
cfg = cfg.replace(**{key: value for key, value in changes.items() if value is not None})
check_student_family(cfg)  # a LLaMA with FlanT5's learning rate and LoRA rank is refused, saying what to set
# A CPU-sized student (tiny, or a rehearsal of a GPU preset) gets a fresh temporary folder; a GPU
# run keeps its folder, so a kernel restart resumes it where it stopped.
run_dir = Path(RUN_DIR) if RUN_DIR else (
    Path(tempfile.mkdtemp(prefix="kpod-nb06-")) if is_local_build(cfg.student) else Path("..") / "runs" / f"nb06-{cfg.name}")

# %% [markdown]
# **Before anything long starts**, the next two cells say what this run needs from you and what
# it costs. The questions come from a data source (`DATASET`) and the rationales from a teacher
# (`TEACHER`). The `colab` preset needs neither: its SVAMP split ships with MCC-KD's GPT-3.5
# rationales (the `released` teacher: offline, no API key). `flan-t5-large` and the other GPU
# presets are GSM8K with an `openai` teacher, so they need a `DATASET` and either a key in the
# environment or `TEACHER = "released"` or `"gold"`. Hours come from `kpod_lite.gpu_time` (FLOPs at
# 15-40% utilisation, or kernel launches where they bind) and memory from `kpod_lite.memory`; both are estimates, for
# KPOD and plain CoT, one seed each. The published FlanT5 and LLaMA-7B shapes are built in, so
# nothing is downloaded for them. If something is missing the second cell stops with a list of
# what to set. On a GPU, `pipeline.run` estimates again before its first stage and refuses a
# stage that cannot fit.

# %%
# NBVAL_CHECK_OUTPUT
import re

from kpod_lite import gpu_time
from kpod_lite.config import ConfigError
from kpod_lite.families import family_of
from kpod_lite.memory import GiB, estimate_memory, format_estimates, load_model_config, model_shape
from kpod_lite.models.published import PUBLISHED, published_config


def what_you_provide(cfg):
    """(what the run has, what it still needs from you): questions, teacher, the teacher's key."""
    have, need = [], []
    if cfg.dataset == "synthetic":
        have.append("questions: synthetic, generated here")
    elif cfg.train_file is None:
        need.append(f"DATASET: preset {cfg.name!r} is set up for {cfg.dataset} but names no files; set e.g. "
                    f"DATASET = 'mcckd-gsm8k' (Table 4's split, with released GPT-3.5 rationales) or 'gsm8k' "
                    f"(with worked solutions); `kpod-lite fetch` lists the sources, each is downloaded once")
    else:
        have.append(f"questions: {cfg.train_file} and {cfg.test_file}, downloaded once into the data cache")
    # MCC-KD's splits (fetched as "mcckd-*", or a file in their instruction format) ship rationales
    released_data = str(cfg.train_file).startswith("mcckd-") or cfg.data_format == "instruction"
    if cfg.teacher == "template":
        have.append("teacher: template, written from the synthetic programs (offline)")
    elif cfg.teacher == "released" and (released_data or cfg.train_file is None):
        have.append("teacher: released, MCC-KD's GPT-3.5 rationales shipped with the data (offline, no API key)")
    elif cfg.teacher == "released":
        need.append("TEACHER = 'released' reads the rationales shipped with MCC-KD's splits: "
                    "DATASET = 'mcckd-gsm8k', 'mcckd-svamp', ...")
    elif cfg.teacher == "openai":
        server = os.environ.get("OPENAI_API_KEY") or cfg.teacher_base_url or os.environ.get("OPENAI_BASE_URL")
        model = cfg.teacher_model or os.environ.get("KPOD_TEACHER_MODEL")
        if server and model:
            have.append(f"teacher: openai, model {model} (the key is read from the environment, never stored)")
        else:
            need.append("TEACHER: 'openai' needs OPENAI_API_KEY (or OPENAI_BASE_URL for a server of your own) and "
                        "KPOD_TEACHER_MODEL in the environment; without a key: TEACHER = 'released' with an "
                        "'mcckd-*' DATASET (what the colab preset does), or TEACHER = 'gold' with DATASET = 'gsm8k'")
    elif cfg.teacher == "hf" and not cfg.teacher_model:
        need.append("TEACHER = 'hf' needs teacher_model: a local folder or a hub id")
    else:
        have.append(f"teacher: {cfg.teacher}")
    return have, need


def gpu_estimate(cfg, gpus=("T4", "L4", "A100")):
    """Hours (kpod_lite.gpu_time) and peak GPU memory (kpod_lite.memory) of this notebook's run."""
    arch = (published_config(cfg.student) if cfg.student in PUBLISHED
            else load_model_config(cfg.student, cfg.trust_remote_code))  # reads config.json only
    parameters = model_shape(arch).parameters
    data_shape, lengths = (gpu_time.SVAMP, "SVAMP's") if cfg.dataset == "svamp" else (gpu_time.GSM8K, "GSM8K's")
    questions = min(cfg.train_size or data_shape.train_questions, data_shape.train_questions)
    print(f"  {cfg.name}: {cfg.student} ({parameters / 1e6:.0f}M parameters), {questions} training questions "
          f"at {lengths} lengths, {cfg.epochs} epochs, LoRA r = {cfg.lora_rank if cfg.lora else '-'}, "
          f"{'eager' if model_shape(arch).eager_attention else 'SDPA'} attention")
    for key in gpus:
        gpu = gpu_time.GPUS[key]
        memory = estimate_memory(cfg, arch, bf16=gpu.bf16_tflops is not None)
        peak = max(memory.values(), key=lambda e: e.total)
        hours = gpu_time.estimate_hours(cfg, parameters, data_shape, gpu, model_config=arch)
        spent = (f"{hours['low'] * 60:.0f}-{hours['high'] * 60:.0f} min" if hours["high"] < 1
                 else f"{hours['low']:.0f}-{hours['high']:.0f} h")
        fits = peak.total <= gpu.memory_mib * 2 ** 20 - GiB // 2  # half a GiB for the CUDA context
        print(f"    {gpu.name:<15} {spent:>11}, peak {peak.total / GiB:5.1f} GiB ({peak.stage}) "
              f"of {gpu.memory_mib / 1024:.0f} GiB{'' if fits else ': does not fit'}, "
              f"{'bf16' if gpu.bf16_tflops and cfg.bf16 else 'float32'}")
    return arch


have, need = what_you_provide(cfg)
print("this run has:", *(have or ["nothing yet"]), sep="\n  ")

# %%
# Not compared under nbval: the estimate follows the installed transformers. T5 in transformers 4
# has no SDPA kernel, so its eager attention keeps every s x s score for the backward pass, which
# costs the weighting stage about 3 GiB more at the colab preset's lengths.
if cfg.name == "tiny":
    print("the tiny preset runs on the CPU (its time is at the top); what the GPU presets would take, "
          "estimated, not measured:")
    for name in ("colab", "flan-t5-large"):
        gpu_estimate(preset(name))
else:
    print("estimated, not measured:")
    name = torch.cuda.get_device_name().replace("RTX ", "RTX") if torch.cuda.is_available() else ""
    here = next((key for key in gpu_time.GPUS if re.search(rf"(?<![0-9A-Za-z]){key}(?![0-9])", name)), None)
    try:
        arch = gpu_estimate(cfg, tuple(dict.fromkeys(["T4", "L4", "A100"] + ([here] if here else []))))
        if torch.cuda.is_available():  # this GPU, by stage, with its own answer on bf16
            print(format_estimates(estimate_memory(cfg, arch)))
    except OSError as error:  # a hub student and no network: the estimate needs its config.json
        print(f"  no estimate: {error}")
if need:
    raise ConfigError(f"preset {cfg.name!r} cannot start yet; set in the config cell:\n  - " + "\n  - ".join(need))
# seq2seq or causal, read off the model's config (kpod_lite.families); published shapes need no download
family = family_of(published_config(cfg.student)) if cfg.student in PUBLISHED else student_family(cfg)
causal = not family.seq2seq

# %%
# NBVAL_CHECK_OUTPUT
print(f"preset {cfg.name}: student {cfg.student} ({family.name}), LoRA {cfg.lora}" + (f" r = {cfg.lora_rank}" if cfg.lora else ""))
print(f"distillation: {cfg.epochs} epochs (T = {cfg.stage_T}), lr {cfg.learning_rate}, batch {cfg.batch_size}, "
      f"bf16 requested: {cfg.bf16}")
print(f"questions: {cfg.train_file or 'synthetic'}; train_size {cfg.train_size or 'all'}, "
      f"test_size {cfg.test_size or 'all'}; teacher {cfg.teacher}")

# %% [markdown]
# **About the tiny run in this notebook.** With the tiny preset the notebook runs a
# *shortened* version of it (160 training questions instead of 800, 4 epochs instead of 8,
# 2 epochs of mask learning after 100 warm-up steps instead of 4 after 400, 50 test
# questions, no out-of-distribution sets) so that it finishes in a few minutes on 2 CPU
# cores. Its accuracies are **not** the calibrated tiny result, and a difference between the
# two students here means nothing: both have barely started to learn, each is one seed on 50
# questions, and its short mask learning leaves the token weights nearly flat, so its "KPOD"
# is close to unweighted (section 5 measures both). The comparison that can decide is the
# pre-registered one in docs/RESULTS.md: the full tiny preset, 5 seeds x 500 test questions,
# paired by seed and question, with a bootstrap interval, made by
#
#     kpod-lite run --preset tiny --methods plain-cot kpod --seeds 5 --set test_size=500
#
# Notebook 07 reads that run.
#
# What this run does show faithfully is the mechanics: the examples, the weights, the loss,
# the curriculum and the Trainer loop are exactly those of the full run.
#
# ## 1. The run folder, up to the schedule
#
# Distillation needs three files that earlier notebooks taught how to make: the teacher's
# rationales (§3.1, notebook 01), their token weights (Eq. 2-7, notebook 02) and the schedule
# of input steps (Eq. 8-13, notebooks 03-05). `pipeline.run` with `stages=("schedule",)`
# makes them and stops; called again later without `stages` it reuses them and carries on.

# %%
start = time.perf_counter()
pipeline.run(cfg, run_dir, methods=("plain-cot", "kpod"), stages=("schedule",))
seconds_before_distill = json.loads((run_dir / "results" / "summary.json").read_text())["seconds_by_stage"]
print(f"run folder {run_dir.name}: {sorted(p.name for p in run_dir.iterdir())}")
print("seconds by stage:", seconds_before_distill)

rationales = [record for _, record in data.read_jsonl(run_dir / "rationales.jsonl")]
weight_records = {(r["id"], int(r.get("sample", 0))): r for _, r in data.read_jsonl(run_dir / "weights.jsonl")}
plan = Schedule.load(run_dir / "schedule.json")
print(f"{len(rationales)} rationales, {len(weight_records)} weight records, "
      f"a schedule for stages 0..{len(plan.stages) - 1} (T = {cfg.stage_T}: epochs 1..T train stages 0..T-1, "
      f"later epochs c_i = 0)")

# %% [markdown]
# ## 2. The stage-t example (Eq. 14), from scratch
#
# Eq. 14 sums the student's loss over the rationale tokens from p_{c_i(t)+1}, the first token
# of step c_i(t) + 1, to q_{n_i}, the last token of the last step. Everything before that
# position is *input*. With steps cut at "." (§3.4, `data.split_steps`), one question at
# stage t becomes
#
#     input  = "Q: <question>\nA: Let's think step by step." + the first c steps
#     target = the remaining steps + "Therefore, the answer is <y>."
#
# The prompt is the zero-shot CoT template of §3.1, the same the student sees at test time
# (with c = 0). The answer sentence is the second term of Eq. 1, which §3.5 leaves out of
# Eq. 15 "as it remains constant": it is always part of the target. One question of the
# run, and the c_i(t) that the schedule gives it at each epoch:

# %%
record = next(r for r in rationales if len(data.split_steps(r["rationale"])) >= 3)
steps = [s.text for s in data.split_steps(record["rationale"])]
print(f"question {record['id']}, {len(steps)} steps, answer {record['answer']}")
for k, step in enumerate(steps, 1):
    print(f"  step {k}: {step}")
print(f"c_i(t) for stages t = 0..{cfg.epochs - 1} (epochs 1..{cfg.epochs}):",
      [plan.input_steps(t)[record["id"]] for t in range(cfg.epochs)])


# %% [markdown]
# Before stage 0 every question holds n_i − 1 given steps (only its last step to write);
# each stage that selects it takes Δs = 1 step away (Eq. 11), and after epoch T every c_i is
# 0 (Algorithm 1). Now the example for c = 0, 1, 2, by hand, and the same built by
# `distill.split_at_step` and `distill.stage_examples`, whose token ids we decode back to
# text (input = the tokens with label −100, target = the labelled ones):

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
for c in (0, 1, 2):
    source, target = my_stage_example(record, c)
    given, offset = distill.split_at_step(record["rationale"], c)  # kpod_lite: the first c steps, p_{c+1}
    assert source.endswith(given) and target.startswith(record["rationale"][offset:].strip())
    example = distill.stage_examples([record], weight_records, {record["id"]: c}, tokenizer, cfg, family)[0]
    assert my_token_ids(source, target) == (example["input_ids"], example["labels"])
    n_input = example["labels"].count(-100) if causal else len(example["input_ids"])
    print(f"--- c = {c}, as kpod_lite tokenised it ({n_input} input tokens, "
          f"{sum(t != -100 for t in example['labels'])} target tokens)")
    print(f"INPUT : {decode(example['input_ids'][:n_input])}")
    print(f"TARGET: {decode([t for t in example['labels'] if t != -100]).strip()}")

# %% [markdown]
# The token ids built by hand are exactly those of `kpod_lite`, and three things are worth
# noting. The rationale text is never rewritten: it is cut at the character where step
# c + 1 starts, so the target of stage t is a suffix of the teacher's rationale plus the
# answer sentence. (Decoded FlanT5 text shows the "\n" of the prompt as a space: T5's
# vocabulary has no newline.) For a causal student (the tiny LLaMA, LLaMA-7B) input and target
# are one sequence whose input positions carry the label −100, so they are read but not
# learned; for FlanT5 the input goes to the encoder and the target to the decoder. And the
# evaluation prompt is exactly the c = 0 input: the curriculum ends where the test begins.
#
# ## 3. The weight of each target token (Eq. 15)
#
# The weights were computed once per token of the *rationale* (the weight record holds the
# tokens, their character offsets in the rationale and their weights). The target is a
# different string (a suffix, with the answer sentence appended), so its tokens are mapped
# back: a target token takes the weight of the rationale token *with the same characters*;
# only when none has exactly its span, of the rationale token that owns most of its
# characters. A token of the answer sentence, and the end-of-sequence token, get 1.
#
# Why "the same characters" first: a SentencePiece tokenizer (FlanT5's, LLaMA's) often writes
# a lone word marker "▁" before a number or an operator, and gives it the *same* character
# span as the token after it ("▁", "+" both cover the "+"). Taking the first token covering a
# character would give the keypoint "+" the weight of its "▁" marker. So equal spans are
# matched in order (the k-th "▁"-sharing token of the target is the k-th of the rationale),
# and a character covered by several tokens is owned by the narrowest, then the later one.
#
# One addition is ours, not the paper's: a floor λ (`token_weight_floor`). A rationale token
# is trained with λ + (1 − λ) w_j, so no token falls below λ of its plain loss. The paper's
# Eq. 15 is λ = 0, which the GPU presets keep; the tiny preset sets λ = 0.2, because its
# student, with the connecting words weighted near 0, never learned to write a sentence
# (docs/RESULTS.md, "Calibration"). From scratch:

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
for r in rationales[:200]:  # the tiny run has 160; GSM8K's 7,473 would only take longer
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

# %% [markdown]
# The weights of the example question's target at c = n_i − 1 (its last step and the
# answer sentence), token by token:

# %%
c = len(steps) - 1
weight_record = weight_records[(record["id"], int(record.get("sample", 0)))]
ids, raw = my_target_weights(record, c, weight_record, floor=0.0)  # the learned w_j
_, trained = my_target_weights(record, c, weight_record)  # what Eq. 15 multiplies (with the floor)
pieces = [tokenizer.decode([i]) for i in ids]
print(f"target at c = {c}: {len(ids)} tokens; mean w_j {sum(raw) / len(raw):.3f}, "
      f"mean trained weight {sum(trained) / len(trained):.3f} (λ = {cfg.token_weight_floor})")
print(f"{'j':>3}  {'token':<13} {'w_j':>5} {'λ+(1-λ)w_j':>10}    " * 2)
rows = [f"{j:>3}  {piece!r:<13} {w:5.3f} {v:10.3f}    " for j, (piece, w, v) in enumerate(zip(pieces, raw, trained))]
for k in range(0, len(rows), 2):
    print("".join(rows[k:k + 2]))

# %%
def weight_strip(pieces, weights):
    """The target as HTML: the lower the weight, the paler the token (hover for w_j)."""
    spans = [f'<span title="w = {w:.3f}" style="background: rgba(214, 39, 40, {w:.2f}); padding: 1px">'
             f'{piece.replace("<", "&lt;")}</span>' for piece, w in zip(pieces, weights)]
    return f'<div style="font-family: monospace; line-height: 1.8">{"".join(spans)}</div>'


ids0, weights0 = my_target_weights(record, 0, weight_record, floor=0.0)  # the learned w_j
display(HTML(weight_strip([tokenizer.decode([i]) for i in ids0], weights0)))

# %% [markdown]
# The learned w_j of the whole target (c = 0): deep red is weight 1 (the answer sentence
# always is), pale is a low weight. How sharp the
# contrast is depends on the mask learning: the shortened tiny run trains it briefly, so its
# weights stay close to the starting value and separate keypoints from filler words only
# mildly; notebook 02 trains it properly and scores the result against the synthetic
# keypoint labels.
#
# ## 4. The loss of a batch (Eq. 15), from scratch
#
# Eq. 15 is a sum of −w_j log P(r_j | r_<j, x) over the target tokens of every question.
# `kpod_lite` normalises it (the paper writes plain sums):
#
# $$\text{loss} = \frac{\sum_{\text{target tokens } j} w_j \cdot \big(-\log P(r_j \mid r_{<j}, x)\big)}
#   {\text{number of target tokens in the batch}}$$
#
# Dividing by the token count, not by Σ w_j, keeps the weights' effect: a low weight really
# shrinks its token's gradient, and with every w_j = 1 the loss is the ordinary mean token
# cross-entropy, so the learning rate keeps its usual meaning. A batch is a few stage-0
# examples padded to one length by `distill.pad_batch`: ids with the pad token, labels with
# −100 and weights with 0, so padding never counts.

# %%
examples = distill.stage_examples(rationales[:4], weight_records, plan.input_steps(0), tokenizer, cfg, family)
batch = distill.pad_batch(examples, tokenizer.pad_token_id)
batch = {key: value.to(model.device) for key, value in batch.items()}
print({key: tuple(value.shape) for key, value in batch.items()},
      "| target tokens per example:", (batch["labels"] != -100).sum(dim=1).tolist())

with torch.no_grad():
    if causal:  # position k predicts token k + 1: drop the last logits, the first labels
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logits_, labels_, weights_ = logits[:, :-1], batch["labels"][:, 1:], batch["weights"][:, 1:]
    else:  # T5 builds its decoder inputs from the labels; logits line up with them
        logits = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).logits
        logits_, labels_, weights_ = logits, batch["labels"], batch["weights"]
    is_target = labels_ != -100
    log_p = torch.log_softmax(logits_.float(), dim=-1)
    nll = -log_p.gather(-1, labels_.clamp(min=0).unsqueeze(-1)).squeeze(-1)  # -log P(r_j | r_<j, x)
    my_loss = (weights_ * nll * is_target).sum() / is_target.sum()  # Eq. 15, normalised
    my_loss_ones = (nll * is_target).sum() / is_target.sum()  # every w_j = 1 (plain CoT, Eq. 1)

    # kpod_lite: the Trainer's own compute_loss (it only needs the family, and no curriculum of
    # Table 2's last rows) ...
    lib_loss = distill.KPODTrainer.compute_loss(SimpleNamespace(family=family, curriculum=None), model, dict(batch))
    # ... which shifts labels and weights (not the logits) and calls weighted_token_loss.
    shifted = (F.pad(batch["labels"][:, 1:], (0, 1), value=-100), F.pad(batch["weights"][:, 1:], (0, 1))) \
        if causal else (batch["labels"], batch["weights"])
    lib_ones = distill.weighted_token_loss(logits, shifted[0], torch.ones_like(shifted[1]))
    model_loss = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).loss

tol = 1e-5 if logits.dtype == torch.float32 else 1e-2
assert torch.allclose(my_loss, lib_loss, atol=tol)
assert torch.allclose(my_loss_ones, lib_ones, atol=tol) and torch.allclose(my_loss_ones, model_loss.float(), atol=tol)
print(f"Eq. 15, weighted:   mine {my_loss.item():.4f}   KPODTrainer.compute_loss {lib_loss.item():.4f}")
print(f"all weights 1:      mine {my_loss_ones.item():.4f}   weighted_token_loss {lib_ones.item():.4f}   "
      f"the model's own loss {model_loss.item():.4f}")
print(f"mean target weight {(weights_ * is_target).sum().item() / is_target.sum().item():.3f}; "
      f"weighted / unweighted loss = {my_loss.item() / my_loss_ones.item():.3f}")

# %% [markdown]
# With all weights 1 the hand-made loss equals the loss the `transformers` model computes
# itself from the labels, so plain CoT distillation (Eq. 1) is the special case w ≡ 1 with
# c_i(t) = 0. With the learned weights the loss is smaller, by about the mean weight of the
# target tokens (not exactly: the weights multiply token losses of different sizes).
#
# ## 5. The whole run: plain CoT against KPOD
#
# `pipeline.run(cfg, run_dir, methods=("plain-cot", "kpod"))` now trains one student per
# method on the Hugging Face Trainer (`distill.KPODTrainer`, whose `compute_loss` you just
# checked), with `distill.CurriculumCallback` moving every question to its c_i(t) at the
# start of each epoch, and evaluates each on the test questions: greedy generation from the
# c = 0 prompt and the answer read off "Therefore, the answer is …" (§4.1). Stages already in
# the run folder are reused. A run that is killed resumes from its last epoch checkpoint.

# %%
del model, logits, logits_, log_p  # the pipeline loads its own students: free the memory (on a GPU it matters)
if torch.cuda.is_available():
    torch.cuda.empty_cache()
table = pipeline.run(cfg, run_dir, methods=("plain-cot", "kpod"), progress=True)  # a bar with an ETA per stage
summary = json.loads((run_dir / "results" / "summary.json").read_text())
seconds = {stage: round(seconds_before_distill.get(stage, 0.0) + summary["seconds_by_stage"].get(stage, 0.0), 1)
           for stage in pipeline.STAGES}
print("seconds by stage (both calls):", seconds, f"| this notebook so far: {time.perf_counter() - start:.0f} s")
display(Markdown(table))

# %% [markdown]
# The rows "teacher" and "student before distillation" frame the table: the template teacher
# is right by construction, and the pretrained student, given the same zero-shot prompt, has
# never seen a rationale written this way.
#
# **How much these two accuracies can say.** Two things limit them. First, how different
# KPOD's loss is from plain CoT's depends on how spread its token weights are, and a short
# mask learning leaves them nearly flat. Second, each accuracy comes from one seed on the test
# questions of this run. With one seed the table's "± 0.0" is the spread over a single value,
# not an uncertainty. The binomial standard error of one accuracy p on n questions,
# √(p(1 - p)/n), is a lower bound on the real one, because another seed moves it too. The
# next cell measures both and draws that standard error on the accuracy bars:

# %%
def show(fig):
    """Display a `kpod_lite.viz` figure (a matplotlib Figure, not drawn yet) as one PNG image, at
    a fixed size and resolution, and close it, so the inline backend does not draw it a second
    time at the end of the cell."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    display(Image(buffer.getvalue()))


# The spread of the learned w_j (Eq. 15) over every rationale token, and what training multiplies.
learned = torch.tensor([w for r in weight_records.values() for w in r["weights"]])
trained = cfg.token_weight_floor + (1 - cfg.token_weight_floor) * learned  # λ + (1 - λ) w_j
for label, values in (("learned w_j", learned), (f"trained λ + (1 - λ) w_j, λ = {cfg.token_weight_floor}", trained)):
    q = torch.quantile(values, torch.tensor([0.0, 0.05, 0.5, 0.95, 1.0])).tolist()
    print(f"{label:<34} min {q[0]:.2f}  5% {q[1]:.2f}  median {q[2]:.2f}  95% {q[3]:.2f}  max {q[4]:.2f}"
          f"  -> the top 5% count {q[3] / q[1]:.2f}x the bottom 5%")
print(f"({learned.numel()} rationale tokens; a ratio near 1 means KPOD's loss is close to the unweighted one)")

# One seed on n questions: a binomial standard error, √(p(1 - p)/n), the least the accuracy is uncertain.
evals = {m: json.loads((pipeline.student_dir(run_dir, m, cfg.seed) / "eval.json").read_text())["test"]
         for m in ("plain-cot", "kpod")}
n_test = evals["kpod"]["questions"]
se = {m: (e["accuracy"] * (1 - e["accuracy"]) / e["questions"]) ** 0.5 for m, e in evals.items()}
for m, e in evals.items():
    print(f"{m:<9} {100 * e['accuracy']:5.1f}% of {e['questions']} questions, 1 seed: ± {100 * se[m]:.1f} points "
          f"(one binomial standard error)")
gap = evals["kpod"]["accuracy"] - evals["plain-cot"]["accuracy"]
gap_se = (se["kpod"] ** 2 + se["plain-cot"] ** 2) ** 0.5
print(f"KPOD - plain CoT: {100 * gap:+.1f} ± {100 * gap_se:.1f} points: "
      + ("within two standard errors of 0, no evidence either way" if abs(gap) < 2 * gap_se else
         "more than two standard errors from 0 on these questions, but still one seed of a shortened run"))

results = json.loads((run_dir / "results" / "results.json").read_text())
fig = viz.accuracy_figure(results["rows"])  # its bars: mean ± std over seeds (none with one seed)
ax, shown_rows = fig.axes[0], [row for row in results["rows"] if "test_mean" in row]
means = [row["test_mean"] for row in shown_rows]
ax.errorbar(means, range(len(shown_rows)), fmt="none", ecolor="tab:orange", capsize=5, lw=1.5,
            xerr=[100 * (m / 100 * (1 - m / 100) / n_test) ** 0.5 for m in means])
ax.set_xlabel(f"test accuracy (%); orange: ± 1 binomial standard error over {n_test} questions")
show(fig)

# %% [markdown]
# Read the printout plainly. In the shortened tiny run the weights are nearly flat: every
# token is trained with about the same weight, so "KPOD" here is the progressive schedule plus
# a near-constant rescaling of the loss, close to unweighted. Its accuracy and plain CoT's are
# one seed each on its 50 test questions, several points wide, and their difference should not
# be read as a result. For that, see the pre-registered comparison in docs/RESULTS.md (the full tiny
# preset, 5 seeds x 500 questions, paired, with a bootstrap interval), which notebook 07
# rebuilds.
#
# **The training curves and the curriculum.** Each student folder holds `history.json`, one
# row per epoch (counted from 1; epoch e trains stage t = e - 1), with the mean training loss
# and the statistics of that epoch's examples.

# %%
histories = {m: [json.loads((pipeline.student_dir(run_dir, m, cfg.seed) / "history.json").read_text())["history"]]
             for m in ("plain-cot", "kpod")}
print(f"{'method':<10} {'epoch':>5} {'mean c_i(t)':>11} {'full rationales':>15} {'target tokens':>13} {'loss':>7}")
for m, (rows,) in histories.items():
    for row in rows:
        print(f"{m:<10} {row['epoch']:>5} {row['mean_input_steps']:>11.2f} {row['full_rationales']:>15.0%} "
              f"{row['target_tokens']:>13} {row['loss']:>7.4f}")


for fig in (viz.loss_figure(histories), viz.curriculum_figure(histories)):
    show(fig)

# %% [markdown]
# Read the two curves of the first plot each for its own shape, not against each other: KPOD's
# loss is scaled down by its weights, and in its early stages its targets are shorter (the
# given steps are not learned), so its numbers are not on plain CoT's scale. The second plot
# is the progressive schedule at work: KPOD starts with part of each rationale given
# (mean c_i(t) > 0), and the count falls until epoch T = epochs / 2 (stage T - 1).
# From epoch T + 1 on, both methods train on whole rationales (Algorithm 1); plain CoT stays at 0
# throughout. The "target tokens" column says the same in tokens.

# %% [markdown]
# **What the students write.** Each evaluated student leaves `<set>.predictions.jsonl` with
# the generated text, the answer read off it and whether it is right. The same test questions,
# side by side:

# %%
predictions = {m: {p["id"]: p for _, p in data.read_jsonl(pipeline.student_dir(run_dir, m, cfg.seed)
                                                           / "test.predictions.jsonl")}
               for m in ("plain-cot", "kpod")}
ids = list(predictions["kpod"])
both = Counter((predictions["kpod"][i]["correct"], predictions["plain-cot"][i]["correct"]) for i in ids)
print(f"{len(ids)} test questions: both right {both[True, True]}, only KPOD {both[True, False]}, "
      f"only plain CoT {both[False, True]}, neither {both[False, False]}")
print("generations with the answer sentence 'Therefore, the answer is ...':",
      {m: sum("Therefore, the answer is" in p["generated"] for p in predictions[m].values()) for m in predictions})
print("most frequent answers:", {m: Counter(p["prediction"] for p in predictions[m].values()).most_common(3)
                                 for m in predictions})

shown = [i for i in ids if predictions["kpod"][i]["correct"] or predictions["plain-cot"][i]["correct"]][:2]
shown += [i for i in ids if i not in shown][:4 - len(shown)]
for i in shown:
    print(f"\nQ: {predictions['kpod'][i]['question']}\n   gold answer {predictions['kpod'][i]['answer']}")
    for m in ("kpod", "plain-cot"):
        p = predictions[m][i]
        print(f"   {m:<9} -> {p['prediction']!s:>5} ({'right' if p['correct'] else 'wrong'}): {p['generated'][:300]}")

# %% [markdown]
# After this short a training the students have learned the *shape* of a rationale (steps,
# an operation, the answer sentence) but not yet to take the numbers from the question: the
# numbers they write are mostly their favourite ones, and a "right" answer is often that
# favourite matching the gold one by chance (compare the most frequent answers above). The
# full tiny run takes ten times as many optimisation steps; judge the methods on it, in
# notebook 07.
#
# ## 6. The same cells on a GPU: FlanT5-Large, then LLaMA-7B
#
# Nothing above is specific to the tiny student. To distil FlanT5-Large as in the paper:
#
# * **Runtime.** On Colab choose a GPU runtime, open this notebook with the badge and run the
#   install cell (it keeps Colab's torch). The `flan-t5-large` preset trains LoRA adapters on
#   `google/flan-t5-large`, downloaded from the Hugging Face Hub. App. A gives LoRA ranks for
#   two students only, r = 128 for FlanT5-XL and r = 64 for LLaMA-7B. For FlanT5-Large it gives
#   none, and the preset's r = 128 (the -XL value) is our choice.
# * **Precision.** The GPU presets ask for bf16 (`bf16=True`); `kpod_lite` uses it only where
#   the GPU computes it natively (`models.bf16_supported`, `student_dtype`): Ampere and newer
#   (A100, L4, RTX 30xx/40xx). A T4 has not (recent torch reports emulated bf16 as supported;
#   kpod_lite asks for native support), so there the same preset runs in float32, which
#   FlanT5-Large with LoRA and gradient checkpointing fits (estimated 11.8 GiB, docs/GPU.md).
#   fp16 is not offered: T5 models are known to overflow in fp16 (inf/NaN activations), which
#   bf16's wider range avoids. The second cell after the config cell prints the estimated hours and
#   peak memory on common GPUs (and by stage on yours); before any stage, the run estimates
#   again and refuses a stage the GPU cannot hold, saying what to change.
# * **Data.** `DATASET` names a data source (`kpod-lite fetch` lists them): its files are
#   downloaded once into `~/.cache/kpod-lite/data` (or `$KPOD_DATA_CACHE`, e.g. on a mounted
#   Drive), checked against the checksum recorded the first time, and read in their own format.
#   `"mcckd-gsm8k"`, `"mcckd-svamp"`, ... are Table 4's splits, whose training questions carry
#   several GPT-3.5-Turbo rationales each (docs/REAL_DATA.md). The `flan-t5-large` preset
#   names no files, so it needs `DATASET`; the second cell after the config cell stops, listing what
#   is missing, before anything is downloaded or trained.
# * **Teacher.** `TEACHER = "released"` trains on those released rationales: the paper's data
#   setting at no cost, filtered by answer as §3.1 does (`teacher_samples` of them per
#   question). `"openai"` (§4.1's GPT-3.5-Turbo, or any OpenAI-compatible server) reads
#   `OPENAI_API_KEY` (and optionally `OPENAI_BASE_URL`) and the model name from
#   `KPOD_TEACHER_MODEL`, from the environment only; the key is never written to the run
#   folder, a cache, a log or this notebook. On Colab, put it in Colab's Secrets and copy it into
#   `os.environ` in a cell of your own. Answers are cached in `rationales.cache.jsonl`, so an
#   interrupted teacher run resumes without paying twice. `"gold"` (GSM8K's own worked
#   solutions) needs no API at all.
# * **Time.** App. A trains FlanT5 for 100 epochs over GSM8K's 7,473 questions: an estimated
#   153-407 hours on a T4, 9-34 on an A100 (README, "Which preset on which GPU"). `PRESET = "colab"`
#   is the same method on 200 SVAMP questions for 6 epochs, 23-56 minutes on a T4; set
#   `EPOCHS` and `TRAIN_SIZE` to scale between the two (T follows as half the epochs). The
#   run folder `../runs/nb06-<preset>` keeps every finished stage and an epoch checkpoint, so
#   re-running the notebook resumes; on Colab, point `RUN_DIR` at a mounted Google Drive
#   folder so it outlives the session.
# * **Several GPUs.** The Trainer runs data-parallel under `accelerate`; a notebook kernel is
#   one process, so launch the distillation step from a terminal (in `notebooks/`) once the
#   notebook has made the schedule (section 1), then re-run the notebook: it finds the
#   trained student and only evaluates it. For the preset as it is:
#
#       accelerate launch --multi_gpu --num_processes 2 -m kpod_lite.cli distill --preset flan-t5-large \
#           --method kpod --rationales ../runs/nb06-flan-t5-large/rationales.jsonl \
#           --weights ../runs/nb06-flan-t5-large/weights.jsonl --schedule ../runs/nb06-flan-t5-large/schedule.json \
#           --out ../runs/nb06-flan-t5-large/students/kpod/seed-0 --resume
#
#   `kpod-lite distill` reads the preset unchanged. If the config cell changed it (`STUDENT`,
#   `EPOCHS`, `TRAIN_SIZE`...), put the same `cfg` in a small script and launch that instead:
#
#       # distill_ddp.py -- accelerate launch --multi_gpu --num_processes 2 distill_ddp.py
#       from kpod_lite import distill
#       from kpod_lite.config import preset
#       cfg = preset("flan-t5-large").replace(epochs=10)  # the config cell's changes
#       run = "../runs/nb06-flan-t5-large"
#       distill.distill_files(f"{run}/rationales.jsonl", f"{run}/weights.jsonl", f"{run}/schedule.json",
#                             f"{run}/students/kpod/seed-{cfg.seed}", cfg, method="kpod", resume=True)
#
#   Each process takes `batch_size` examples per step, so the total batch is 4 × the number
#   of processes (App. A's is 4: set `batch_size` lower, or adjust the learning rate).
#
# **LLaMA-7B** is the config cell alone: `PRESET = "llama-7b"` and `STUDENT` naming your
# LLaMA-7B weights (add `DATASET` and `TEACHER` as for FlanT5). The preset sets App. A's values
# (LoRA r = 64, learning rate 1e-5, 20 epochs) and the causal family, so every cell above takes
# the causal branch, as the tiny LLaMA did here. It needs a GPU with bf16 and about 21 GB
# (estimated; one rationale a step in mask learning, gradient checkpointing).

# %% [markdown]
# ## Recap
#
# * Stage t of Eq. 14: input = the §3.1 prompt + the first c_i(t) steps, target = the
#   remaining steps + "Therefore, the answer is y."; at test time c = 0.
# * Eq. 15 weights each target token with the weight of the rationale token under it; the
#   answer sentence and the end token keep weight 1.
# * `kpod_lite` divides Σ w_j · NLL_j by the number of target tokens: with w ≡ 1 it is the
#   model's own cross-entropy, i.e. plain CoT distillation (Eq. 1); for a causal student the
#   labels and weights shift left by one.
# * `KPODTrainer` + `CurriculumCallback` put this on the Hugging Face Trainer, one stage per
#   epoch; `pipeline.run` adds the evaluation, the table and the figures.
# * FlanT5-Large or LLaMA-7B: the config cell (a `DATASET`, and a `TEACHER`: `released`
#   needs no key), a GPU (bf16 on Ampere and newer), `accelerate launch` for several. The cell
#   after the config cell prints what is missing and the estimated hours and memory first.
#
# **Exercise 1** (recall). At which epoch, counted from 1, does every question of this run
# first train on its whole rationale? Read it off the schedule `plan` (Eq. 11; Algorithm 1:
# c_i = 0 after epoch T), then check it against the `full_rationales` column of KPOD's history.
#
# **Exercise 2** (apply). Which rationale tokens carry the lowest learned weights w_j and which
# the highest? The template teacher labels every character of its rationales (`spans` in each
# rationale record: number, operator, result, ..., filler). Compare the mean w_j of the filler
# tokens with that of the keypoint tokens. How much of a difference does this run's mask learning
# find?
#
# **Exercise 3** (a small experiment, about 15 seconds on the shortened tiny run). Add the
# ablation KPOD-w.o.-sig (the same schedule without token weights, Table 2) to the run with
# `pipeline.run(cfg, run_dir, methods=("plain-cot", "kpod", "w.o.-sig"))`, which reuses the two
# finished students. Check that its curriculum is KPOD's, then compare its loss and its accuracy
# with KPOD's. What does one seed of a shortened run let you conclude?

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. Epoch e trains stage t = e - 1 while e <= T, and whole rationales after (Algorithm 1):
# every c_i is 0 from epoch T + 1 on, or earlier, if a stage's S(t) took the last given step of
# the last question. `plan.input_steps` takes the epoch counted from 0.
first_epoch = 1 + next(e for e in range(cfg.epochs) if not any(plan.input_steps(e).values()))
first_full = next(row["epoch"] for row in histories["kpod"][0] if row["full_rationales"] == 1.0)
print(f"schedule: every c_i = 0 first at epoch {first_epoch} (T = {plan.T}); "
      f"KPOD's history: 100% full rationales first at epoch {first_full}")
assert first_epoch <= plan.T + 1 and first_full == first_epoch

# %% jupyter={"source_hidden": true}
# Solution 2. A rationale token takes the label of its first non-space character (notebook
# 03's rule); its w_j is the learned weight of the weight record, without the floor λ. Only
# the template teacher labels its rationales; released or API rationales carry no spans.
from kpod_lite.synthetic import KEYPOINT_LABELS
labelled = [r for r in rationales if r.get("spans")]
by_kind, by_text = {"keypoint": [], "filler": [], "other": []}, {}
for r in labelled:
    text, record_ = r["rationale"], weight_records[(r["id"], int(r.get("sample", 0)))]
    label = [lab for start, end, lab in r["spans"] for _ in range(start, end)]
    for (a, b), w_j in zip(record_["offsets"], record_["weights"]):
        first = next((k for k in range(a, b) if not text[k].isspace()), None)
        if first is None:
            continue
        kind = "keypoint" if label[first] in KEYPOINT_LABELS else "filler" if label[first] == "filler" else "other"
        by_kind[kind].append(w_j)
        by_text.setdefault(text[a:b].strip(), []).append(w_j)
if labelled:
    for kind, values in by_kind.items():
        print(f"{kind:<8} {len(values):5d} tokens, mean w_j {sum(values) / len(values):.3f}")
    mean_w = sorted((sum(v) / len(v), piece) for piece, v in by_text.items() if len(v) >= 20)
    print("lowest: ", [(piece, round(w_j, 3)) for w_j, piece in mean_w[:8]])
    print("highest:", [(piece, round(w_j, 3)) for w_j, piece in mean_w[-8:]])
    gap_w = sum(by_kind["keypoint"]) / len(by_kind["keypoint"]) - sum(by_kind["filler"]) / len(by_kind["filler"])
    print(f"keypoint minus filler: {gap_w:+.3f}; compare it with the spread of all weights printed in section 5")
    assert all(by_kind.values())  # the template's rationales have every kind
else:
    print(f"skipped: the {cfg.teacher!r} teacher's rationales carry no keypoint labels")
# Look for the fillers ("basically", "it is worth noting") at the bottom and digits and results
# at the top. Notebook 02 trains the mask learning long enough to separate them clearly; a
# shortened run separates them little, if at all.

# %% jupyter={"source_hidden": true}
# Solution 3. w.o.-sig reads KPOD's schedule, so its curriculum must be KPOD's epoch for epoch;
# its loss has every w_j = 1, so it is not on KPOD's scale (section 4).
if cfg.name == "tiny":
    display(Markdown(pipeline.run(cfg, run_dir, methods=("plain-cot", "kpod", "w.o.-sig"))))
    rows_of = {m: json.loads((pipeline.student_dir(run_dir, m, cfg.seed) / "history.json").read_text())["history"]
               for m in ("kpod", "w.o.-sig")}
    assert [r["mean_input_steps"] for r in rows_of["kpod"]] == [r["mean_input_steps"] for r in rows_of["w.o.-sig"]]
    for m, rows in rows_of.items():
        e = json.loads((pipeline.student_dir(run_dir, m, cfg.seed) / "eval.json").read_text())["test"]
        se_m = (e["accuracy"] * (1 - e["accuracy"]) / e["questions"]) ** 0.5
        print(f"{m:<9} loss by epoch {[round(r['loss'], 3) for r in rows]}; accuracy {100 * e['accuracy']:.0f}% "
              f"± {100 * se_m:.0f} (1 seed, {e['questions']} questions)")
    # How far apart the two losses are follows the spread of the weights (section 5); a gap of
    # a few points between one seed each on 50 questions is within their standard errors.
    # docs/RESULTS.md's second pre-registered run compares the ablations over 5 seeds x 500 questions.
else:
    print(f"skipped for preset {cfg.name!r}: it trains a third student, which takes hours on a GPU")
