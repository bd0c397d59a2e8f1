# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/02_mask_learning.ipynb)
#
# # 02. Mask learning: which rationale tokens matter? (Eq. 2-7)
#
# A teacher's rationale mixes tokens the answer depends on ("12", "+", "17", "=", "29") with
# tokens it does not ("actually", "Okay,", "we can say that"). KPOD gives every rationale token
# a weight w_j in (0, 1) without any labels: a small module learns to *hide* as many tokens as
# it can, while a transformer must still read the answer off the question and what is left of
# the rationale. A token that survives this pressure is one the answer needs, and the
# probability that the module keeps it is its weight. The weights later decide which tokens
# count when the step difficulty is measured (Eq. 8, notebook 03) and which tokens the student
# is pushed hardest to copy (Eq. 15). In this notebook you build the weight generator, the
# Gumbel-softmax masks, the masking of embeddings, the answer-prediction loss over rationale
# prefixes and the mask-ratio loss from scratch, check each against `kpod_lite.weighting`, train
# the module on synthetic rationales whose keypoints are known, look at the learned weights as
# a Figure-2-style heat map, and score them against the ground truth.
#
# **After this notebook you can** explain each of Eq. 2-7 in code, say why the mask must act
# on embeddings rather than on token ids, read a training history and recognise a collapsed
# run (everything masked, or nothing), and measure how well a set of token weights finds the
# keypoints.
#
# **Paper:** §3.3 (rationale token weighting, Eq. 2-7), App. A (α = 0.5, the student's
# embedding layer), §4.5 (Figure 2), §4.6 (Figure 3a: sensitivity to α).
# **Runs in** about 2.5 minutes on 2 CPU cores (tiny preset).

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
# This notebook learns weights for rationales of the shipped synthetic split
# (`data_samples/synthetic/`: 2-4 steps of + - × ÷, every keypoint kind labelled), the split
# notebooks 00-05 share, so the weights can be graded against the labels. Its student is the
# tiny preset's, the tiny LLaMA (Emb is its embedding table), and the tiny LLaMA also predicts
# the answer in Eq. 5, because the tiny T5 could not learn to read answers off rationales on a
# CPU budget (docs/WEIGHTING.md); the two share one vocabulary.

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # tiny | flan-t5-large | flan-t5-xl | llama-7b
ALPHA = 0.5  # weight of the mask-ratio loss in L_k = L_p + α L_m (Eq. 7); App. A: 0.5
N_TRAIN = 320  # synthetic rationales to learn from (docs/WEIGHTING.md: all 400; GSM8K has 7,473)
N_EVAL = 100  # held-out validation rationales to score the weights on (the whole split)
EPOCHS = 4  # mask-learning epochs (tiny preset: 4; the paper gives none)
WARMUP_STEPS = 250  # ours: predictor warm-up steps (tiny preset: 400; the paper has none)
BATCH_SIZE = 8  # rationales per step (tiny preset: 16; App. A's batch size 4 is the student's)

# %%
# %matplotlib inline
import html
import math
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, display
from torch import nn
from torch.nn import functional as F
from transformers.utils import logging as hf_logging

from kpod_lite import config, data, teacher, templates, viz, weighting
from kpod_lite.models import is_local_build, load_student, pad_right, student_input_embeddings
from kpod_lite.templates import rationale_tokens

cfg = config.preset(PRESET)
if is_local_build(cfg.student):  # a progress widget per load of a local model would clutter the page;
    hf_logging.disable_progress_bar()  # a GPU preset keeps the bars: its first load is a download
cfg = cfg.replace(alpha=ALPHA, weighting_epochs=EPOCHS, weighting_predictor_warmup_steps=WARMUP_STEPS,
                  weighting_batch_size=BATCH_SIZE)
student, tokenizer = load_student(cfg)
device = student.device
print(f"student {cfg.student}; answer predictor (Eq. 5): {cfg.weighting_predictor or 'a copy of the student'}")
print(f"α = {cfg.alpha}, τ = {cfg.gumbel_temperature}, prefixes: {cfg.prefix_mode!r}, lr {cfg.weighting_lr}, "
      f"{cfg.weighting_epochs} epochs, batch {cfg.weighting_batch_size}, "
      f"warm-up {cfg.weighting_predictor_warmup_steps} steps")

# %% [markdown]
# The rationales come from the template teacher of notebook 01: synthetic word problems written
# out step by step, with planted filler words, and a label for every character. Keypoint
# labels are *number*, *operator*, *equals*, *result* and *quantity* (words such as "total" or
# "adding" that name the operation); the others are *filler* (planted padding) and *plain*
# (names, units, connecting words, punctuation). Mask learning never sees these labels; we
# keep them to grade the weights at the end. Training uses the first `N_TRAIN` questions of the
# training split, the grading the validation split.

# %%
run_dir = Path(tempfile.mkdtemp(prefix="kpod-weighting-"))
splits = {}
for split, n in [("train", N_TRAIN), ("validation", N_EVAL)]:
    questions = data.load_examples(Path("..") / "data_samples" / "synthetic" / f"{split}.jsonl", "kpod")[:n]
    report = teacher.teach(questions, teacher.make_backend("template"), out=run_dir / f"{split}.jsonl",
                           seed=cfg.seed, progress=False)
    splits[split] = [record for _, record in data.read_jsonl(report.out)]
train_records, eval_records = splits["train"], splits["validation"]
example = train_records[0]
print(f"{len(train_records)} training and {len(eval_records)} validation rationales; the first one:")
print(f"Q: {example['question']}\nA: {example['answer']}")
display(HTML(viz.labelled_html(example["rationale"], example["spans"])))

# %% [markdown]
# ## 1. Weight generation (Eq. 2-3), from scratch
#
# $$e = \mathrm{Att}(\mathrm{Emb}(r)) \quad\text{(Eq. 2)}, \qquad
#   w_j = \sigma(f_w(e_j)) \quad\text{(Eq. 3)}$$
#
# * **Emb** is the student's own pretrained input embedding table, copied and frozen (App. A
#   asks for the student's embedding layer so that weights and student share one tokenizer).
# * **Att** is a single self-attention layer, so a token's weight can depend on its context
#   ("3" after "=" is a result, "3" in "3 friends" is not). Eq. 2 gives it no position codes,
#   and we add none: with them the tiny module learned "late tokens matter" (docs/WEIGHTING.md).
#   We add a residual connection and a layer norm around it (ours): the residual keeps each
#   token's own identity in e_j, the norm makes f_w indifferent to the embeddings' scale.
# * **f_w** is a two-layer MLP with one output, and σ turns it into the probability that token
#   j is *kept*. The last bias starts at log(0.9/0.1) (ours), so training starts with most
#   tokens kept and the answer still readable.
#
# The module returns the logit l_j = f_w(e_j); the weight is σ(l_j). Parameter names follow
# the library's, so one state dict fits both.

