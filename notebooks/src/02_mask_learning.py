# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/kpod-lite/kpod-lite/blob/main/notebooks/02_mask_learning.ipynb)
#
# # 02. Mask learning: which rationale tokens matter? (Eq. 2-7)
#
# KPOD weighs every rationale token, without labels: a small module learns to *hide* as many
# tokens as it can while a transformer must still read the answer off the question and what
# is left. A token's weight w_j is the probability that the module keeps it; Eq. 8
# (notebook 03) and Eq. 15 (notebook 06) read it. You build Eq. 2-7 from scratch, check them
# against `kpod_lite.weighting`, then read the thread's learned weights, starting with Ben's
# magazines.
#
# **After this notebook you can** explain each of Eq. 2-7 in code, say why the mask acts on
# embeddings rather than token ids, and measure what token weights separate and what not.
#
# **Paper:** §3.3 (Eq. 2-7), App. A (α, the student's embedding layer), §4.5 (Figure 2).
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
# The thread: the tiny preset's task (synthetic + and - word problems of 2-3 steps, whose
# template-teacher rationales label every character) and its student, the tiny LLaMA. Its
# embedding table is Emb, and a copy of it predicts the answer in Eq. 5. Training the module
# on the 800 rationales costs several CPU minutes, so the pipeline's weigh stage did it once:
# `data_samples/thread/weights.jsonl` holds the weights that notebooks 03, 04 and 06 use too.

# %% tags=["parameters"]
import os

PRESET = os.environ.get("KPOD_PRESET", "tiny")  # tiny | flan-t5-large | flan-t5-xl | llama-7b

# %%
# %matplotlib inline
import json
import math
import time
from collections import defaultdict

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML, display
from torch import nn
from torch.nn import functional as F
from transformers.utils import logging as hf_logging

from kpod_lite import config, data, diagrams, templates, thread, token_map, viz, weighting
from kpod_lite.models import is_local_build, load_student, pad_right, student_input_embeddings
from kpod_lite.synthetic import KEYPOINT_LABELS
from kpod_lite.templates import rationale_tokens

cfg = config.preset(PRESET)
if is_local_build(cfg.student):  # a progress widget per load of a local model would clutter the page;
    hf_logging.disable_progress_bar()  # a GPU preset keeps the bars: its first load is a download
student, tokenizer = load_student(cfg)
device = student.device
rationales = thread.records("rationales.jsonl")  # the template teacher's, after answer filtering
thread_weights = thread.records("weights.jsonl")  # Eq. 3's w_j for every token of every rationale
summary = json.loads((thread.thread_folder() / "weights.summary.json").read_text())
thread_cfg = json.loads((thread.thread_folder() / "config.json").read_text())
example = thread.named("rationales.jsonl")  # Ben's magazines
print(f"student {cfg.student}; answer predictor (Eq. 5): {cfg.weighting_predictor or 'a copy of the student'}")
print(f"the thread: {len(rationales)} rationales weighed with α = {thread_cfg['alpha']}, "
      f"τ = {thread_cfg['gumbel_temperature']}, prefixes {thread_cfg['prefix_mode']!r}")

# %% [markdown]
# The whole module at a glance. Blue boxes are θ^w, the parameters Eq. 7 trains; the
# rationale's tokens flow along the top row to a weight and a mask, the masked rationale and
# the question go to the transformer, and the two losses meet in L_k. Sections 1-5 build one
# box or arrow each.

# %%
diagrams.mask_learning_figure()
plt.show()

# %% [markdown]
# Ben's magazines, with the template teacher's labels. Keypoint labels are *number*,
# *operator*, *equals*, *result* and *quantity* (words that name the operation); *filler*
# (planted padding) and *plain* are not. Mask learning never sees the labels: we keep them to
# grade the weights.

# %%
print(f"Q: {example['question']}\nA: {example['answer']}")
display(HTML(viz.labelled_html(example["rationale"], example["spans"])))

