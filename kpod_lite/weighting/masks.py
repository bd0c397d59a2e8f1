"""Masks (§3.3, Eq. 4): a differentiable binary mask m_j drawn from w_j, applied to embeddings.

Two-class Gumbel-softmax is the binary Concrete sample: with l_j = log(w_j / (1 - w_j)) and
U ~ Uniform(0, 1),

    m_j = σ((l_j + log U - log(1 - U)) / τ)                           (Eq. 4)

(1 kept, 0 masked). The mask mixes the predictor's token embeddings with the embedding of one
mask token, r[m]_j = m_j E(r_j) + (1 - m_j) e_mask, so that ∂L_p/∂m_j reaches f_w; swapping
token ids would cut that gradient.
"""

from __future__ import annotations

import torch


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
    The result has the embeddings' dtype: a float32 mask must not turn a bfloat16
    predictor's input into float32 (the cast passes the gradient on).
    """
    mask = mask.unsqueeze(-1)
    return (mask * embeddings + (1 - mask) * mask_embedding).to(embeddings.dtype)


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