# %%
class MyWeighter(nn.Module):
    def __init__(self, embeddings, heads):
        super().__init__()
        dim = embeddings.embedding_dim
        self.embed = nn.Embedding.from_pretrained(embeddings.weight.detach().clone().float(), freeze=True)  # Emb
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)  # Att
        self.norm = nn.LayerNorm(dim)
        self.f_w = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))  # two-layer MLP
        with torch.no_grad():
            self.f_w[-1].bias.fill_(math.log(0.9 / 0.1))  # ours: start at w ≈ 0.9

    def forward(self, ids, attention_mask):
        x = self.embed(ids)
        attended, _ = self.attention(x, x, x, key_padding_mask=attention_mask == 0, need_weights=False)
        e = self.norm(x + attended)  # Eq. 2
        return self.f_w(e).squeeze(-1)  # l_j; w_j = σ(l_j) is Eq. 3


embeddings = student_input_embeddings(student)
heads = next(h for h in (8, 4, 2, 1) if embeddings.embedding_dim % h == 0)
torch.manual_seed(cfg.seed)
mine = MyWeighter(embeddings, heads).to(device)
lib = weighting.build_weighter(student, cfg)  # the library's TokenWeighter, seeded with cfg.seed

batch_ids = [rationale_tokens(tokenizer, record["rationale"])[0] for record in train_records[:2]]
ids, attention = (t.to(device) for t in pad_right(batch_ids))  # two rationales, the shorter one padded
frozen = sum(p.numel() for p in mine.parameters() if not p.requires_grad)
trainable = sum(p.numel() for p in mine.parameters() if p.requires_grad)
print(f"Emb {tuple(mine.embed.weight.shape)} (frozen, {frozen:,} numbers), {heads} attention heads; "
      f"Att + norm + f_w: {trainable:,} trainable parameters")

# %%
# NBVAL_CHECK_OUTPUT
same_init = all(torch.equal(mine.state_dict()[name], value) for name, value in lib.state_dict().items())
lib.load_state_dict(mine.state_dict())  # the check below holds whatever the initialisation
mine.eval(), lib.eval()
with torch.no_grad():
    w_mine, w_lib = torch.sigmoid(mine(ids, attention)), lib.weights(ids, attention)
    shorter = int(attention[1].sum())
    alone = lib.weights(ids[1:, :shorter], attention[1:, :shorter])
assert torch.allclose(w_mine, w_lib, atol=1e-6)
assert torch.equal(mine.embed.weight, embeddings.weight.float())  # Emb is the student's table
assert torch.allclose(w_lib[1, :shorter], alone[0], atol=1e-5)  # Att never looks at padding
print(f"same seed, same parameters: {same_init}; weights {tuple(w_lib.shape)}, all in (0, 1): "
      f"{bool(((w_lib > 0) & (w_lib < 1)).all())}; Eq. 2-3 from scratch == weighting.TokenWeighter")

# %% [markdown]
# ## 2. Masks by Gumbel-softmax (Eq. 4), from scratch
#
# A mask m_j ∈ {0, 1} (1 kept, 0 masked) drawn from Bernoulli(w_j) has no gradient, so the
# paper draws it with the Gumbel-softmax trick (Jang et al., 2016): add Gumbel noise to the
# log-probabilities of the two outcomes and take a softmax at temperature τ instead of an
# argmax. With only two outcomes this simplifies. The softmax over (log w_j + g_1,
# log(1 - w_j) + g_0) is a sigmoid of their difference, log w_j - log(1 - w_j) is the logit
# l_j, and the difference g_1 - g_0 of two Gumbel variables is a logistic variable, log U -
# log(1 - U) with U uniform:
#
# $$m_j = \sigma\big((l_j + \log U - \log(1 - U))/\tau\big) \qquad\text{(Eq. 4, binary Concrete form)}$$
#
# Below, both forms from scratch. The one-uniform form draws the same numbers as
# `weighting.gumbel_mask` from the same generator; the two-Gumbel form draws other numbers
# from the same distribution. Both keep token j (m_j > 1/2) with probability w_j, at any τ.

# %%
def my_gumbel_softmax(logits, tau, generator):  # Jang et al.'s recipe, two outcomes (keep, mask)
    u = torch.rand((2, *logits.shape), generator=generator).clamp(1e-6, 1 - 1e-6).to(logits.device)
    g = -torch.log(-torch.log(u))  # two Gumbel(0, 1) draws per token
    scores = torch.stack([F.logsigmoid(logits) + g[0], F.logsigmoid(-logits) + g[1]])  # log w, log(1 - w)
    return torch.softmax(scores / tau, dim=0)[0]  # the soft "keep" coordinate


def my_binary_concrete(logits, tau, generator):  # the same distribution from one uniform per token
    u = torch.rand(logits.shape, generator=generator).clamp(1e-6, 1 - 1e-6).to(logits.device)
    return torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / tau)


logits = torch.tensor([-2.0, 0.0, 1.5])
tau = cfg.gumbel_temperature
m_mine = my_binary_concrete(logits.repeat(20000, 1), tau, torch.Generator().manual_seed(0))
m_lib = weighting.gumbel_mask(logits.repeat(20000, 1), tau, generator=torch.Generator().manual_seed(0))
m_two = my_gumbel_softmax(logits.repeat(20000, 1), tau, torch.Generator().manual_seed(1))
assert torch.allclose(m_mine, m_lib)  # same noise, same masks
for name, m in [("one uniform (= gumbel_mask)", m_mine), ("two Gumbels", m_two)]:
    kept = (m > 0.5).float().mean(0)
    assert torch.allclose(kept, torch.sigmoid(logits), atol=0.015)
    print(f"{name:28} P(m_j > 1/2) = {kept.numpy().round(2)}   σ(l_j) = {torch.sigmoid(logits).numpy().round(2)}")

# %% [markdown]
# τ sets how binary the masks are. A cold τ gives masks near 0 or 1, like real hiding, but
# with gradients that are large near 1/2 and vanish elsewhere; a warm τ gives smooth but
# half-hearted masks, and a mask of 0.5 lets half of a "hidden" token through. The library's τ
# is `config.gumbel_temperature` (ours; the paper does not give one). `gumbel_mask(hard=True)`
# would send exact 0/1 forward and the soft gradient backward (straight-through); on the tiny
# preset it collapsed to masking everything (docs/WEIGHTING.md), so it is off.

# %%
fig, axes = plt.subplots(1, 4, figsize=(13, 2.6), sharey=True)
w_example = 0.7
for ax, t in zip(axes, (0.1, 0.5, 1.0, 2.0)):
    m = weighting.gumbel_mask(torch.full((20000,), math.log(w_example / (1 - w_example))), t,
                              generator=torch.Generator().manual_seed(0))
    ax.hist(m.numpy(), bins=40, range=(0, 1), color="C0")
    ax.set_title(f"τ = {t}" + (" (this run)" if t == tau else ""), fontsize=10)
    ax.set_xlabel("mask m_j (0 masked, 1 kept)")
