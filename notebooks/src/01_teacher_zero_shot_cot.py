# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/01_teacher_zero_shot_cot.ipynb)
#
# # 01. The teacher: zero-shot chain-of-thought rationales
#
# CoT distillation starts with a teacher. KPOD prompts a large model with "Let's think step by
# step" (zero-shot CoT, Kojima et al., 2022), "following previous CoT distillation works (Ho et
# al., 2023; Chen et al., 2023)" (§3.1), and trains the student on the template
# `Q: <x> A: <p> <r> Therefore, the answer is <y>`. You build that template, Kojima et al.'s
# two-stage prompting and their answer extraction, check each against `kpod_lite`, then teach
# the course's questions and meet Ben's magazines' rationale.
#
# **After this notebook you can** produce a rationale file from the template teacher, a real
# API, a local model or a dataset's own solutions, knowing what each costs, and resume a run.
#
# **Paper:** §3.1 (preliminaries and the template), §4.1 (GPT-3.5-Turbo as teacher).
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
# **The task and the student.** The course's thread (`data_samples/thread/`): the tiny preset's
# training questions, 2-3 steps of + and -, and its template teacher. No student: a teacher
# needs none. Nothing here costs money or downloads anything unless you switch it on in the
# config cell; each switch says what it costs.

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # tiny | colab | flan-t5-large | flan-t5-xl | llama-7b
N_QUESTIONS = 200  # of the thread's training questions to teach here (GSM8K has 7,473, App. A Table 4)
SAMPLES = 2  # rationales per question in section 4's filter demo; the paper uses one
TEMPERATURE = 0.7  # 0 is greedy; sampling above 0 makes the samples differ (and err sometimes)

# Opt-in teachers (section 6), all off by default. Each costs something; the cell prints how much.
USE_API = False  # True: GSM8K questions to an OpenAI-compatible API (money; key from $OPENAI_API_KEY)
API_QUESTIONS = 20  # how many GSM8K training questions it sends (two requests each)
API_MODEL = os.environ.get("KPOD_TEACHER_MODEL", "gpt-3.5-turbo")  # §4.1's teacher
USD_PER_M_INPUT, USD_PER_M_OUTPUT = 0.50, 1.50  # gpt-3.5-turbo-0125's 2024 list price; check yours
USE_LOCAL_TEACHER = False  # True: download a local teacher and run it on a GPU (gigabytes, GPU time)
LOCAL_MODEL = "google/flan-t5-xl"  # a hub id or a local folder
LOCAL_QUESTIONS = 32  # how many of the thread's questions it teaches

# %% [markdown]
# ## 1. The template, from scratch
#
# Kojima et al. ask in two stages. Stage 1 sends `Q: <x>\nA: Let's think step by step.` and
# keeps the continuation: the rationale `r`. Stage 2 sends the same text, the rationale and a
# trigger that fits the answer type, and reads the answer off the short continuation; the
# trigger makes the model state the answer in a form that can be parsed. Here on Ben's
# magazines, with the rationale the thread's teacher wrote.

# %%
from kpod_lite import thread


def my_prompt(question):
    return f"Q: {question}\nA: Let's think step by step."


def my_extraction_prompt(prompt, reasoning, kind):
    trigger = {"number": "Therefore, the answer (arabic numerals) is",
               "choice": "Therefore, among A through E, the answer is"}[kind]
    return f"{prompt} {reasoning.strip()}\n{trigger}"


def my_student_target(rationale, answer):
    # What the student learns to write (§3.1): the rationale, then the answer sentence.
    return f"{rationale} Therefore, the answer is {answer}."


ben = thread.named("rationales.jsonl")
question, reasoning, answer = ben["question"], ben["rationale"], ben["answer"]
print(my_prompt(question))
print("---")
print(my_extraction_prompt(my_prompt(question), reasoning, "number"))
print("---")
print(my_student_target(reasoning, answer))

# %%
# NBVAL_CHECK_OUTPUT
from kpod_lite import data, teacher, templates

assert my_prompt(question) == templates.build_prompt(question)
assert my_extraction_prompt(my_prompt(question), reasoning, "number") == templates.extraction_prompt(
    templates.build_prompt(question), reasoning, "number")
assert my_student_target(reasoning, answer) == templates.format_rationale_target(reasoning, answer)
# Multiple choice: the options travel inside the question, as Kojima et al. pose them.
print(templates.build_prompt("Where do you keep milk?", {"A": "fridge", "B": "oven", "C": "shelf"}))

