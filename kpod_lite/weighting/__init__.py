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
ones in a batch. That holds for "all" (and, in expectation, "sampled") only.

**What "steps" computes** (ours). Its L_p is the mean over the step-end prefixes K (the k
where a "."-step ends; n always among them), so with |K| steps each of those prefixes, the whole
rationale included, weighs 1/|K| where Eq. 5's mean gives every prefix 1/n, and the prefixes
that end inside a step weigh 0. The step ends are not a sample of the prefixes, so this is
*not* an estimate of the same mean: it is another objective. Per token, L_k = L_p + α L_m
reads (1/n) [(n/|K|) Σ_{k∈K} NLL_k + α Σ_j m_j]: keep token j when masking it costs more than
α |K| / n nats summed over the step prefixes that contain it. With n ≈ 90 tokens and |K| ≈ 3
(the synthetic rationales), α = 0.5 under "steps" is a threshold of about 0.017 nats, and the
whole rationale alone carries a third of L_p: a token that only the whole-rationale prefix
needs (the shortcut Eq. 5 guards against) is kept once masking it costs 0.017 nats, against
0.5 under "all". So α = 0.5 with "steps" (the default `prefix_mode`) is not the paper's
trade-off: its threshold is α |K| / n nats over the step prefixes, the paper's α nats over all
prefixes. It is the value that worked with "steps" here (docs/WEIGHTING.md).

Prefixes (`config.prefix_mode`): "all" is k = 1..n, Eq. 5 as written, n predictor rows per
rationale; "steps" is the k at which each §3.4 step (split at ".") ends, plus
`weighting_sampled_prefixes` random k per rationale and step (default 0; they join K above,
so the mean is still over K, not over all k); "sampled" is only
those random k, drawn from 1..n with replacement at every step, so their mean estimates the
mean over all n prefixes without bias (the kpod-sampled arm, `kpod_lite.methods`; the oracle
arm's weights are `evidence.oracle_weight_file`). Every (rationale, k)
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

The package follows these sections: `generator` (Eq. 2-3), `masks` (Eq. 4), `losses` (Eq. 5-7),
`tokens` (the student's tokens of a training step), `training` (Eq. 7, warm-up, collapse),
`output` (the weights of Eq. 3, written out), `evidence` (keypoint AUROC) and `command`
(`python -m kpod_lite.weighting`); `sizes` holds the batch and window sizes.
"""

from kpod_lite.weighting.command import main
from kpod_lite.weighting.evidence import (evaluate_keypoints, keypoint_auroc, oracle_weight_file, token_classes,
                                         uniform_weight_file)
from kpod_lite.weighting.generator import TokenWeighter, build_weighter, sinusoidal_positions
from kpod_lite.weighting.losses import answer_prediction_loss, keypoint_loss, mask_ratio_loss, prefix_lengths
from kpod_lite.weighting.masks import apply_mask, gumbel_mask, mask_token_id
from kpod_lite.weighting.output import token_weights, weigh, weigh_file, write_weights
from kpod_lite.weighting.sizes import weighting_batch_size, weighting_max_tokens
from kpod_lite.weighting.tokens import _Embedder, _ids, _training_items  # noqa: F401  (used by tests, benchmarks)
from kpod_lite.weighting.training import (
    COLLAPSE_HIGH,
    COLLAPSE_LOW,
    WeightCollapseWarning,
    collapse_state,
    load_predictor,
    train_weighter,
    training_step,
    warm_up_predictor,
)

__all__ = [
    "COLLAPSE_LOW",
    "COLLAPSE_HIGH",
    "weighting_batch_size",
    "weighting_max_tokens",
    "WeightCollapseWarning",
    "sinusoidal_positions",
    "TokenWeighter",
    "build_weighter",
    "gumbel_mask",
    "apply_mask",
    "mask_token_id",
    "prefix_lengths",
    "answer_prediction_loss",
    "mask_ratio_loss",
    "keypoint_loss",
    "load_predictor",
    "warm_up_predictor",
    "training_step",
    "collapse_state",
    "train_weighter",
    "token_weights",
    "weigh",
    "write_weights",
    "weigh_file",
    "token_classes",
    "keypoint_auroc",
    "oracle_weight_file",
    "uniform_weight_file",
    "evaluate_keypoints",
    "main",
]
