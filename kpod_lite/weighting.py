"""Rationale token weighting by mask learning (§3.3, Eq. 2-7).

Not every token of a teacher's rationale matters. In "we just need to simply add: 30 + 80 =
110" the keypoints are "add", "30", "+", "80", "=", "110"; "just" and "simply" carry nothing.
KPOD learns a significance weight w_j in (0, 1) for every rationale token, without labels, by
training a small module θ^w to **hide as much of the rationale as it can while the answer can
still be read from what is left**.

Weight generation (Eq. 2-3). The rationale r goes through the student's own pretrained input
embedding layer (App. A: "for the consistency of tokenizer"), one self-attention layer for
context, and a two-layer MLP f_w with a sigmoid::

    e = Att(Emb(r))                                                   (Eq. 2)
    w_j = σ(f_w(e_j)) = P(token j is kept)                            (Eq. 3)

Masks (Eq. 4). A binary mask m_j (1 kept, 0 masked) is drawn from w_j with the Gumbel-softmax
trick, so that the draw is differentiable. With two classes (keep, mask) it is the binary
Concrete sample: with l_j = f_w(e_j) = log(w_j / (1 - w_j)) and U ~ Uniform(0, 1),

    m_j = σ((l_j + log U - log(1 - U)) / τ),   τ = config.gumbel_temperature     (Eq. 4)

The mask acts on the predictor's token **embeddings**, never on token ids::

    r[m]_j = m_j · E(r_j) + (1 - m_j) · e_mask

(E: the predictor's input embedding table; e_mask: the embedding of one mask token, T5's
sentinel ``<extra_id_0>``). Swapping ids for a mask id looks the same in the forward pass but
cuts the path from the answer loss back to w; then only L_m trains f_w, and it masks all.
A straight-through variant (`hard`: round(m_j) forward, the relaxed gradient backward) is
available; on the tiny preset its gradient carried no signal (docs/WEIGHTING.md), so it is
off by default.

Answer prediction over prefixes (Eq. 5). A transformer initialised from a pretrained model
(FlanT5-Large in the paper) reads the question x and the first k tokens r[m]_<k of the masked
rationale, then predicts the answer y. Asking for the answer from every prefix stops the
module from keeping only the last step, which often repeats earlier results (a "shortcut")::

    L_p = - Σ_k Σ_j log P(y_j | y_<j, r[m]_<k, x; θ^w)                 (Eq. 5)
    L_m = Σ_j m_j                                                     (Eq. 6)
    L_k = L_p + α L_m,   α = 0.5 (App. A)                             (Eq. 7)

L_m pulls every m_j towards 0; L_p pushes back on the tokens the answer needs.

**Normalisation** (ours; the paper writes sums). For a rationale of n tokens and a prefix set
K, L_p here is Eq. 5 divided by |K| (the mean over prefixes of the answer's negative
log-likelihood, summed over its tokens), L_m is Eq. 6 divided by n (the kept fraction), and a
batch averages L_k over its rationales. With every prefix (|K| = n) this is exactly Eq. 7
divided by n: for each token the trade-off is still Eq. 7's -- keep token j when masking it
costs more than α nats of answer likelihood summed over the prefixes that contain it -- so α
means the same for a short and a long rationale, and long rationales do not outweigh short
ones in a batch. The "steps" prefix mode estimates the same mean from fewer prefixes.

Prefixes (`config.prefix_mode`): "all" is k = 1..n, Eq. 5 as written, n predictor rows per
rationale; "steps" is the k at which each §3.4 step (split at ".") ends, plus
`weighting_sampled_prefixes` random k per rationale and step (default 0). Every (rationale, k)
is one row of a single padded batch: [E(x), r[m]_<k, E("Therefore, the answer is")].
`benchmarks/bench_weighting.py` measures both modes.

Ours, needed for tiny students (each measured in docs/WEIGHTING.md):

- *Predictor warm-up.* Until the predictor can read an answer off a rationale, L_p ignores the
  mask and L_m masks everything. FlanT5 can; a tiny student cannot, so the predictor first
  trains on unmasked rationales for `weighting_predictor_warmup_steps` steps (default 400).
- *Which predictor.* The tiny T5 did not learn to read the answer off a rationale within a
  CPU budget; the tiny LLaMA (same vocabulary) did. `weighting_predictor` names another model
  than the student for Eq. 5; it must share the student's vocabulary.
- *No positions in Att.* Eq. 2 gives Att no word order; with position codes (option
  `weighting_positions`) the weighter learned "late tokens matter" (the last step holds the
  answer) instead of which tokens matter.

**Collapse.** If L_m wins, every token is masked (mean w near 0); if L_p wins, none is (mean w
near 1); either way the weights hardly tell tokens apart. `train_weighter` warns (`WeightCollapseWarning`)
when the mean weight of the last epoch is below 0.02 or above 0.98, and records it in
`history["collapse"]`. All masked: lower α, or make the predictor able to read rationales
first (more warm-up steps, a stronger predictor), or train longer. None masked: raise α, or
lower τ (samples nearer 0/1 let less of a "masked" token through).

**Tokens.** Weights are for the tokens of the *student* tokenizer that the student is later
trained on: the rationale tokenised alone without special tokens (character offsets kept);
they are exactly the rationale part of the tokenised `format_rationale_target(r, y)`. Bad input:

- an empty (or whitespace-only) rationale has no tokens and gets an empty weight list;
- training reads at most `weighting_max_tokens` tokens of a rationale (default
  `config.max_target_length`), but every token gets a weight: a longer rationale is read in
  windows of that many tokens, half overlapping, and a token's weight is the mean over the
  windows that contain it;
- a rationale without any "." is one step (its only "steps" prefix is k = n);
- non-ASCII text goes through the tokenizer like any other; the tiny byte-level BPE writes an
  unseen character as its UTF-8 bytes (several tokens sharing that character's offsets), so
  nothing becomes unknown and decoding gives the text back.

**Evidence.** The template teacher's synthetic rationales label every character (keypoint:
number, operator, equals, result, quantity; not: filler, plain), so `keypoint_auroc` scores
weights by the AUROC of keypoint against filler tokens. Train on one split, score another::

    python -m kpod_lite.weighting --train train.jsonl --eval validation.jsonl --seeds 0 1 2

Its settings are the `weighting_*` fields of `KPODConfig`, with `alpha`, `gumbel_temperature`
and `prefix_mode`, each documented there.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import time
import warnings

import torch
from torch import nn
from torch.nn import functional as F

from kpod_lite.config import KPODConfig
from kpod_lite.data import read_jsonl, split_steps, write_jsonl
from kpod_lite.families import family_of
from kpod_lite.models import load_student, pad_right, student_input_embeddings
from kpod_lite.templates import ANSWER_TRIGGER, build_prompt, rationale_tokens

# Mean weight below / above which the weights are called collapsed (module docstring).
COLLAPSE_LOW, COLLAPSE_HIGH = 0.02, 0.98

def weighting_batch_size(config: KPODConfig) -> int:
    """Rationales per training step: `weighting_batch_size`, else the distillation batch size."""
    return config.weighting_batch_size or config.batch_size


def weighting_max_tokens(config: KPODConfig) -> int:
    """Rationale tokens read per window: `weighting_max_tokens`, else `max_target_length`."""
    return config.weighting_max_tokens or config.max_target_length


class WeightCollapseWarning(UserWarning):
    """Training ended with (almost) every token masked, or (almost) none masked."""


# --- weight generation (Eq. 2-3) ----------------------------------------------------------------


def sinusoidal_positions(length: int, dim: int) -> torch.Tensor:
    """Fixed sine/cosine position codes (Vaswani et al., 2017), shape (length, dim); for the
    `positions` option of `TokenWeighter` (Eq. 2 itself gives Att no word order)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    codes = torch.zeros(length, dim)
    codes[:, 0::2] = torch.sin(position * frequency)
    codes[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return codes


class TokenWeighter(nn.Module):
    """w_j = σ(f_w(e_j)) with e = Att(Emb(r)) (Eq. 2-3).

    Emb is a copy of the student's pretrained input embedding layer (App. A), frozen unless
    `train_embeddings`. Att is one multi-head self-attention layer with a residual connection
    and a layer norm (ours: the residual keeps each token's own identity in e_j, the norm
    makes f_w indifferent to the scale of the pretrained embeddings). f_w is a two-layer MLP
    (§3.3). `forward` gives the logits l_j = f_w(e_j); `weights` applies σ.
    """

    def __init__(self, embeddings: nn.Embedding, heads: int = 4, train_embeddings: bool = False,
                 positions: bool = False, initial_weight: float = 0.9):
        super().__init__()
        dim = embeddings.embedding_dim
        self.embed = nn.Embedding.from_pretrained(embeddings.weight.detach().clone().float(),
                                                  freeze=not train_embeddings)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)
        self.f_w = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, 1))
        self.positions = positions
        # Ours: start with most tokens kept, so that L_p sees readable rationales while L_m
        # starts to take tokens away (at w = 0.5, half of the evidence is gone from step one).
        with torch.no_grad():
            self.f_w[-1].bias.fill_(math.log(initial_weight / (1 - initial_weight)))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits l_j = f_w(Att(Emb(r))_j) (Eq. 2-3 before σ), shape (batch, length)."""
        x = self.embed(input_ids)
        if self.positions:
            x = x + sinusoidal_positions(x.shape[1], x.shape[2]).to(x)
        attended, _ = self.attention(x, x, x, key_padding_mask=attention_mask == 0, need_weights=False)
        e = self.norm(x + attended)  # Eq. 2
        return self.f_w(e).squeeze(-1)

    def weights(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """w_j = σ(f_w(e_j)), the probability that token j is kept (Eq. 3)."""
        return torch.sigmoid(self(input_ids, attention_mask))


def build_weighter(student, config: KPODConfig) -> TokenWeighter:
    """A `TokenWeighter` on the student's input embeddings (App. A), initialised from `config.seed`.

    Heads: the first of 8, 4, 2, 1 that divides the embedding size.
    """
    embeddings = student_input_embeddings(student)
    heads = next(h for h in (8, 4, 2, 1) if embeddings.embedding_dim % h == 0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        weighter = TokenWeighter(embeddings, heads=heads, train_embeddings=config.weighting_train_embeddings,
                                 positions=config.weighting_positions)
    return weighter.to(embeddings.weight.device)


# --- masks (Eq. 4) --------------------------------------------------------------------------------


def gumbel_mask(logits: torch.Tensor, temperature: float, hard: bool = False,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """m_j = GumbelSoftmax(w_j) (Eq. 4) as a binary Concrete sample: 1 kept, 0 masked.

    m_j = σ((l_j + log U - log(1 - U)) / τ) with l_j = log(w_j / (1 - w_j)), U ~ Uniform(0, 1):
    the difference of two Gumbel variables is logistic, so this is the two-class
    Gumbel-softmax, and P(m_j > 1/2) = w_j at any τ. As τ -> 0 it becomes a Bernoulli(w_j)
    draw. `hard=True` returns round(m_j) with the gradient of the relaxed m_j (straight-through).
    The noise is drawn on the CPU from `generator`, so a seed gives the same masks anywhere.
    """
    uniform = torch.rand(logits.shape, generator=generator).clamp(1e-6, 1 - 1e-6).to(logits.device)
    soft = torch.sigmoid((logits + torch.log(uniform) - torch.log1p(-uniform)) / temperature)
    if not hard:
        return soft
    return (soft > 0.5).to(soft) + (soft - soft.detach())  # exactly 0 or 1 forward


def apply_mask(embeddings: torch.Tensor, mask: torch.Tensor, mask_embedding: torch.Tensor) -> torch.Tensor:
    """r[m]_j = m_j E(r_j) + (1 - m_j) e_mask: the masked rationale of Eq. 5, in embedding space.

    Mixing embeddings (not swapping ids) keeps ∂L_p/∂m_j, hence the gradient of L_p to f_w.
    """
    mask = mask.unsqueeze(-1)
    return mask * embeddings + (1 - mask) * mask_embedding


def mask_token_id(tokenizer) -> int:
    """The id whose embedding e_mask stands for a masked token (Eq. 4): the tokenizer's mask
    token, else T5's first sentinel `<extra_id_0>` (pretrained T5 reads it as "text missing
    here"), else unk, else pad."""
    if getattr(tokenizer, "mask_token_id", None) is not None:
        return tokenizer.mask_token_id
    sentinel = tokenizer.get_vocab().get("<extra_id_0>")
    if sentinel is not None:
        return sentinel
    for name in ("unk_token_id", "pad_token_id"):
        if getattr(tokenizer, name, None) is not None:
            return getattr(tokenizer, name)
    raise ValueError("the tokenizer has no mask, sentinel, unk or pad token to mask with")