# %% [markdown]
# ## 2. Reading the answer back, from scratch
#
# Kojima et al.'s answer cleansing: after the trigger, take the **first** number; if there is
# no trigger, take the **last** number in the text. Numbers lose their commas, `$` signs and a
# trailing `.0` so that `1,250.0` and `1250` compare equal.

# %%
import re

NUMBER = re.compile(r"-?\$?\d[\d,]*(?:\.\d+)?")


def my_normalise(number):
    value = float(number.replace("$", "").replace(",", ""))
    return str(int(value)) if value == int(value) else str(value)


def my_extract_number(text):
    head, trigger, tail = text.rpartition("the answer is")
    numbers = NUMBER.findall(tail) if trigger else NUMBER.findall(text)[-1:]
    return my_normalise(numbers[0]) if numbers else None


texts = [
    "5 + 7 = 12 apples. Therefore, the answer is 12.",
    "She pays $1,250.00 in total. Then 3 friends pay 20 each. Therefore, the answer is $1,250.",
    "First 18 / 3 = 6. Then 6 * 4 = 24.",
    "The temperature falls 4 - 10 = -6 degrees. Therefore, the answer is -6 degrees, not 4.",
]
for text in texts:
    print(f"{my_extract_number(text)!s:6} <- {text}")

# %%
# NBVAL_CHECK_OUTPUT
for text in texts:
    assert my_extract_number(text) == data.extract_answer(text, "number"), text
# The library also handles the cases the few lines above do not: choice letters (without
# firing on a capital inside a word), several trigger phrasings, decimals like ".5", units.
print(data.extract_answer("Carl thinks (B) fits. Therefore, among A through E, the answer is C.", "choice"))
print(data.extract_answer("Each costs .5 dollars", "number"), data.normalize_answer("9 (apples)"))

# %% [markdown]
# ## 3. Steps: why splitting on "." needs care
#
# KPOD separates a rationale into steps with the symbol "." (§3.4). A naive split breaks
# decimals, prices and abbreviations; the data layer's `split_steps` does not, and it keeps
# character offsets so that token weights can be mapped to steps later (Eq. 8).

# %%
# NBVAL_CHECK_OUTPUT
tricky = "Each pen costs $1.50, e.g. at Mr. Lee's shop. So 3 pens cost 3 * 1.50 = $4.50. That is all..."
naive = [s.strip() + "." for s in tricky.split(".") if s.strip()]
print(len(naive), "naive steps:", naive[:3], "...")
steps = data.split_steps(tricky)
print(len(steps), "steps:")
for step in steps:
    print(f"  [{step.start:3}, {step.end:3}) {step.text}")
assert all(tricky[s.start:s.end] == s.text for s in steps)

# %% [markdown]
# ## 4. Teach the thread's questions, and meet the shipped rationale
#
# The tiny preset uses the **template teacher**: the synthetic problems know their own
# arithmetic, and it writes it out the way an LLM does, with filler words. With the preset's
# settings (greedy, one sample, its seed) it must write, for each question, exactly the
# rationale the thread's teach stage shipped in `rationales.jsonl`. Every answer goes to an
# append-only cache the moment it arrives; the kept ones go to the rationale file.

# %%
import tempfile
from pathlib import Path

from kpod_lite import config

cfg = config.preset(PRESET)
questions = data.load_examples(thread.thread_folder() / "questions" / "train.jsonl", "kpod")[:N_QUESTIONS]
run_dir = Path(tempfile.mkdtemp(prefix="kpod-teacher-"))
backend = teacher.make_backend("template")
report = teacher.teach(questions, backend, out=run_dir / "rationales.jsonl", samples=cfg.teacher_samples,
                       temperature=cfg.teacher_temperature, max_tokens=cfg.teacher_max_tokens, seed=cfg.seed,
                       progress=False)
print(report.summary().replace(str(run_dir), "<run>"))

# %%
# NBVAL_CHECK_OUTPUT
mine = [record for _, record in data.read_jsonl(report.out)]
shipped = thread.records("rationales.jsonl")[:len(mine)]
assert mine == shipped  # the shipped teach stage, record for record
ours = next(r for r in mine if r["id"] == thread.NAMED_ID)
print(f"{len(mine)} rationales, each identical to the thread's; Ben's magazines:\n  {ours['rationale']}")
print(f"teacher answer {ours['teacher_answer']}, gold {ours['answer']}, kept: {ours['correct']}")