# %% [markdown]
# ## 1. Weight generation (Eq. 2-3), from scratch
#
# $$e = \mathrm{Att}(\mathrm{Emb}(r)) \quad\text{(Eq. 2)}, \qquad
#   w_j = \sigma(f_w(e_j)) \quad\text{(Eq. 3)}$$
#
# * **Emb**: the student's input embedding table, copied and frozen (App. A: one tokenizer
#   for weights and student).
# * **Att**: one self-attention layer, which *could* make a token's weight depend on its
#   context (section 9 measures whether it does). No position codes, as in Eq. 2; we add a
#   residual connection and a layer norm (ours).
# * **f_w**: a two-layer MLP; σ turns its output l_j into the probability of keeping token j.
#   Its last bias starts at log(0.9/0.1) (ours), so training starts with most tokens kept.

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

batch_ids = [rationale_tokens(tokenizer, record["rationale"])[0] for record in rationales[:2]]
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
# Drawing m_j ∈ {0, 1} from Bernoulli(w_j) has no gradient, so the paper relaxes it with the
# Gumbel-softmax (Jang et al., 2016): Gumbel noise on the log-probabilities of keep and mask,
# then a softmax at temperature τ. With two outcomes it is a sigmoid, since the difference of
# two Gumbel draws is logistic:
#
# $$m_j = \sigma\big((l_j + \log U - \log(1 - U))/\tau\big),\quad U \sim \mathrm{Uniform}(0, 1)$$
#
# Both forms below keep token j (m_j > 1/2) with probability w_j at any τ; the one-uniform
# form draws the very numbers of `weighting.gumbel_mask`.

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
# ## 3. The mask acts on embeddings
#
# The masked rationale mixes each token's embedding with that of one mask token:
# r[m]_j = m_j E(r_j) + (1 - m_j) e_mask. Swapping the ids of masked tokens for the mask id
# looks the same for a binary mask but has no gradient (a comparison and an integer id), so
# the answer loss could not tell f_w which tokens it needed; L_m alone would then mask
# everything. The cells below check both, with the transformer of Eq. 5: the tiny LLaMA,
# which shares the student's vocabulary as the masks require.

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
# The transformer reads the question x and the first k tokens of the masked rationale, then
# must produce the answer y. Every prefix, because a last step that restates the result would
# otherwise let the module keep it alone and mask every earlier step (the shortcut §3.3 names).
# Eq. 5 sums over k = 1..n (`prefix_mode="all"`); the library's default, `"steps"`, keeps the
# prefixes that end where a step ends, plus k = n: far fewer predictor rows.

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
# batches every (rationale, k). Like the library we divide the sum by the number of prefixes
# |K|. The cell also times the library on both prefix sets and prints the ratio.

# %%
bos = None if predictor.config.is_encoder_decoder else tokenizer.bos_token_id  # as the library does


def my_answer_prediction_loss(question, masked_rationale, ks, answer):
    head = [] if bos is None else [table(torch.tensor([bos], device=device))]
    rows = [answer_nll(torch.cat(head + [table(question), masked_rationale[:k], table(trigger)]), answer) for k in ks]
    return torch.stack(rows).sum() / len(ks)  # Eq. 5, divided by |K|


def library_answer_loss(masked, ks):
    return weighting.answer_prediction_loss(
        predictor, [table(question)], [masked], [ks], [answer.tolist()], trigger_embeds=table(trigger),
        bos_embed=None if bos is None else table(torch.tensor(bos, device=device)))[0]


with torch.no_grad():
    m = weighting.gumbel_mask(lib(r_ids, torch.ones_like(r_ids)), tau, generator=torch.Generator().manual_seed(0))[0]
    masked = my_apply_mask(table(r_ids[0]), m, table(torch.tensor(mask_id, device=device)))
    ks_steps = weighting.prefix_lengths(r_offsets, text, "steps")
    assert torch.allclose(my_answer_prediction_loss(question, masked, ks_steps, answer),
                          library_answer_loss(masked, ks_steps), atol=1e-4)
    seconds = {}
    for mode in ("steps", "all"):
        ks_mode = weighting.prefix_lengths(r_offsets, text, mode)
        started = time.perf_counter()
        lp_mode = library_answer_loss(masked, ks_mode)
        seconds[mode] = time.perf_counter() - started
        print(f"prefixes {mode!r:8}: {len(ks_mode):3d} predictor rows, L_p = {float(lp_mode):.2f} nats, "
              f"{seconds[mode]:.3f} s")