axes[0].set_ylabel(f"draws of 20,000 (w_j = {w_example})")
fig.suptitle("Eq. 4: 20,000 masks for one token kept with probability 0.7")
fig.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Applying the mask, and why it must act on embeddings
#
# The masked rationale r[m] goes into a transformer (Eq. 5). We apply the mask to its input
# embeddings, mixing each token's embedding with the embedding e_mask of one mask token (the
# tokenizer's mask token if it has one, else T5's first sentinel `<extra_id_0>`, which a
# pretrained T5 reads as "text missing here"):
#
# $$r[m]_j = m_j\,E(r_j) + (1 - m_j)\,e_{\text{mask}}$$
#
# The tempting alternative, "replace the ids of masked tokens by the mask id", gives the same
# forward pass for a binary mask but no gradient: comparing m_j with 1/2 and choosing an
# integer id are not differentiable, so the answer loss cannot tell f_w which tokens it
# needed. Then only L_m trains f_w, and L_m alone says "mask everything". We check both.
#
# The transformer of Eq. 5 is a pretrained model (FlanT5-Large in the paper, whatever the
# student). It must share the student's vocabulary, since the masks are drawn for the
# student's tokens. In the tiny preset it is the tiny LLaMA: the tiny T5 could not learn to
# read answers off rationales on a CPU budget (docs/WEIGHTING.md).

# %%
def my_apply_mask(embeds, m, e_mask):
    return m[..., None] * embeds + (1 - m[..., None]) * e_mask


predictor = weighting.load_predictor(cfg, student, tokenizer).float().eval()  # the transformer of Eq. 5
table = predictor.get_input_embeddings()  # E
mask_id = weighting.mask_token_id(tokenizer)
m = weighting.gumbel_mask(lib(ids, attention), tau, generator=torch.Generator().manual_seed(0))
mixed = my_apply_mask(table(ids), m, table(torch.tensor(mask_id, device=device)))
assert torch.allclose(mixed, weighting.apply_mask(table(ids), m, table(torch.tensor(mask_id, device=device))))
print(f"predictor: {type(predictor).__name__}, {sum(p.numel() for p in predictor.parameters()):,} parameters; "
      f"mask token {tokenizer.convert_ids_to_tokens(mask_id)!r} (id {mask_id})")


# %%
def answer_nll(inputs_embeds, answer):
    """-Σ_j log P(y_j | y_<j, inputs): a seq2seq predictor decodes y, a causal one reads it after the inputs."""
    if predictor.config.is_encoder_decoder:
        return predictor(inputs_embeds=inputs_embeds[None], labels=answer[None]).loss * len(answer)
    logits = predictor(inputs_embeds=torch.cat([inputs_embeds, table(answer)])[None]).logits[0]
    return F.cross_entropy(logits[len(inputs_embeds) - 1:-1], answer, reduction="sum")  # position t predicts t + 1


def ids_of(text):
    return torch.tensor(tokenizer(text, add_special_tokens=False)["input_ids"], device=device)


question = ids_of(templates.build_prompt(example["question"]))  # x, as the student reads it (§3.1)
trigger = ids_of(" " + templates.ANSWER_TRIGGER)  # "Therefore, the answer is", never masked
answer = torch.cat([ids_of(" " + str(example["answer"])), torch.tensor([tokenizer.eos_token_id], device=device)])
r_ids = ids[:1, : int(attention[0].sum())]  # the first rationale, unpadded (batch of one)

# (a) the mask mixes embeddings: the answer's loss reaches f_w
lib.zero_grad(set_to_none=True)
m = weighting.gumbel_mask(lib(r_ids, torch.ones_like(r_ids)), tau, generator=torch.Generator().manual_seed(0))[0]
masked = my_apply_mask(table(r_ids[0]), m, table(torch.tensor(mask_id, device=device)))
answer_nll(torch.cat([table(question), masked, table(trigger)]), answer).backward()
mixing_grad = lib.f_w[0].weight.grad

# (b) the masked ids are swapped for the mask id: the same kind of input, no path back to f_w
lib.zero_grad(set_to_none=True)
m = weighting.gumbel_mask(lib(r_ids, torch.ones_like(r_ids)), tau, generator=torch.Generator().manual_seed(0))[0]
swapped = torch.where(m > 0.5, r_ids[0], mask_id)
answer_nll(torch.cat([table(question), table(swapped), table(trigger)]), answer).backward()
swapping_grad = lib.f_w[0].weight.grad
predictor.zero_grad(set_to_none=True)
lib.zero_grad(set_to_none=True)

# %%
# NBVAL_CHECK_OUTPUT
assert mixing_grad is not None and mixing_grad.abs().sum() > 0
assert swapping_grad is None and not swapped.requires_grad
print(f"mixing embeddings: f_w gets a gradient from the answer loss: {bool(mixing_grad.abs().sum() > 0)}")
print(f"swapping ids:      f_w gets a gradient from the answer loss: {swapping_grad is not None}")

# %% [markdown]
# ## 4. The answer-prediction loss over prefixes (Eq. 5), from scratch
#
# $$\mathcal L_p = -\sum_k \sum_j \log P(y_j \mid y_{<j}, r[m]_{<k}, x;\ \theta^w) \qquad\text{(Eq. 5)}$$
#
# The transformer reads the question x and only the first k tokens of the masked rationale,
# then must produce the answer y. Why every prefix, not just the whole rationale? The last
# step of a rationale often restates the result ("1 + 7 = 8 apples"), so with the whole
# rationale the module could keep just that and mask every earlier step: a shortcut. Asking
# for the answer from shorter prefixes makes the earlier steps' keypoints pay off too.
#
# Eq. 5 sums over every k = 1..n: n forward passes per rationale, one per prefix. The library
# calls that `prefix_mode="all"`; its default, `"steps"`, keeps only the prefixes that end
# where a reasoning step ends (§3.4 cuts steps at "."), plus k = n. The tokens of each row are
# [x, r[m]_<k, "Therefore, the answer is"], then y. Here are both on the example:

# %%
# NBVAL_CHECK_OUTPUT
def my_prefix_lengths(offsets, text, mode):
    n = len(offsets)
    if mode == "all":
        return list(range(1, n + 1))
    ends = {sum(1 for start, _ in offsets if start < step.end) for step in data.split_steps(text)}  # tokens before each "."
    return sorted(k for k in ends | {n} if k > 0)


text = example["rationale"]
r_tokens, r_offsets = rationale_tokens(tokenizer, text)
for mode in ("all", "steps"):
    assert my_prefix_lengths(r_offsets, text, mode) == weighting.prefix_lengths(r_offsets, text, mode)