# --- prefixes and the answer prediction loss (Eq. 5) ------------------------------------------------


def prefix_lengths(offsets, rationale: str, mode: str) -> list[int]:
    """The prefix lengths k (rationale tokens) whose r[m]_<k enter Eq. 5.

    "all": k = 1..n, Eq. 5 as written. "steps": for each §3.4 step (split at "."), the number
    of tokens that start before the step ends; n is always included. A rationale without "."
    is one step, so "steps" gives [n]. No tokens: [].
    """
    n = len(offsets)
    if n == 0:
        return []
    if mode == "all":
        return list(range(1, n + 1))
    if mode != "steps":
        raise ValueError(f"prefix mode must be 'all' or 'steps', got {mode!r}")
    starts = [start for start, _ in offsets]
    ends = {sum(1 for s in starts if s < step.end) for step in split_steps(rationale)}
    return sorted(k for k in ends | {n} if k > 0)


def answer_prediction_loss(predictor, question_embeds: list[torch.Tensor], masked_rationales: list[torch.Tensor],
                           prefixes: list[list[int]], answer_ids: list[list[int]],
                           trigger_embeds: torch.Tensor | None = None,
                           bos_embed: torch.Tensor | None = None) -> torch.Tensor:
    """L_p (Eq. 5) of each rationale of a batch, divided by its number of prefixes; shape (batch,).

    For rationale i: the mean over k in `prefixes[i]` of Σ_j -log P(y_j | y_<j, r[m]_<k, x)
    (module docstring: why this normalisation). Every (i, k) is one row of a single padded
    batch, [bos, E(x), r[m]_<k, trigger] (bos for causal models only, the trigger "Therefore,
    the answer is" unmasked). A seq2seq predictor (T5) reads the row with its encoder and y
    with its decoder; a causal one reads the row followed by E(y), and only y is scored.
    A rationale without prefixes gets 0.
    """
    device = masked_rationales[0].device
    losses = torch.zeros(len(prefixes), device=device)
    if not any(prefixes):
        return losses
    head = [] if bos_embed is None else [bos_embed[None]]
    tail = [] if trigger_embeds is None else [trigger_embeds]
    family = family_of(predictor)
    table = predictor.get_input_embeddings()
    rows, label_rows, owner = [], [], []
    for i, (question, rationale, ks) in enumerate(zip(question_embeds, masked_rationales, prefixes)):
        answer = torch.tensor(answer_ids[i], device=device)
        for k in ks:
            row, labels = family.join_embeddings(torch.cat(head + [question, rationale[:k]] + tail), answer, table)
            rows.append(row)
            label_rows.append(labels)
            owner.append(i)
    embeds = nn.utils.rnn.pad_sequence(rows, batch_first=True)
    lengths = torch.tensor([len(r) for r in rows], device=device)
    attention = (torch.arange(embeds.shape[1], device=device)[None, :] < lengths[:, None]).long()
    labels = nn.utils.rnn.pad_sequence(label_rows, batch_first=True, padding_value=-100)
    outputs, labels = family.forward(predictor, labels, inputs_embeds=embeds, attention_mask=attention)
    token_nll = F.cross_entropy(outputs.logits.float().transpose(1, 2), labels, ignore_index=-100, reduction="none")
    per_prefix = token_nll.sum(1)  # Σ_j over the answer tokens; ignored positions add 0
    owner = torch.tensor(owner, device=device)
    counts = torch.zeros(len(prefixes), device=device).index_add_(0, owner, torch.ones_like(per_prefix))
    return losses.index_add(0, owner, per_prefix) / counts.clamp(min=1)