print(f"'all' takes {seconds['all'] / seconds['steps']:.0f} times as long as 'steps' on this rationale")

# %% [markdown]
# The two prefix sets do not estimate the same mean: "steps" gives the whole rationale a
# weight of 1/|K| where Eq. 5 gives it 1/n, so α under "steps" is not the paper's trade-off
# (section 5 works out what it is). Exercise 3 asks what the step prefixes let the predictor
# skip.

# %% [markdown]
# ## 5. The mask-ratio loss (Eq. 6) and the total (Eq. 7)
#
# $$\mathcal L_m = \sum_j m_j \quad\text{(Eq. 6)}, \qquad
#   \mathcal L_k = \mathcal L_p + \alpha\,\mathcal L_m \quad\text{(Eq. 7)}$$
#
# L_m pulls every m_j towards 0; L_p pushes back on the tokens the answer needs. The library
# divides Eq. 5 by |K| and Eq. 6 by n (ours), so long rationales do not outweigh short ones.
# Per rationale, with NLL_k the answer's loss from prefix k,
# L_k = (1/|K|) Σ_{k∈K} NLL_k + (α/n) Σ_j m_j: hiding a token saves α/n, so it is kept when
# hiding it raises the NLL_k, summed over K, by more than **α|K|/n nats**. With every prefix
# (|K| = n, Eq. 5) that is α nats, Eq. 7's trade-off; with the thread's "steps", far less.
# Below: the thresholds for Ben's magazines, then L_m and L_k on four padded rationales.

# %%
# NBVAL_CHECK_OUTPUT
alpha, thread_mode = thread_cfg["alpha"], thread_cfg["prefix_mode"]  # what the thread's weights were trained with
n_ben, K_ben = len(r_offsets), len(weighting.prefix_lengths(r_offsets, text, thread_mode))
m_probe = torch.full((1, n_ben), 0.5, requires_grad=True)
ratio_only = weighting.keypoint_loss(torch.zeros(1), weighting.mask_ratio_loss(m_probe, torch.ones(1, n_ben)), alpha)
(saving,) = torch.autograd.grad(ratio_only, m_probe)  # what hiding one token saves in L_k
assert torch.allclose(saving, torch.full_like(saving, alpha / n_ben))  # the 1/n of the library's L_m
print(f"Ben's magazines: n = {n_ben} tokens, α = {alpha}; hiding a token saves α/n = {alpha / n_ben:.4f} of L_k")
print(f"  {thread_mode!r}: |K| = {K_ben} prefixes, kept when hiding costs > α|K|/n = {alpha * K_ben / n_ben:.4f} nats "
      f"summed over K")
print(f"  'all'  : |K| = {n_ben} prefixes, kept when hiding costs > α = {alpha} nats summed over K "
      f"({n_ben / K_ben:.0f} times the {thread_mode!r} threshold)")


# %%
def my_mask_ratio_loss(m, attention_mask):
    return (m * attention_mask).sum(-1) / attention_mask.sum(-1)  # Eq. 6 / n: the kept fraction


def my_keypoint_loss(answer_loss, ratio_loss, alpha):
    return (answer_loss + alpha * ratio_loss).mean()  # Eq. 7, averaged over the batch


four = rationales[:4]
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

# %% [markdown]
# ## 6. Training, as the thread's weigh stage ran it
#
# `weighting.train_weighter` updates θ^w (Att, f_w and the transformer; Emb stays frozen): one
# mask per rationale and step (Eq. 4), an Adam step on L_k (Eq. 7). First comes a step the
# paper does not need (ours): a **predictor warm-up** on unmasked rationales. Until the
# predictor can read an answer off a rationale, hiding costs nothing in L_p and L_m masks
# everything; FlanT5-Large can already, the tiny LLaMA cannot. The stage records its history in
# `weights.summary.json`. Read the right panel for **collapse**: a mean weight in a red zone
# means everything masked (L_m won) or nothing masked (L_p won), weights that rank nothing.