ks = my_prefix_lengths(r_offsets, text, "steps")
print(f"n = {len(r_tokens)} tokens; 'all': k = 1..{len(r_tokens)}; 'steps': k = {ks}")
for k in ks:
    print(f"  k = {k:3d}: ... {text[r_offsets[max(k - 6, 0)][0]:r_offsets[k - 1][1]]!r}")

# %% [markdown]
# Eq. 5 from scratch, one prefix at a time, against `weighting.answer_prediction_loss`, which
# pads every (rationale, k) into one batch. Like the library we divide the sum over prefixes
# by their number |K| (section 5 explains why). A causal predictor reads each row after the
# student tokenizer's beginning-of-sequence token, if that tokenizer has one.

# %%
bos = None if predictor.config.is_encoder_decoder else tokenizer.bos_token_id  # as the library does


def my_answer_prediction_loss(question, masked_rationale, ks, answer):
    head = [] if bos is None else [table(torch.tensor([bos], device=device))]
    rows = [answer_nll(torch.cat(head + [table(question), masked_rationale[:k], table(trigger)]), answer) for k in ks]
    return torch.stack(rows).sum() / len(ks)  # Eq. 5, divided by |K|


with torch.no_grad():
    m = weighting.gumbel_mask(lib(r_ids, torch.ones_like(r_ids)), tau, generator=torch.Generator().manual_seed(0))[0]
    masked = my_apply_mask(table(r_ids[0]), m, table(torch.tensor(mask_id, device=device)))
    losses = {}
    for mode in ("steps", "all"):
        ks_mode = weighting.prefix_lengths(r_offsets, text, mode)
        started = time.perf_counter()
        mine_lp = my_answer_prediction_loss(question, masked, ks_mode, answer)
        seconds = time.perf_counter() - started
        lib_lp = weighting.answer_prediction_loss(
            predictor, [table(question)], [masked], [ks_mode], [answer.tolist()], trigger_embeds=table(trigger),
            bos_embed=None if bos is None else table(torch.tensor(bos, device=device)))
        assert torch.allclose(mine_lp, lib_lp[0], atol=1e-4)
        losses[mode] = float(mine_lp)
        print(f"prefixes {mode!r:8}: {len(ks_mode):3d} predictor rows, L_p = {mine_lp:.2f} nats "
              f"(from scratch: {seconds:.2f} s)")

# %% [markdown]
# Before any training the predictor barely reads rationales, so both values are large and
# close. "steps" is cheaper, one predictor row per step here against one per token for "all",
# which is why the library trains with it, but it is not an estimate of the same mean: it
# averages over the step ends only, so the whole rationale weighs 1/|K| there instead of 1/n,
# and α = 0.5 under it is not the paper's trade-off (docs/WEIGHTING.md)
# (`benchmarks/bench_weighting.py` measures both; "all" is about 87 times slower). Exercise 2
# counts the rows over the training rationales and times both.
#
# ## 5. The mask-ratio loss (Eq. 6) and the total (Eq. 7)
#
# $$\mathcal L_m = \sum_j m_j \quad\text{(Eq. 6)}, \qquad
#   \mathcal L_k = \mathcal L_p + \alpha\,\mathcal L_m \quad\text{(Eq. 7)}$$
#
# L_m counts the kept tokens and pulls every m_j towards 0; L_p pushes back on the tokens the
# answer needs. The paper writes sums; the library divides Eq. 5 by the number of prefixes |K|
# and Eq. 6 by the rationale's length n (ours). With every prefix (|K| = n) that is exactly
# Eq. 7 divided by n, so each token faces Eq. 7's own trade-off: **keep token j when hiding
# it costs more than α nats of answer likelihood, summed over the prefixes that contain it**.
# The division only stops long rationales from outweighing short ones in a batch, and lets
# "steps" estimate the same quantity with fewer prefixes. (Summing Eq. 5 over about 3 step
# prefixes but Eq. 6 over about 90 tokens weighs L_m some 30 times more than Eq. 7 does; the
# paper's α = 0.5 then masked everything, docs/WEIGHTING.md.)
#
# On a padded batch of four rationales, each with one mask drawn for all of its prefixes:

# %%
def my_mask_ratio_loss(m, attention_mask):
    return (m * attention_mask).sum(-1) / attention_mask.sum(-1)  # Eq. 6 / n: the kept fraction


def my_keypoint_loss(answer_loss, ratio_loss, alpha):
    return (answer_loss + alpha * ratio_loss).mean()  # Eq. 7, averaged over the batch


four = train_records[:4]
b_ids, b_attention = (t.to(device) for t in pad_right([rationale_tokens(tokenizer, r["rationale"])[0] for r in four]))
with torch.no_grad():
    b_m = weighting.gumbel_mask(lib(b_ids, b_attention), tau, generator=torch.Generator().manual_seed(0))
    b_masked = my_apply_mask(table(b_ids), b_m, table(torch.tensor(mask_id, device=device)))
    lp = []
    for i, record in enumerate(four):
        _, offsets = rationale_tokens(tokenizer, record["rationale"])
        x = ids_of(templates.build_prompt(record["question"]))
        y = torch.cat([ids_of(" " + str(record["answer"])), torch.tensor([tokenizer.eos_token_id], device=device)])
        n = int(b_attention[i].sum())
        lp.append(my_answer_prediction_loss(x, b_masked[i, :n], weighting.prefix_lengths(offsets, record["rationale"], "steps"), y))
    lp = torch.stack(lp)
    lm = my_mask_ratio_loss(b_m, b_attention)
    lk = my_keypoint_loss(lp, lm, cfg.alpha)
assert torch.allclose(lm, weighting.mask_ratio_loss(b_m, b_attention))
assert torch.allclose(lk, weighting.keypoint_loss(lp, lm, cfg.alpha))
print(f"lengths n = {b_attention.sum(-1).tolist()}")
print(f"L_p = {lp.cpu().numpy().round(2)}, L_m = {lm.cpu().numpy().round(3)} (kept fractions), "
      f"L_k = {float(lk):.3f} with α = {cfg.alpha}")

# %%
# NBVAL_CHECK_OUTPUT
toy_m = torch.tensor([[1.0, 0.0, 1.0, 0.5], [0.2, 0.4, 0.0, 0.0]])
toy_attention = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])  # the second row has 2 tokens and 2 pads
print("L_m per row:", [round(v, 4) for v in my_mask_ratio_loss(toy_m, toy_attention).tolist()],
      "library:", [round(v, 4) for v in weighting.mask_ratio_loss(toy_m, toy_attention).tolist()])
print("L_k:", round(float(my_keypoint_loss(torch.tensor([2.0, 1.0]), torch.tensor([0.5, 0.25]), 0.5)), 4),
      "library:", round(float(weighting.keypoint_loss(torch.tensor([2.0, 1.0]), torch.tensor([0.5, 0.25]), 0.5)), 4))