# %% [markdown]
# **Which rationales are kept.** kpod-lite keeps only the rationales whose extracted answer
# matches the gold one (`teach(..., filter_correct=True)`, the default). That is Fine-tune-CoT's
# rule (Ho et al., 2023), one of the works §3.1 says KPOD follows; the KPOD paper itself never
# says whether it filters. Greedy, the template teacher never errs, so nothing was dropped
# above. Sampled at the config's temperature it slips now and then, as a real teacher does:

# %%
hot = teacher.teach(questions, backend, out=run_dir / "hot.jsonl", samples=SAMPLES,
                    temperature=TEMPERATURE, seed=cfg.seed, progress=False)
print(hot.summary().replace(str(run_dir), "<run>"))

# %%
# NBVAL_CHECK_OUTPUT
cache = [teacher.Rationale.from_record(r) for _, r in data.read_jsonl(hot.cache)]
kept = [teacher.Rationale.from_record(r) for _, r in data.read_jsonl(hot.out)]
covered = len({r.id for r in kept})
print(f"teacher answers: {len(cache)}, correct: {sum(r.correct for r in cache)} "
      f"({sum(r.correct for r in cache) / len(cache):.1%})")
print(f"kept {hot.kept}, dropped {hot.dropped}; questions with at least one rationale: "
      f"{covered}/{len(questions)}")
wrong = next(r for r in cache if not r.correct)
print(f"\na dropped rationale (gold {wrong.answer}, teacher {wrong.teacher_answer}):\n  {wrong.rationale}")

# %% [markdown]
# A killed run loses only the requests in flight: the cache is appended and synced one answer
# at a time, and the next run asks only for what is missing. Running the same call again
# generates nothing:

# %%
# NBVAL_CHECK_OUTPUT
again = teacher.teach(questions, backend, out=run_dir / "hot.jsonl", samples=SAMPLES,
                      temperature=TEMPERATURE, seed=cfg.seed, progress=False)
print(f"generated {again.generated}, reused {again.reused}")

# %% [markdown]
# ## 5. What the rationales look like
#
# Steps per rationale (the number of reasoning steps the progressive schedule will hand to
# the student one by one, §3.4), and Ben's magazines with its labelled characters: keypoints
# in colour, the planted filler too.

# %%
# %matplotlib inline
from IPython.display import HTML, display

from kpod_lite import synthetic, viz

fig = viz.steps_histogram([len(data.split_steps(r["rationale"])) for r in mine],
                          title=f"steps per rationale ({len(mine)} rationales)")

# %%
display(HTML(viz.labelled_html(ours["rationale"], synthetic.spans_from_record(ours))))

# %% [markdown]
# ## 6. A real teacher, and what it costs
#
# Nothing above is specific to the template teacher, but a real one costs money, gigabytes or
# GPU time. Each cell below runs only when its switch in the config cell is on, and the next
# cell prints its cost first. The API key is read from `$OPENAI_API_KEY` only: put it in the
# environment, never in the notebook (on Colab, from the Secrets panel into `os.environ` in a
# cell that prints nothing); `kpod_lite` never writes it to the cache, the files or an output. The estimate counts about 4 characters a token and every
# rationale at the full `max_tokens`, so it is an upper bound.

# %%
from kpod_lite.gpu_time import CHECKPOINT_BYTES_PER_PARAMETER
from kpod_lite.models.published import parameter_count, published_config
from kpod_lite.teacher.protocol import EXTRACTION_MAX_TOKENS

GSM8K_TRAIN = 7473  # App. A, Table 4
sample_gsm8k = data.load_examples(Path("..") / "data_samples" / "formats" / "gsm8k.jsonl", "gsm8k")
prompt_tokens = sum(len(templates.build_prompt(e.question)) for e in sample_gsm8k) / len(sample_gsm8k) / 4


def api_bill(n):
    """(input tokens, output tokens, US dollars) of teaching n questions in Kojima et al.'s two stages."""
    tokens_in = n * (prompt_tokens + (prompt_tokens + cfg.teacher_max_tokens + 12))  # stage 1, stage 2
    tokens_out = n * (cfg.teacher_max_tokens + EXTRACTION_MAX_TOKENS)
    return tokens_in, tokens_out, (tokens_in * USD_PER_M_INPUT + tokens_out * USD_PER_M_OUTPUT) / 1e6