# %%
history = summary["history"]
warmup_every = thread_cfg["weighting_predictor_warmup_steps"] / len(history["predictor_warmup"])
epochs = [e["epoch"] for e in history["epochs"]]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.2))
axes[0].plot(np.arange(1, len(history["predictor_warmup"]) + 1) * warmup_every, history["predictor_warmup"], "o-")
axes[0].set_xlabel("warm-up step")
axes[0].set_ylabel("answer loss (nats per token)")
axes[0].set_title("predictor warm-up (unmasked rationales)", fontsize=10)
axes[1].plot(epochs, [e["mask_ratio"] for e in history["epochs"]], "o-", label="kept fraction = L_m (Eq. 6 / n)")
axes[1].plot(epochs, [e["mean_weight"] for e in history["epochs"]], "s--", label="mean w_j")
axes[1].axhspan(0, weighting.COLLAPSE_LOW, color="red", alpha=0.15, label="collapse zones")
axes[1].axhspan(weighting.COLLAPSE_HIGH, 1, color="red", alpha=0.15)
axes[1].set(ylim=(0, 1), xticks=epochs, xlabel="epoch", ylabel="fraction of rationale tokens")
axes[1].set_title("mask learning: how much is kept", fontsize=10)
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()
print(f"{history['rationales']} rationales, {len(epochs)} epochs, {summary['seconds']:.0f} s on the CPU; "
      f"collapse: {history['collapse']}; collapse zones: mean w < {weighting.COLLAPSE_LOW} or > {weighting.COLLAPSE_HIGH}")

# %% [markdown]
# ## 7. Ben's magazines as a heat map (Figure 2)
#
# Each token of the named question's rationale on a box as deep a red as its learned weight,
# as in the paper's Figure 2. Compare it with the labels above: look at the digits, "=", the
# operator signs, the quantity words and the filler.

# %%
weights_named = thread.named("weights.jsonl")
token_map.token_heatmap([(f"Ben's magazines ({thread.NAMED_ID}), answer {example['answer']}",
                          example["rationale"], weights_named["offsets"], weights_named["weights"])])
plt.show()

# %% [markdown]
# ## 8. What do the weights separate? All 800 rationales
#
# Every token takes the label of most of its characters (`weighting.token_classes`). The AUROC
# of the weights for keypoint against filler tokens is the probability that a random keypoint
# token outweighs a random filler token (ties count half): 0.5 is chance. From scratch first,
# then `weighting.keypoint_auroc`; the untrained module gives the baseline. These are the
# rationales the module trained on: the pipeline weighs what it distils, so there is no
# held-out split here.

# %%
def token_rows(weight_records, rationale_records):
    """(token string, label, w_j) for every token that owns a labelled character."""
    sources = {record["id"]: record for record in rationale_records}
    rows = []
    for record in weight_records:
        source = sources[record["id"]]
        labels = weighting.token_classes(record["offsets"], source["spans"], source["rationale"])
        rows += [(t, label, w) for t, label, w in zip(record["tokens"], labels, record["weights"]) if label]
    return rows


def my_auroc(positive, negative):
    """P(a random positive outweighs a random negative), ties counting half (Mann-Whitney)."""
    negative = np.sort(negative)
    below = np.searchsorted(negative, positive, side="left")
    ties = np.searchsorted(negative, positive, side="right") - below
    return float((below + 0.5 * ties).mean() / len(negative))


rows = token_rows(thread_weights, rationales)
weights_of = lambda keep: np.array([w for _, label, w in rows if keep(label)])  # noqa: E731
keypoint, filler = weights_of(lambda label: label in KEYPOINT_LABELS), weights_of(lambda label: label == "filler")
scores = weighting.keypoint_auroc(thread_weights, rationales)
assert math.isclose(my_auroc(keypoint, filler), scores["auroc_keypoint_vs_filler"], abs_tol=1e-4)
assert math.isclose(my_auroc(keypoint, weights_of(lambda label: label not in KEYPOINT_LABELS)),
                    scores["auroc_keypoint_vs_rest"], abs_tol=1e-4)
untrained = weighting.keypoint_auroc(weighting.weigh(rationales, weighting.build_weighter(student, cfg), tokenizer,
                                                     weighting.weighting_max_tokens(cfg)), rationales)