# %% [markdown]
# ## 6. Training: `weighting.train_weighter`
#
# Training updates θ^w: Att and f_w, and the predictor's own weights too (it is part of
# θ^w in Eq. 5); Emb stays frozen. Each step draws one mask per rationale (Eq. 4), mixes the
# embeddings, and takes an Adam step on L_k (Eq. 7).
#
# One step comes first that the paper does not need (ours): the **predictor warm-up**. Until
# the predictor can read an answer off a rationale, hiding tokens costs nothing in L_p, L_m
# wins alone, and every token gets masked. The paper's FlanT5-Large can already follow a
# rationale to its answer; the tiny LLaMA cannot, so it first trains on *unmasked* rationales
# for `WARMUP_STEPS` steps.
#
# This run is smaller than the full-size one so that the notebook stays within its CPU
# budget: `N_TRAIN` rationales, `EPOCHS` epochs, `WARMUP_STEPS` warm-up steps, batches of
# `BATCH_SIZE`. docs/WEIGHTING.md has the full-size run (400 rationales, 4 epochs of 16,
# 400 warm-up steps, three seeds), made with
#
#     kpod-lite teach --data data_samples/synthetic/train.jsonl --format kpod --teacher template --out rat_train.jsonl
#     kpod-lite teach --data data_samples/synthetic/validation.jsonl --format kpod --teacher template --out rat_validation.jsonl
#     python -m kpod_lite.weighting --train rat_train.jsonl --eval rat_validation.jsonl --seeds 0 1 2 --threads 2
#
# Training is deterministic for a seed on one machine; on another machine the numbers below
# can differ in the last digits. We hand `train_weighter` the predictor of section 3, which it
# trains in place, so that the exercises can ask the trained predictor what it reads.

# %%
started = time.perf_counter()
weighter, history = weighting.train_weighter(train_records, cfg, student=student, tokenizer=tokenizer,
                                             predictor=predictor, progress=True)
predictor.eval()
print(f"trained on {history['rationales']} rationales in {time.perf_counter() - started:.0f} s; "
      f"collapse: {history['collapse']}")

# %%
epochs = [e["epoch"] for e in history["epochs"]]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
axes[0].plot(np.arange(1, len(history["predictor_warmup"]) + 1) * 25, history["predictor_warmup"], "o-")
axes[0].set_xlabel("warm-up step")
axes[0].set_ylabel("answer loss (nats per answer token)")
axes[0].set_title("predictor warm-up (unmasked rationales)", fontsize=10)
axes[1].plot(epochs, [e["loss"] for e in history["epochs"]], "o-", label="L_k = L_p + α L_m (Eq. 7)")
axes[1].plot(epochs, [e["answer_loss"] for e in history["epochs"]], "s--", label="L_p (Eq. 5 / |K|)")
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("loss per rationale (nats)")
axes[1].set_title("mask learning: losses", fontsize=10)
axes[1].legend(fontsize=8)
axes[2].plot(epochs, [e["mask_ratio"] for e in history["epochs"]], "o-", label="kept fraction = L_m (Eq. 6 / n)")
axes[2].plot(epochs, [e["mean_weight"] for e in history["epochs"]], "s--", label="mean w_j")
axes[2].axhspan(0, weighting.COLLAPSE_LOW, color="red", alpha=0.15, label="collapse zones")
axes[2].axhspan(weighting.COLLAPSE_HIGH, 1, color="red", alpha=0.15)
axes[2].set_ylim(0, 1)
axes[2].set_xlabel("epoch")
axes[2].set_ylabel("fraction of rationale tokens")
axes[2].set_title("mask learning: how much is kept", fontsize=10)
axes[2].legend(fontsize=8)
for ax in axes[1:]:
    ax.set_xticks(epochs)
fig.tight_layout()
plt.show()

# %% [markdown]
# Reading the curves. The warm-up takes the predictor from guessing to reading the answer off
# a whole rationale (per answer token). The mask-learning losses are on another scale: L_p
# sums the answer's tokens (and its end-of-sequence token) and averages over the prefixes,
# and a prefix that stops before the result cannot give the answer, so L_p stays well above
# the warm-up's level. L_p and L_k fall as the predictor learns to read masked rationales and
# the weight generator learns which tokens it reads; the kept fraction falls as L_m takes away
# whatever L_p does not defend. The kept fraction and the mean weight move together, as they
# should: the mean of m_j is, in expectation, about the mean of w_j. (Each epoch's figures are
# means over its batches.)
#
# **Collapse.** Two failure modes make the weights useless, and `train_weighter` checks the
# last epoch's mean weight for both (`collapse_state`, `history["collapse"]`, and a
# `WeightCollapseWarning`):
#
# * **all masked** (mean w < 0.02): L_m won. Every weight is near 0 and they no longer rank
#   tokens. Causes: α too large for the answer-loss scale, a predictor that cannot use the
#   rationale (no warm-up, too weak a model), straight-through masks. Remedies: lower α, warm
#   the predictor up longer or use a stronger one, keep the relaxed masks.
# * **none masked** (mean w > 0.98): L_p won. Every weight is near 1; the order may still be
#   right, but the spread is too small to matter in Eq. 8 or Eq. 15. Remedies: raise α, or
#   lower τ so that a "masked" token lets less of itself through.
#
# docs/WEIGHTING.md has both on the tiny preset: α = 0.1 keeps 98-100 % of the tokens ("none
# masked"), α = 2 ends with 0.01 % kept ("all masked"). Exercise 3 measures, class by class,
# the α at which hiding a class breaks even.

# %%
# NBVAL_CHECK_OUTPUT
for mean_weight in (0.01, 0.3, 0.7, 0.99):
    print(f"mean weight {mean_weight:.2f}: collapse_state -> {weighting.collapse_state(mean_weight)}")

# %% [markdown]
# ## 7. The learned weights as a heat map (Figure 2)
#
# `weighting.weigh` gives every token of every rationale its weight w_j = σ(f_w(e_j)) (Eq. 3),
# with the student tokenizer's tokens and character offsets: the weight records that Eq. 8
# (notebook 03) and Eq. 15 read. We weigh the held-out validation rationales, which training
# never saw, and colour each token by its weight, deeper red for a higher weight, as the
# paper's Figure 2 does.

# %%
weight_records = weighting.weigh(eval_records, weighter, tokenizer, weighting.weighting_max_tokens(cfg))
by_id = {record["id"]: record for record in weight_records}


FONT_SIZE = 9  # points; a monospace glyph is 0.6 of that wide
CELL = FONT_SIZE * 0.6 / 0.85  # points per character cell: the glyph fills 85% of its cell
FIG_WIDTH, LEFT, RIGHT = 12, 0.01, 0.88  # inches; the text panel's edges, as fractions of the width