# --- the mask ratio loss (Eq. 6) and the total (Eq. 7) ------------------------------------------------


def mask_ratio_loss(mask: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """L_m = Σ_j m_j (Eq. 6) divided by the rationale's length n: the kept fraction, per row.

    `mask` and `attention_mask` are (batch, length); padding does not count; a row without
    tokens gets 0.
    """
    valid = attention_mask.to(mask.dtype)
    return (mask * valid).sum(-1) / valid.sum(-1).clamp(min=1)


def keypoint_loss(answer_loss: torch.Tensor, ratio_loss: torch.Tensor, alpha: float) -> torch.Tensor:
    """L_k = L_p + α L_m (Eq. 7), averaged over the rationales of a batch.

    With `answer_prediction_loss` (Eq. 5 / |K|) and `mask_ratio_loss` (Eq. 6 / n) and every
    prefix (|K| = n), each rationale's term is exactly Eq. 7 divided by n.
    """
    return (answer_loss + alpha * ratio_loss).mean()


# --- the student's tokens ------------------------------------------------------------------------------


def _ids(tokenizer, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _training_items(records, tokenizer, config: KPODConfig) -> list[dict]:
    """The token ids a training step needs, per non-empty rationale (cut to max tokens):
    the rationale, its prefixes, the question as the student reads it (§3.1 prompt), and the
    answer y as it follows the trigger (" <y>"), closed by eos so that the predictor stops."""
    limit = weighting_max_tokens(config)
    items = []
    for record in records:
        ids, offsets = rationale_tokens(tokenizer, record["rationale"])
        if not ids:
            continue
        items.append({
            "ids": ids[:limit],
            "ks": prefix_lengths(offsets[:limit], record["rationale"], config.prefix_mode),
            "question": _ids(tokenizer, build_prompt(record["question"], cot_prompt=config.cot_prompt)),
            "answer": _ids(tokenizer, " " + str(record["answer"]).strip()) + [tokenizer.eos_token_id],
        })
    return items


class _Embedder:
    """The predictor's view of fixed token ids: E(ids), e_mask, the trigger and bos."""

    def __init__(self, predictor, tokenizer):
        self.table = predictor.get_input_embeddings()
        self.device = self.table.weight.device
        self.mask_id = mask_token_id(tokenizer)
        self.trigger_ids = _ids(tokenizer, " " + ANSWER_TRIGGER)
        self.bos_id = None if family_of(predictor).seq2seq else tokenizer.bos_token_id  # causal rows open with <s>

    def __call__(self, ids) -> torch.Tensor:
        return self.table(torch.as_tensor(ids, device=self.device))

    def loss(self, predictor, batch: list[dict], rationales: list[torch.Tensor], prefixes) -> torch.Tensor:
        """Eq. 5 for the items of `batch` with the given (masked) rationale embeddings."""
        return answer_prediction_loss(
            predictor, [self(item["question"]) for item in batch], rationales, prefixes,
            [item["answer"] for item in batch], trigger_embeds=self(self.trigger_ids),
            bos_embed=None if self.bos_id is None else self(self.bos_id))


# --- training --------------------------------------------------------------------------------------


def load_predictor(config: KPODConfig, student, tokenizer):
    """The transformer of Eq. 5: a copy of the student, or `weighting_predictor` from the config.

    The paper initialises it from FlanT5-Large (§3.3). Another model must share the student's
    vocabulary: the masks are drawn for the student's tokens and applied to its embeddings.
    """
    name = config.weighting_predictor
    if not name or name == config.student:
        return copy.deepcopy(student)
    # Seq2seq or causal: read off the predictor's own config (kpod_lite.families).
    predictor, predictor_tokenizer = load_student(config.replace(student=name), device=next(student.parameters()).device)
    if predictor_tokenizer.get_vocab() != tokenizer.get_vocab():
        raise ValueError(f"weighting_predictor {name!r} has another vocabulary than the student "
                         f"{config.student!r}: the masks of Eq. 4 could not be applied to its tokens")
    return predictor


def warm_up_predictor(predictor, embedder: _Embedder, items: list[dict], steps: int, lr: float,
                      batch_size: int, rng: random.Random) -> list[float]:
    """Teach the predictor to read the answer off an unmasked rationale (ours; module docstring).

    Eq. 5 with the full rationale (k = n) and no mask, per answer token, with Adam. Returns
    the loss of each step.
    """
    optimizer = torch.optim.AdamW([p for p in predictor.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    predictor.train()
    losses = []
    for _ in range(steps):
        batch = rng.sample(items, min(batch_size, len(items)))
        loss = embedder.loss(predictor, batch, [embedder(item["ids"]) for item in batch],
                             [[len(item["ids"])] for item in batch]).sum()
        loss = loss / sum(len(item["answer"]) for item in batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def training_step(weighter: TokenWeighter, predictor, embedder: _Embedder, batch: list[dict],
                  config: KPODConfig, generator: torch.Generator, rng: random.Random) -> dict:
    """L_k (Eq. 7) of one batch and its parts, before backpropagation.

    Eq. 2-3 give a logit per token, Eq. 4 draws one mask per rationale (shared by all of its
    prefixes: they are prefixes of one masked rationale r[m]), the mask mixes the predictor's
    embeddings, then Eq. 5, 6 and 7.
    """
    ids, attention = (t.to(embedder.device) for t in pad_right([item["ids"] for item in batch]))
    logits = weighter(ids, attention)  # Eq. 2-3
    mask = gumbel_mask(logits, config.gumbel_temperature, config.weighting_hard, generator)  # Eq. 4
    masked = apply_mask(embedder(ids), mask, embedder(embedder.mask_id))
    prefixes = []
    for item in batch:
        ks = set(item["ks"])
        ks |= {rng.randint(1, len(item["ids"])) for _ in range(config.weighting_sampled_prefixes)}
        prefixes.append(sorted(ks))
    rationales = [masked[i, : len(item["ids"])] for i, item in enumerate(batch)]
    answer_loss = embedder.loss(predictor, batch, rationales, prefixes)  # Eq. 5
    ratio_loss = mask_ratio_loss(mask, attention)  # Eq. 6
    return {"loss": keypoint_loss(answer_loss, ratio_loss, config.alpha),  # Eq. 7
            "answer_loss": answer_loss.mean(), "mask_ratio": ratio_loss.mean(),
            "mean_weight": torch.sigmoid(logits)[attention.bool()].mean()}


def collapse_state(mean_weight: float) -> str | None:
    """"all masked" or "none masked" when the mean weight is below 0.02 or above 0.98, else None."""
    if mean_weight < COLLAPSE_LOW:
        return "all masked"
    if mean_weight > COLLAPSE_HIGH:
        return "none masked"
    return None


def train_weighter(rationale_records, config: KPODConfig, *, student=None, tokenizer=None,
                   predictor=None, progress: bool = False):
    """Train θ^w (Att, f_w and the predictor; Emb frozen) with L_k (Eq. 7); `(weighter, history)`.

    `student`/`tokenizer` default to `load_student(config)`; Emb copies the student's input
    embeddings (App. A). `predictor` (the transformer of Eq. 5) defaults to `load_predictor`;
    one passed in is trained in place. Adam, `config.weighting_lr`, `config.weighting_epochs`
    epochs after the predictor warm-up; deterministic for a given `config.seed` on one machine.

    `history`: "predictor_warmup" (mean loss per 25 warm-up steps), "epochs" (per epoch: L_k,
    L_p, the mask ratio = mean m = the kept fraction, the mean weight, seconds), "collapse"
    (None, "all masked" or "none masked" after the last epoch, with a `WeightCollapseWarning`),
    "rationales" trained on and "skipped_empty".
    """
    if student is None or tokenizer is None:
        loaded, loaded_tokenizer = load_student(config)
        student = loaded if student is None else student
        tokenizer = loaded_tokenizer if tokenizer is None else tokenizer
    records = list(rationale_records)
    weighter = build_weighter(student, config)
    items = _training_items(records, tokenizer, config)
    history = {"predictor_warmup": [], "epochs": [], "collapse": None, "rationales": len(items),
               "skipped_empty": len(records) - len(items)}
    if not items:
        warnings.warn("no non-empty rationale to train the token weighting on; the weighter is untrained",
                      WeightCollapseWarning, stacklevel=2)
        return weighter.eval(), history
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # dropout, if the predictor has any
        predictor = predictor if predictor is not None else load_predictor(config, student, tokenizer)
        predictor.float()
        embedder = _Embedder(predictor, tokenizer)
        rng = random.Random(config.seed)
        generator = torch.Generator().manual_seed(config.seed)
        batch_size = weighting_batch_size(config)
        warm = warm_up_predictor(predictor, embedder, items, config.weighting_predictor_warmup_steps,
                                 config.weighting_lr, batch_size, rng)
        history["predictor_warmup"] = [round(sum(warm[i:i + 25]) / len(warm[i:i + 25]), 4)
                                       for i in range(0, len(warm), 25)]
        if progress and warm:
            print(f"predictor warm-up: loss per answer token {history['predictor_warmup']}", flush=True)
        parameters = [p for p in [*weighter.parameters(), *predictor.parameters()] if p.requires_grad]
        optimizer = torch.optim.AdamW(parameters, lr=config.weighting_lr, weight_decay=0.0)
        weighter.train()
        predictor.train()
        for epoch in range(config.weighting_epochs):
            started = time.perf_counter()
            order = rng.sample(range(len(items)), len(items))
            sums = {"loss": 0.0, "answer_loss": 0.0, "mask_ratio": 0.0, "mean_weight": 0.0}
            for start in range(0, len(order), batch_size):
                batch = [items[i] for i in order[start:start + batch_size]]
                parts = training_step(weighter, predictor, embedder, batch, config, generator, rng)
                optimizer.zero_grad(set_to_none=True)
                parts["loss"].backward()
                torch.nn.utils.clip_grad_norm_(parameters, 1.0)
                optimizer.step()
                for key in sums:
                    sums[key] += float(parts[key].detach()) * len(batch)
            entry = {"epoch": epoch + 1, **{k: round(v / len(items), 5) for k, v in sums.items()},
                     "seconds": round(time.perf_counter() - started, 2)}
            history["epochs"].append(entry)
            if progress:
                print(f"weighting epoch {epoch + 1}/{config.weighting_epochs}: L_k {entry['loss']:.4f}  "
                      f"L_p {entry['answer_loss']:.4f}  kept {entry['mask_ratio']:.3f}  "
                      f"mean w {entry['mean_weight']:.3f}", flush=True)
    weighter.eval()
    predictor.eval()
    if history["epochs"]:
        history["collapse"] = collapse_state(history["epochs"][-1]["mean_weight"])
    if history["collapse"] == "all masked":
        warnings.warn(f"token weighting collapsed: every token masked (mean weight "
                      f"{history['epochs'][-1]['mean_weight']:.3f}); the weights rank nothing. Lower alpha "
                      f"({config.alpha}), or let the predictor learn to read rationales first (more "
                      f"weighting_predictor_warmup_steps, a stronger weighting_predictor), or train longer.",
                      WeightCollapseWarning, stacklevel=2)
    elif history["collapse"] == "none masked":
        warnings.warn(f"token weighting collapsed: no token masked (mean weight "
                      f"{history['epochs'][-1]['mean_weight']:.3f}); every weight is near 1, so they barely "
                      f"tell tokens apart. Raise alpha ({config.alpha}) or lower gumbel_temperature "
                      f"({config.gumbel_temperature}).", WeightCollapseWarning, stacklevel=2)
    return weighter, history


# --- inference: one weight per student token ---------------------------------------------------------


@torch.no_grad()
def token_weights(weighter: TokenWeighter, ids: list[int], max_tokens: int) -> list[float]:
    """w_j (Eq. 3) for every token; beyond `max_tokens`, the mean over half-overlapping windows."""
    n = len(ids)
    if n == 0:
        return []
    device = weighter.embed.weight.device
    stride = max(1, max_tokens // 2)
    starts = [0] if n <= max_tokens else [*range(0, n - max_tokens, stride), n - max_tokens]
    total, count = torch.zeros(n), torch.zeros(n)
    for start in starts:
        window = torch.tensor([ids[start:start + max_tokens]], device=device)
        w = weighter.weights(window, torch.ones_like(window))[0].float().cpu()
        total[start:start + len(w)] += w
        count[start:start + len(w)] += 1
    return (total / count).tolist()


def weigh(records, weighter: TokenWeighter, tokenizer, max_tokens: int = 256) -> list[dict]:
    """Token weight records `{"id", "sample", "tokens", "offsets", "weights"}`, one per rationale.

    Tokens are the student tokenizer's on the rationale alone (`rationale_tokens`); offsets
    index the record's "rationale"; an empty rationale gives empty lists.
    """
    weighter.eval()
    out = []
    for record in records:
        ids, offsets = rationale_tokens(tokenizer, record["rationale"])
        out.append({
            "id": record["id"],
            "sample": int(record.get("sample", 0)),
            "tokens": tokenizer.convert_ids_to_tokens(ids),
            "offsets": [list(o) for o in offsets],
            "weights": [round(w, 6) for w in token_weights(weighter, ids, max_tokens)],
        })
    return out


def write_weights(path, records: list[dict]) -> None:
    """Write token weight records as JSON Lines (atomically, `kpod_lite.data.write_jsonl`)."""
    write_jsonl(path, records)


def weigh_file(rationales_path, out_path, config: KPODConfig) -> dict:
    """`kpod-lite weigh`: train on a rationale file (Eq. 7), write the weights of its tokens.

    Returns a summary: rationales and tokens weighed, mean weight, collapse, seconds, history.
    """
    started = time.perf_counter()
    records = [record for _, record in read_jsonl(rationales_path)]
    student, tokenizer = load_student(config)
    weighter, history = train_weighter(records, config, student=student, tokenizer=tokenizer)
    weighted = weigh(records, weighter, tokenizer, weighting_max_tokens(config))
    write_weights(out_path, weighted)
    weights = [w for record in weighted for w in record["weights"]]
    return {
        "rationales": len(weighted),
        "tokens": len(weights),
        "mean_weight": round(sum(weights) / max(1, len(weights)), 4),
        "collapse": history["collapse"],
        "seconds": round(time.perf_counter() - started, 1),
        "out": str(out_path),
        "history": history,
    }


# --- evidence: do the weights find the keypoints? ------------------------------------------------------


def token_classes(offsets, spans, text: str) -> list[str | None]:
    """Each token's label: the label of most of its non-space characters (`spans`: [start, end,
    label] over `text`, as the template teacher writes them); None for a whitespace-only token."""
    labels = {}
    for start, end, label in spans:
        for position in range(int(start), int(end)):
            labels[position] = label
    classes = []
    for start, end in offsets:
        counts: dict[str, int] = {}
        for position in range(start, end):
            if position in labels and not text[position].isspace():
                counts[labels[position]] = counts.get(labels[position], 0) + 1
        classes.append(max(counts, key=counts.get) if counts else None)
    return classes


def keypoint_auroc(weight_records, rationale_records) -> dict:
    """AUROC of the weights (Eq. 3) for keypoint against filler tokens, and the mean per class.

    Keypoint labels are `kpod_lite.synthetic.KEYPOINT_LABELS`; whitespace-only tokens are left
    out; "plain" tokens (connecting words, names, units, punctuation) enter only the second
    AUROC, keypoint against every other token. Records are matched on (id, sample).
    """
    from sklearn.metrics import roc_auc_score

    from kpod_lite.synthetic import KEYPOINT_LABELS

    sources = {(str(r["id"]), int(r.get("sample", 0))): r for r in rationale_records}
    by_class: dict[str, list[float]] = {}
    for record in weight_records:
        source = sources.get((str(record["id"]), int(record.get("sample", 0))))
        if source is None or not source.get("spans"):
            continue
        labels = token_classes(record["offsets"], source["spans"], source["rationale"])
        for label, weight in zip(labels, record["weights"]):
            if label is not None:
                by_class.setdefault(label, []).append(float(weight))
    if not by_class:
        raise ValueError("no token could be labelled: the rationale records carry no 'spans' (only the "
                         "template teacher on synthetic data writes them) or match no weight record")
    keypoint = [w for label, ws in by_class.items() if label in KEYPOINT_LABELS for w in ws]
    filler = by_class.get("filler", [])
    rest = [w for label, ws in by_class.items() if label not in KEYPOINT_LABELS for w in ws]

    def auroc(positive, negative):
        if not positive or not negative:
            return None
        return round(float(roc_auc_score([1] * len(positive) + [0] * len(negative), positive + negative)), 4)

    return {
        "auroc_keypoint_vs_filler": auroc(keypoint, filler),
        "auroc_keypoint_vs_rest": auroc(keypoint, rest),
        "mean_weight": {label: round(sum(ws) / len(ws), 4) for label, ws in sorted(by_class.items())},
        "tokens": {label: len(ws) for label, ws in sorted(by_class.items())},
    }


def evaluate_keypoints(train_records, eval_records, config: KPODConfig, seeds=(0,), alphas=None,
                       progress: bool = False) -> dict:
    """Train on `train_records`, weigh `eval_records`, score with `keypoint_auroc`, for each
    seed and α (default: `config.alpha`). Returns {"runs": [...], "summary": {α: mean, min, max}}."""
    student, tokenizer = load_student(config)
    runs = []
    for alpha in alphas or [config.alpha]:
        for seed in seeds:
            run_config = config.replace(alpha=alpha, seed=seed)
            started = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", WeightCollapseWarning)
                weighter, history = train_weighter(train_records, run_config, student=student,
                                                   tokenizer=tokenizer, progress=progress)
            seconds = time.perf_counter() - started
            scores = keypoint_auroc(weigh(eval_records, weighter, tokenizer, weighting_max_tokens(config)),
                                    eval_records)
            runs.append({"alpha": alpha, "seed": seed, "train_seconds": round(seconds, 1),
                         "kept": history["epochs"][-1]["mask_ratio"] if history["epochs"] else None,
                         "collapse": history["collapse"], "warnings": [str(w.message) for w in caught], **scores})
            if progress:
                print(json.dumps(runs[-1]), flush=True)
    summary = {}
    for alpha in alphas or [config.alpha]:
        values = [r["auroc_keypoint_vs_filler"] for r in runs if r["alpha"] == alpha]
        summary[str(alpha)] = {"auroc_mean": round(sum(values) / len(values), 4),
                               "auroc_min": min(values), "auroc_max": max(values)}
    return {"runs": runs, "summary": summary}


def main(argv=None) -> None:
    """python -m kpod_lite.weighting --train T --eval E: keypoint AUROC of the learned weights."""
    from kpod_lite.config import preset, with_settings

    parser = argparse.ArgumentParser(prog="python -m kpod_lite.weighting", description=main.__doc__)
    parser.add_argument("--train", required=True, help="rationale records to train on (kpod-lite teach)")
    parser.add_argument("--eval", required=True, help="held-out rationale records with spans")
    parser.add_argument("--preset", default=None, help="config preset ($KPOD_PRESET, default tiny)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--alphas", type=float, nargs="+", default=None, help="default: the preset's alpha")
    parser.add_argument("--prefix-mode", choices=["all", "steps"], default=None)
    parser.add_argument("--epochs", type=int, default=None, help="weighting_epochs")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=JSON",
                        help="KPODConfig fields, e.g. weighting_predictor='\"tiny-llama\"'")
    parser.add_argument("--out", default=None, help="also write the JSON result here")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = with_settings(preset(args.preset), args.set)
    changes = {}
    if args.prefix_mode:
        changes["prefix_mode"] = args.prefix_mode
    if args.epochs:
        changes["weighting_epochs"] = args.epochs
    config = config.replace(**changes)
    started = time.perf_counter()
    result = evaluate_keypoints([r for _, r in read_jsonl(args.train)], [r for _, r in read_jsonl(args.eval)],
                                config, seeds=args.seeds, alphas=args.alphas, progress=True)
    result["config"] = {"preset": config.name, "prefix_mode": config.prefix_mode,
                        "weighting_epochs": config.weighting_epochs, "weighting_lr": config.weighting_lr,
                        "gumbel_temperature": config.gumbel_temperature,
                        **{k: v for k, v in config.to_dict().items() if k.startswith("weighting_")}}
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    result["torch_threads"] = torch.get_num_threads()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