for n in (API_QUESTIONS, GSM8K_TRAIN):
    tokens_in, tokens_out, usd = api_bill(n)
    print(f"API, {n:5,} questions: <= {tokens_in:9,.0f} tokens in, {tokens_out:9,.0f} out, "
          f"<= ${usd:.2f} at the config's price")
if LOCAL_MODEL in ("google/flan-t5-large", "google/flan-t5-xl"):
    size = parameter_count(published_config(LOCAL_MODEL)) * CHECKPOINT_BYTES_PER_PARAMETER["t5"]
    print(f"local teacher {LOCAL_MODEL}: a {size / 1e9:.1f} GB download (float32), as much GPU memory again")

# %%
# The API teacher. Costs: money (printed above), a few seconds a question with 8 requests in flight.
# Needs GSM8K's training split, fetched by kpod_lite.data.fetch from its public source into the data
# cache: kpod-lite records no sha256 for that file yet, so the first download's digest is written to
# the cache's SHA256SUMS and every later use is checked against it. Outputs go to runs/ (kept), whose
# cache means a rerun never pays twice for an answer.
if USE_API:
    if not os.environ.get("OPENAI_API_KEY") and not os.environ.get("OPENAI_BASE_URL"):
        raise RuntimeError("USE_API is on but $OPENAI_API_KEY is not set: set it in the environment")
    gsm8k = data.load_examples(data.fetch("gsm8k", "train")["train"], "gsm8k")[:API_QUESTIONS]
    api = teacher.make_backend("openai", model=API_MODEL, concurrency=8)
    print(teacher.teach(gsm8k, api, out=Path("runs") / "teacher-api" / "rationales.jsonl").summary())

# %%
# The local teacher. Costs: the download printed above (once, into the Hugging Face cache), a GPU
# with that much free memory, and minutes of generation. On the thread's questions, LOCAL_QUESTIONS of them.
if USE_LOCAL_TEACHER:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("USE_LOCAL_TEACHER is on but there is no GPU")
    local = teacher.make_backend("hf", model=LOCAL_MODEL, concurrency=16)
    print(teacher.teach(questions[:LOCAL_QUESTIONS], local, out=run_dir / "hf_rationales.jsonl").summary())

# %% [markdown]
# **GSM8K's own worked solutions** cost nothing: `make_backend("gold")` turns a dataset's
# solutions into rationales, here on the shipped sample file in GSM8K's layout.

# %%
# NBVAL_CHECK_OUTPUT
gold = teacher.teach(sample_gsm8k, teacher.make_backend("gold"), out=run_dir / "gold.jsonl", progress=False)
print(f"gold teacher: kept {gold.kept} of {gold.questions}")
print(next(data.read_jsonl(gold.out))[1]["rationale"])

# %% [markdown]
# ## Recap
#
# * The template `Q: <x> A: Let's think step by step. <r> Therefore, the answer is <y>` (§3.1),
#   asked in Kojima et al.'s two stages, and read back with their answer cleansing.
# * The template teacher remakes the thread's rationales exactly; Ben's magazines is one.
# * Rationales whose answer is wrong are dropped, Fine-tune-CoT's rule; the KPOD paper does not
#   say whether it filters.
# * The cache makes teacher runs resumable and free to repeat; paid or heavy teachers are
#   opt-in, capped and priced first.
# * Steps are cut at "." but not inside decimals, prices or abbreviations.

# %% [markdown]
# ## Exercises
#
# **Exercise 1 (fillers inside a step).** The template teacher plants filler words inside its
# sentences, each slot filled with probability `filler_rate` (the thread's is 0.3). *Predict*:
# taught by `teacher.TemplateTeacher(filler_rate=0.0)` and by `filler_rate=1.0`, how many steps
# does Ben's magazines' rationale have (`data.split_steps`), and are its numbers, signs, "="
# and results the same? *Run* both, greedy, on `questions[:1]`. *Explain* what the schedule,
# which hands the student one more step per stage (§3.4), and Eq. 8, a weighted mean over a
# step's tokens, each see of the difference.