def layout_tokens(text, offsets, weights, width):
    """(piece, column, line, weight) per token: lines of `width` character cells, wrapped at tokens."""
    placed, position, column, line = [], 0, 0, 0
    for (start, end), w in zip(offsets, weights):
        column += len(text[position:start])  # text between tokens, if any
        piece = text[max(start, position):end].replace("\n", " ")  # byte tokens of one character share offsets
        position = max(position, end)
        if not piece:
            continue
        if column + len(piece) > width:
            line, column, piece = line + 1, 0, piece.lstrip()
        lead = len(piece) - len(piece.lstrip())  # a leading space is a gap, not part of the box
        if piece.strip():
            placed.append((piece.strip(), column + lead, line, w))
        column += len(piece)
    return placed, line + 1


def draw_weights(ax, placed, top):
    """Each token on a box as deep a red as its weight, its text centred in the box; `top`: first line."""
    cmap = plt.get_cmap("Reds")
    for piece, column, line, w in placed:
        ax.add_patch(plt.Rectangle((column, top + line + 0.1), len(piece), 0.8, facecolor=cmap(w),
                                   edgecolor="white", linewidth=0.5))
        ax.text(column + len(piece) / 2, top + line + 0.5, piece, ha="center", va="center", family="monospace",
                fontsize=FONT_SIZE, color="white" if w > 0.6 else "black")


# One panel for all shown rationales, in character cells across and lines down, so each token's
# text sits inside its box whatever the renderer: the cell is wider than a glyph.
shown = eval_records[:3]
width = int(FIG_WIDTH * (RIGHT - LEFT) * 72 / CELL)  # as many cells as the panel holds
layouts = [layout_tokens(r["rationale"], by_id[r["id"]]["offsets"], by_id[r["id"]]["weights"], width) for r in shown]
rows = sum(lines + 2 for _, lines in layouts)  # each rationale: a title line, its lines, a gap
fig = plt.figure(figsize=(FIG_WIDTH, rows * 1.9 * FONT_SIZE / 72))
ax = fig.add_axes([LEFT, 0, RIGHT - LEFT, 1])
top = 0
for record, (placed, lines) in zip(shown, layouts):
    ax.text(0, top + 0.5, f"{record['id']}: {record['question'][:width - 14]}...", fontsize=8, va="center")
    draw_weights(ax, placed, top + 1)
    top += lines + 2
ax.set_xlim(0, width)
ax.set_ylim(rows, 0)
ax.axis("off")
fig.colorbar(plt.cm.ScalarMappable(cmap="Reds", norm=plt.Normalize(0, 1)), cax=fig.add_axes([0.91, 0.1, 0.012, 0.8]),
             label="w_j (Eq. 3): probability of keeping the token")
plt.show()

# %% [markdown]
# The same as HTML, next to the ground-truth labels (which the module never saw). Hover over a
# token for its weight.

# %%
def weights_html(text, offsets, weights):
    parts, position = [], 0
    for (start, end), w in zip(offsets, weights):
        parts.append(html.escape(text[position:start]))  # anything between tokens
        piece = html.escape(text[max(start, position):end])  # byte tokens of one character share offsets
        parts.append(f'<span style="background:rgba(214,39,40,{w:.2f})" title="w = {w:.3f}">{piece}</span>')
        position = max(position, end)
    return f'<div style="font-family:monospace;line-height:1.9">{"".join(parts)}</div>'


def show_example(i=0):
    record = eval_records[i]
    weights_record = by_id[record["id"]]
    display(HTML(f"<b>{record['id']}</b> Q: {html.escape(record['question'])} <b>A: {record['answer']}</b>"
                 f"<p>learned weights:</p>{weights_html(record['rationale'], weights_record['offsets'], weights_record['weights'])}"
                 f"<p>ground-truth labels:</p>{viz.labelled_html(record['rationale'], record['spans'])}"))


show_example(0)

# %% [markdown]
# **Explore.** Step through the held-out rationales with the slider. On GitHub only the static
# example above shows; run the notebook to get the slider.

# %%
import ipywidgets as widgets

explorer = widgets.interactive(show_example, i=widgets.IntSlider(value=0, min=0, max=len(eval_records) - 1,
                                                                description="example"))
display(explorer)

# %% [markdown]
# Compare with the paper's Figure 2, where digits and operators come out deepest, and words
# that name the operation ("total", "adding", "twice") and people's names rank high too. Here
# digits, "=" and results get the deepest red and nearly every word is masked: filler, names
# and quantity words alike. The operator signs are where runs differ most (a mean weight
# anywhere from about 0.02 to 0.9 over the runs made for this notebook and docs/WEIGHTING.md;
# section 8 prints this run's). The reason is the predictor: a tiny model only has to read
# the result off the rationale, the digits are enough for that, and L_p rewards keeping
# nothing that the predictor can do without.
#
# ## 8. Do the weights find the keypoints? AUROC on held-out rationales
#
# Every token takes the label of most of its non-space characters (`token_classes`). The main
# score is the AUROC of the weights for keypoint tokens against filler tokens: the probability
# that a random keypoint token outweighs a random filler token (ties count half). 0.5 is
# chance, 1 a perfect ranking. The second AUROC puts keypoints against every other token
# (filler and plain). First from scratch, by comparing every pair, then with
# `weighting.keypoint_auroc`; the untrained weight generator gives the chance baseline.

# %%
def weights_by_class(records):
    classes = {}
    for source in records:
        weights_record = by_id[source["id"]]
        labels = weighting.token_classes(weights_record["offsets"], source["spans"], source["rationale"])
        for label, w in zip(labels, weights_record["weights"]):
            if label is not None:  # a whitespace-only token has no label
                classes.setdefault(label, []).append(w)
    return {label: np.array(ws) for label, ws in classes.items()}


def my_auroc(positive, negative):
    greater = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return greater + 0.5 * ties


classes = weights_by_class(eval_records)
keypoint = np.concatenate([ws for label, ws in classes.items() if label in ("number", "operator", "equals", "result", "quantity")])
rest = np.concatenate([classes["filler"], classes["plain"]])
scores = weighting.keypoint_auroc(weight_records, eval_records)
assert math.isclose(my_auroc(keypoint, classes["filler"]), scores["auroc_keypoint_vs_filler"], abs_tol=1e-4)
assert math.isclose(my_auroc(keypoint, rest), scores["auroc_keypoint_vs_rest"], abs_tol=1e-4)

untrained = weighting.keypoint_auroc(
    weighting.weigh(eval_records, weighting.build_weighter(student, cfg), tokenizer, weighting.weighting_max_tokens(cfg)),
    eval_records)