print(f"{'AUROC':28} {'untrained':>10} {'thread':>8}")
for key, name in [("auroc_keypoint_vs_filler", "keypoint vs filler"), ("auroc_keypoint_vs_rest", "keypoint vs the rest")]:
    print(f"{name:28} {untrained[key]:10.3f} {scores[key]:8.3f}")
order = ["number", "result", "equals", "operator", "quantity", "filler", "plain"]
print(f"\n{'class':10} {'tokens':>7} {'mean w (untrained)':>19} {'mean w (thread)':>16} {'share with w > 1/2':>19}")
for label in order:
    print(f"{label:10} {scores['tokens'][label]:7d} {untrained['mean_weight'][label]:19.2f} "
          f"{scores['mean_weight'][label]:16.2f} {np.mean(weights_of(lambda lb: lb == label) > 0.5):19.1%}")
kept_words = defaultdict(list)
for t, label, w in rows:
    if label == "quantity":
        kept_words[t.lstrip("Ġ▁")].append(w)
print("\nquantity words, mean w:", ", ".join(f"{word} {np.mean(ws):.2f}" for word, ws in
                                         sorted(kept_words.items(), key=lambda kv: -np.mean(kv[1]))))

# %%
fig, ax = plt.subplots(figsize=(8, 3))
x = np.arange(len(order))
ax.bar(x - 0.2, [untrained["mean_weight"][c] for c in order], width=0.4, color="#bbbbbb", label="untrained")
ax.bar(x + 0.2, [scores["mean_weight"][c] for c in order], width=0.4, color=viz.KPOD_COLOUR, label="the thread's")
ax.set_xticks(x, order)
ax.set(ylim=(0, 1), ylabel="mean w_j (probability kept)", xlabel="token class (labels never seen in training)")
ax.axvline(4.5, color="black", linewidth=0.8)
ax.text(2, 1.03, "keypoint labels", ha="center", fontsize=9)
ax.text(5.5, 1.03, "not keypoints", ha="center", fontsize=9)
ax.legend(loc="center right", fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# **What the weights separate:** digits and "=" against filler and plain words, almost
# perfectly (read the last column: nearly all of one side above 1/2, nearly none of the other).
#
# **What they do not:** an AUROC short of 1 comes from keypoint labels that are masked like
# filler. The operator signs are masked, and so are some quantity words while others are kept:
# the module splits the quantity class word by word. Nor do the weights tell a result from an
# operand: both are kept. The tiny predictor gets the answer from the digits, so hiding "+" or
# "total" costs it almost nothing; Exercise 3 shows why. Filler and plain words are masked
# alike, so the weights cannot tell planted padding from ordinary connecting words.

# %% [markdown]
# ## 9. Does Att make the weights depend on context?
#
# Eq. 2's attention *can* give one token string different weights in different roles. Measure
# it: how much of the variance of w_j does the token's string alone explain, and does one
# string get different weights as, say, an operand and a result?

# %%
by_string, by_role = defaultdict(list), defaultdict(list)
for t, label, w in rows:
    by_string[t].append(w)
    by_role[t, label].append(w)
all_w = np.array([w for *_, w in rows])
within = sum(((np.array(ws) - np.mean(ws)) ** 2).sum() for ws in by_string.values())
explained = 1 - within / ((all_w - all_w.mean()) ** 2).sum()
print(f"{len(by_string)} token strings; the string alone explains {explained:.2%} of the variance of w_j")
print("one string in several roles (roles seen 100 times or more), mean w_j by role:")
for t in sorted(by_string, key=lambda s: -len(by_string[s])):
    roles = {label: ws for (s, label), ws in by_role.items() if s == t and len(ws) >= 100}
    if len(roles) > 1:
        print(f"  {t!r:8}", ", ".join(f"{label} {np.mean(ws):.3f} (n={len(ws)})" for label, ws in roles.items()))
widest = max(by_string, key=lambda s: np.ptp(by_string[s]))
print(f"\nthe widest spread of one string: {widest!r}, w_j from {min(by_string[widest]):.3f} "
      f"to {max(by_string[widest]):.3f} over {len(by_string[widest])} occurrences")
assert explained > 0.9  # what the prose below says: the string, not the context, sets the weight

# %% [markdown]
# Att could make the weights context-dependent, and in this run it barely does: the token's
# string explains nearly all of the variance (first line), a digit weighs the same as an
# operand and as a result, and "we" or "," weigh the same as filler and as plain text. The
# last line is the exception: one word whose weight context does move, over the range
# printed. In effect the module learned a lookup table from token string to weight. Eq. 15 therefore cannot favour a result over an
# operand, and a word that is padding in one rationale and a keypoint in another gets one
# weight in both.

# %% [markdown]
# ## Recap
#
# * Eq. 2-3: w_j = σ(f_w(Att(Emb(r))_j)), Emb the student's frozen table; w_j = P(keep r_j).
# * Eq. 4: two-outcome Gumbel-softmax, σ((l_j + log U - log(1 - U))/τ); P(m_j > 1/2) = w_j.
# * The mask mixes embeddings; swapping ids cuts the gradient from the answer to f_w.
# * Eq. 5: the answer from the question and *prefixes* of the masked rationale, against the
#   shortcut of reading only the last step; "steps" is a cheaper, different mean.
# * Eq. 6-7: L_k = L_p + α L_m; keep a token when hiding it costs more than α|K|/n nats summed
#   over the prefixes K: α with every prefix, far less with the thread's "steps".
# * The thread's weights keep digits and "=" and mask filler, plain words, operator signs and
#   some quantity words, and a token's string sets its weight whatever its role.

# %% [markdown]
# ## Exercises
#
# **Exercise 1 (Eq. 4).** A token has w_j = 0.7. *Predict* how often it is kept (m_j > 1/2)
# at τ = 0.1, 0.5, 1 and 2, and whether the mean of m_j is 0.7 too. *Run* `gumbel_mask`.
# *Explain* what a warm τ does to a "masked" token.
#
# **Exercise 2 (Eq. 15 ahead).** Eq. 15 weighs each token's loss by w_j. *Predict* the share
# of the summed weight on keypoint tokens, against their share of the tokens. *Run* it on the
# thread's weights. *Explain* what the student will be pushed hardest to copy.
#
# **Exercise 3 (Eq. 5 and the signs).** A + / - answer depends on the sign, yet the signs are
# masked. *Predict* whether any "steps" prefix ends between a step's operands and its result.
# *Run* `weighting.prefix_lengths` with the labels over all rationales. *Explain* why hiding
# "+" costs the predictor nothing, and what `prefix_mode="all"` would change.

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
# Solution 2. Keypoint tokens are a minority of the tokens but take nearly all of the weight, most of it on
# digits: Eq. 15 pushes the student to copy numbers and "=", and barely weighs the words around them.
total = all_w.sum()
shares = {label: (np.sum(weights_of(lambda lb: lb == label)) / total, np.mean([lb == label for _, lb, _ in rows]))
          for label in order}
for label, (weight_share, token_share) in shares.items():
    print(f"{label:9} {token_share:6.1%} of the tokens, {weight_share:6.1%} of the summed weight")
keypoint_weight = sum(shares[label][0] for label in KEYPOINT_LABELS)
keypoint_tokens = sum(shares[label][1] for label in KEYPOINT_LABELS)
print(f"keypoints: {keypoint_tokens:.1%} of the tokens, {keypoint_weight:.1%} of the weight")
assert keypoint_weight > 2 * keypoint_tokens and max(shares, key=lambda lb: shares[lb][0]) in ("number", "result")

# %% jupyter={"source_hidden": true}
# Solution 3. Every step prefix ends at a ".", after the step's result: the last keypoint before the cut is
# always a result, so the predictor reads the numbers already worked out and never needs the sign that produced
# them. Under "all", prefixes that stop between "7 + 9" and "= 16" would make the sign pay (and cost n rows).
cut_after = defaultdict(int)
for record in rationales:
    offsets = rationale_tokens(tokenizer, record["rationale"])[1]
    labels = weighting.token_classes(offsets, record["spans"], record["rationale"])
    for k in weighting.prefix_lengths(offsets, record["rationale"], "steps"):
        last = next(label for label in reversed(labels[:k]) if label in KEYPOINT_LABELS - {"quantity"})
        cut_after[last] += 1
print("the last number, sign or '=' before each 'steps' prefix ends:", dict(cut_after))
assert set(cut_after) == {"result"}