# %% [markdown]
# **Exercise 2 (a filler sentence).** A real teacher may open with a sentence that says
# nothing: "Okay, let me think." *Predict* how many steps Ben's rationale has with it in
# front, and how much of Eq. 8's in-step weight ŵ (a softmax over the step's w_j) its tokens
# share, though every w_j of theirs is a filler's. *Run* `data.split_steps` on it, and the
# softmax on the thread's learned weights of filler tokens (`weights.jsonl`, labelled by
# `weighting.token_classes`). *Explain* whether the schedule or Eq. 8 can tell the step is empty.
#
# **Exercise 3 (a small experiment).** Teach the same questions at temperature 1.5 with one
# sample and with three. Predict first: how many questions are left without any rationale in
# each case, if slips are independent? Then run, and compare.

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. Fillers are planted inside a sentence, never as one: both rationales have the same
# steps and the same calculations; only the words around them differ. The schedule counts steps,
# so it sees nothing; Eq. 8 sees more tokens in each step, which its weights damp but, through
# a softmax of w in (0, 1), at most e-fold (notebook 03 measures what that leaves).
CALCULATION = {"number", "operator", "equals", "result"}


def taught(filler_rate):
    out = run_dir / f"fillers_{filler_rate}.jsonl"
    teacher.teach(questions[:1], teacher.TemplateTeacher(filler_rate=filler_rate), out=out,
                  temperature=0.0, seed=cfg.seed, progress=False)
    return next(record for _, record in data.read_jsonl(out))


seen = {}
for rate in (0.0, 1.0):
    record = taught(rate)
    text = record["rationale"]
    seen[rate] = {"steps": len(data.split_steps(text)),
                  "calculation": [text[a:b] for a, b, label in record["spans"] if label in CALCULATION],
                  "fillers": [text[a:b] for a, b, label in record["spans"] if label == "filler"]}
    print(f"filler_rate {rate}: {seen[rate]['steps']} steps, calculation {' '.join(seen[rate]['calculation'])}, "
          f"fillers {seen[rate]['fillers']}\n  {text}")
assert seen[0.0]["steps"] == seen[1.0]["steps"] == len(data.split_steps(ours["rationale"]))
assert seen[0.0]["calculation"] == seen[1.0]["calculation"]
assert not seen[0.0]["fillers"] and seen[1.0]["fillers"]

# %% jupyter={"source_hidden": true}
# Solution 2. One step more, with no keypoint in it. Eq. 8's softmax runs within a step, so the
# step's ŵ sum to 1 however small its w_j are: its d_k is a weighted mean of its tokens' losses,
# on the same scale as a real step's. Neither the schedule nor Eq. 8 can tell it is empty; only
# the weights across steps (Eq. 15, notebook 06) would damp it.
import torch

from kpod_lite import weighting

padded = "Okay, let me think. " + ours["rationale"]
print(f"{len(data.split_steps(ours['rationale']))} steps without the sentence, "
      f"{len(data.split_steps(padded))} with it")
filler_w = [w for record, weights in zip(thread.records("rationales.jsonl"), thread.records("weights.jsonl"))
            for label, w in zip(weighting.token_classes(weights["offsets"], record["spans"], record["rationale"]),
                                weights["weights"]) if label == "filler"]
step_w = torch.tensor(filler_w[:6])  # a six-token step of fillers, as the thread weighs them
print(f"the thread's filler weights: mean w {sum(filler_w) / len(filler_w):.3f}, max {max(filler_w):.3f}; "
      f"a step of six of them: ŵ = {[round(x, 3) for x in torch.softmax(step_w, 0).tolist()]}, "
      f"sum {float(torch.softmax(step_w, 0).sum()):.3f}")
assert len(data.split_steps(padded)) == len(data.split_steps(ours["rationale"])) + 1
assert max(filler_w) < 0.5 and torch.isclose(torch.softmax(step_w, 0).sum(), torch.tensor(1.0))

# %% jupyter={"source_hidden": true}
# Solution 3. A question keeps no rationale only if every one of its samples slips, so with
# independent slips the uncovered share with three samples is about the cube of the share with one.
uncovered = {}
for samples in (1, 3):
    hot = teacher.teach(questions, backend, out=run_dir / f"hot_{samples}.jsonl", samples=samples,
                        temperature=1.5, seed=cfg.seed, progress=False)
    uncovered[samples] = len(questions) - len({record["id"] for _, record in data.read_jsonl(hot.out)})
    print(f"{samples} sample(s) at temperature 1.5: {hot.kept} kept of {hot.generated}, "
          f"{uncovered[samples]} of {len(questions)} questions without a rationale")
share = uncovered[1] / len(questions)
print(f"independent slips predict about {len(questions) * share ** 3:.1f} uncovered with three samples")
assert uncovered[3] < uncovered[1]