print(f"{'AUROC on ' + str(len(eval_records)) + ' held-out rationales':38} {'untrained':>10} {'trained':>10}")
for key, name in [("auroc_keypoint_vs_filler", "keypoint vs filler"), ("auroc_keypoint_vs_rest", "keypoint vs filler + plain")]:
    print(f"{name:38} {untrained[key]:10.3f} {scores[key]:10.3f}")
print(f"\n{'mean weight per token class':38} {'untrained':>10} {'trained':>10} {'tokens':>8}")
for label in ("number", "operator", "equals", "result", "quantity", "filler", "plain"):
    print(f"{label:38} {untrained['mean_weight'][label]:10.2f} {scores['mean_weight'][label]:10.2f} "
          f"{scores['tokens'][label]:8d}")

# %%
order = ["number", "operator", "equals", "result", "quantity", "filler", "plain"]
fig, ax = plt.subplots(figsize=(8, 3))
x = np.arange(len(order))
ax.bar(x - 0.2, [untrained["mean_weight"][c] for c in order], width=0.4, color="#bbbbbb", label="untrained")
ax.bar(x + 0.2, [scores["mean_weight"][c] for c in order], width=0.4, color="#d62728", label="trained")
ax.set_xticks(x, order)
ax.set_xlabel("token class (synthetic labels, never seen in training)")
ax.set_ylabel("mean w_j (probability kept)")
ax.set_ylim(0, 1)
ax.axvline(4.5, color="black", linewidth=0.8)
ax.text(2, 1.03, "keypoint labels", ha="center", fontsize=9)
ax.text(5.5, 1.03, "not keypoints", ha="center", fontsize=9)
ax.legend(loc="lower left", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# For comparison, the full-size runs recorded in docs/WEIGHTING.md (400 training rationales,
# 4 epochs in batches of 16, 400 warm-up steps; the same 100 validation rationales):
#
# | seed | AUROC keypoint vs filler | AUROC keypoint vs rest | kept fraction (last epoch) |
# |---|---|---|---|
# | 0 | 0.928 | 0.941 | 0.45 |
# | 1 | 0.931 | 0.942 | 0.35 |
# | 2 | 0.912 | 0.911 | 0.40 |
# | **mean** | **0.923** | **0.931** | |
#
# Mean weight per class there (seeds 0 / 1 / 2): number 0.98 / 0.98 / 0.99, result
# 0.98 / 0.98 / 0.99, equals 0.98 / 0.97 / 0.99, operator 0.88 / 0.70 / 0.83, quantity
# 0.38 / 0.16 / 0.32, plain 0.18 / 0.10 / 0.27, filler 0.25 / 0.11 / 0.27. Over α (three
# seeds each): 0.1 gives 0.878 and "none masked", 0.5 gives 0.923, 1 gives 0.915, 2 gives
# 0.723 and "all masked"; flat between 0.5 and 1, as the paper's Figure 3a finds for accuracy.
# The same page lists what failed: the tiny T5 as predictor (0.301), position codes in Att
# (0.616), no warm-up (0.486, all masked).
#
# Those runs date from when the tiny preset's student was the tiny T5, so Emb was the tiny
# T5's embedding table (the predictor was the tiny LLaMA, as here). With the tiny LLaMA as the
# student, the same full-size command gave 0.865 against filler and 0.887 against the rest,
# keeping 79% of the tokens (seed 0, docs/WEIGHTING.md). Next to this notebook's smaller run:

# %%
last_epoch = history["epochs"][-1]
print(f"{'':44} {'vs filler':>9} {'vs rest':>8} {'kept (last epoch)':>18}")
print(f"{'full size, tiny LLaMA student (WEIGHTING.md)':44} {0.865:9.3f} {0.887:8.3f} {0.79:18.1%}")
print(f"{'this run':44} {scores['auroc_keypoint_vs_filler']:9.3f} {scores['auroc_keypoint_vs_rest']:8.3f} "
      f"{last_epoch['mask_ratio']:18.1%}")
kept_by_epoch = [e["mask_ratio"] for e in history["epochs"]]
n_steps = cfg.weighting_epochs * math.ceil(history["rationales"] / cfg.weighting_batch_size)
print(f"this run: {n_steps} mask-learning steps of {cfg.weighting_batch_size} rationales; kept fraction by epoch "
      f"{[round(k, 3) for k in kept_by_epoch]}, "
      f"{'still falling' if len(kept_by_epoch) > 1 and kept_by_epoch[-1] < kept_by_epoch[-2] else 'not falling'} "
      f"in the last epoch")

# %% [markdown]
# The ranking (the AUROC) and the kept fraction are different measurements. The kept fraction
# depends on how far a run got: the full-size run makes 100 mask-learning steps of 16
# rationales (4 epochs of 25 batches), this one the number printed above, and L_m keeps taking
# away what L_p does not defend for as long as training goes on (the line above says whether
# the kept fraction was still falling at the end). Two runs can rank the keypoints about equally well
# and keep very different shares of the tokens.
#
# What the AUROC lacks to 1 is lost on the quantity words and, in some runs, the operator
# signs: keypoints by label, but the tiny predictor gets the answer from the digits alone, so
# hiding "total" or "+" costs it almost nothing. A predictor that really computes
# (FlanT5-Large on GSM8K) has more reason to keep them.
#
# ## Recap
#
# * Eq. 2-3: w_j = σ(f_w(Att(Emb(r))_j)), Emb the student's frozen embedding table, one
#   self-attention layer (no positions), a two-layer MLP; w_j is the probability of keeping r_j.
# * Eq. 4: two-outcome Gumbel-softmax = σ((l_j + log U - log(1 - U))/τ); P(m_j > 1/2) = w_j.
# * The mask mixes embeddings, m_j E(r_j) + (1 - m_j) e_mask. Swapping ids for a mask id cuts
#   the gradient from the answer to f_w, and L_m alone then masks everything.
# * Eq. 5: the answer from the question and prefixes of the masked rationale, against the
#   "read only the last step" shortcut; "steps" (step ends only) is a cheaper, different mean.
# * Eq. 6-7: L_k = L_p + α L_m; normalised per prefix and per token, each token is kept when
#   hiding it costs more than α nats. Too large an α masks everything, too small masks nothing.
# * On synthetic rationales the learned weights rank digits, "=" and results above filler
#   (AUROC against filler well above chance in every run above, and in this one: section 8);
#   quantity words are the weak spot.
# * Not in the paper, needed at tiny scale: warm the predictor up first, and use the tiny LLaMA
#   as the predictor.
#
# ## Exercises
#
# **Exercise 1 (recall).** A token has w_j = 0.7. With what probability is it kept
# (m_j > 1/2) at τ = 0.1, 0.5, 1 and 2? Is the mean of m_j also 0.7? And how much of the token
# does a "masked" draw (m_j < 1/2) still let through, on average? Check with `gumbel_mask`.
#
# **Exercise 2 (apply).** How many predictor rows does a rationale cost in each prefix mode?
# Count them over the training rationales with `weighting.prefix_lengths`, then time the
# library's Eq. 5 loss (`weighting.answer_prediction_loss`), forward and backward, on the first
# 2 training rationales in each mode.
#
# **Exercise 3 (a small experiment).** What does the trained predictor read? On 30 held-out
# rationales, hide every token of one class (m_j = 0 for that class, 1 for all others) and
# measure how much L_p rises. Eq. 7, normalised as the library does, keeps a token when hiding
# it costs more than α / n of L_p per prefix, so the rise divided by the hidden share of the
# tokens is the α at which hiding the class breaks even. Compare those α with α = 0.5 and with
# the learned mean weights of section 8.

# %% [markdown]
# **Solutions** (the cells below run; expand them)

# %% jupyter={"source_hidden": true}
# Solution 1. P(m_j > 1/2) = w_j at every τ (that is what Eq. 4 guarantees), but the mean of m_j
# is pulled towards 1/2 as τ grows, and a masked draw lets more of the token through.
logit_07 = torch.full((20000,), math.log(0.7 / 0.3))
means, leaks = [], []
for t in (0.1, 0.5, 1.0, 2.0):
    m = weighting.gumbel_mask(logit_07, t, generator=torch.Generator().manual_seed(0))
    kept_p, means_t, leak = float((m > 0.5).float().mean()), float(m.mean()), float(m[m < 0.5].mean())
    means.append(means_t), leaks.append(leak)
    print(f"τ = {t}: P(m_j > 1/2) = {kept_p:.3f}, mean m_j = {means_t:.3f}, mean m_j of a masked draw = {leak:.3f}")
    assert abs(kept_p - 0.7) < 0.015
assert all(a > b for a, b in zip(means, means[1:])) and 0.5 < means[-1] < 0.7  # towards 1/2
assert all(a < b for a, b in zip(leaks, leaks[1:]))  # a warmer τ hides less of a masked token

# %% jupyter={"source_hidden": true}
# Solution 2. "steps": one row per step (and the whole rationale); "all": one per token.
rows = {mode: [len(weighting.prefix_lengths(rationale_tokens(tokenizer, r["rationale"])[1], r["rationale"], mode))
               for r in train_records] for mode in ("steps", "all")}
for mode, counts in rows.items():
    print(f"{mode!r:8} {np.mean(counts):5.1f} predictor rows per rationale on average (min {min(counts)}, max {max(counts)})")


def timed_answer_loss(records, mode):
    """One forward and backward pass of Eq. 5 through the predictor, as one training step makes."""
    questions_, masked_, ks_, answers_ = [], [], [], []
    for record in records:
        r_ids_, r_offsets_ = rationale_tokens(tokenizer, record["rationale"])
        r_ids_ = torch.tensor([r_ids_], device=device)
        with torch.no_grad():
            m_ = weighting.gumbel_mask(weighter(r_ids_, torch.ones_like(r_ids_)), tau,
                                       generator=torch.Generator().manual_seed(0))[0]
        masked_.append(weighting.apply_mask(table(r_ids_[0]), m_, table(torch.tensor(mask_id, device=device))))
        questions_.append(table(ids_of(templates.build_prompt(record["question"]))))
        ks_.append(weighting.prefix_lengths(r_offsets_, record["rationale"], mode))
        answers_.append(ids_of(" " + str(record["answer"])).tolist() + [tokenizer.eos_token_id])
    started_ = time.perf_counter()
    loss = weighting.answer_prediction_loss(predictor, questions_, masked_, ks_, answers_, trigger_embeds=table(trigger),
                                            bos_embed=None if bos is None else table(torch.tensor(bos, device=device)))
    loss.sum().backward()
    predictor.zero_grad(set_to_none=True)
    return time.perf_counter() - started_, sum(len(k) for k in ks_)


seconds_by_mode = {}
for mode in ("steps", "all"):
    seconds_by_mode[mode], n_rows = timed_answer_loss(train_records[:2], mode)
    print(f"{mode!r:8} on 2 rationales: {n_rows:3d} rows, {seconds_by_mode[mode]:.2f} s forward and backward")
print(f"'all' costs {seconds_by_mode['all'] / seconds_by_mode['steps']:.0f} times as much here")
assert np.mean(rows["all"]) > 10 * np.mean(rows["steps"]) and seconds_by_mode["all"] > seconds_by_mode["steps"]

# %% jupyter={"source_hidden": true}
# Solution 3. A class whose break-even α is far above α = 0.5 is worth keeping, one below it is
# worth masking, and the learned weights follow. Near 0.5 (operators, quantity words, here) a
# class-wide estimate is rough and runs differ: hiding is measured with all else visible, while
# training masks most tokens at once.
def answer_loss_hiding(records, hidden):
    questions_, masked_, ks_, answers_, shares = [], [], [], [], []
    for record in records:
        r_ids_, r_offsets_ = rationale_tokens(tokenizer, record["rationale"])
        labels = weighting.token_classes(r_offsets_, record["spans"], record["rationale"])
        m_ = torch.tensor([0.0 if label in hidden else 1.0 for label in labels], device=device)
        masked_.append(weighting.apply_mask(table(torch.tensor(r_ids_, device=device)), m_,
                                            table(torch.tensor(mask_id, device=device))))
        questions_.append(table(ids_of(templates.build_prompt(record["question"]))))
        ks_.append(weighting.prefix_lengths(r_offsets_, record["rationale"], cfg.prefix_mode))
        answers_.append(ids_of(" " + str(record["answer"])).tolist() + [tokenizer.eos_token_id])
        shares.append(1 - float(m_.mean()))  # the hidden share of the tokens, in L_m's units
    with torch.no_grad():
        loss = weighting.answer_prediction_loss(predictor, questions_, masked_, ks_, answers_, trigger_embeds=table(trigger),
                                                bos_embed=None if bos is None else table(torch.tensor(bos, device=device)))
    return loss.cpu().numpy(), np.array(shares)


probe = eval_records[:30]
visible, _ = answer_loss_hiding(probe, set())
break_even = {}
print(f"{'hidden':18} {'share':>6} {'rise of L_p':>12} {'break-even α':>13} {'learned mean w':>15}")
for hidden in ({"number", "result"}, {"equals"}, {"operator"}, {"quantity"}, {"filler"}, {"plain"}):
    loss, shares = answer_loss_hiding(probe, hidden)
    name = " + ".join(sorted(hidden))
    break_even[name] = (loss - visible).sum() / shares.sum()
    learned = np.mean([scores["mean_weight"][label] for label in hidden])
    print(f"{name:18} {shares.mean():6.1%} {np.mean(loss - visible):9.2f} nats {break_even[name]:13.2f} {learned:15.2f}")
assert break_even["filler"] < cfg.alpha < break_even["number + result"]
