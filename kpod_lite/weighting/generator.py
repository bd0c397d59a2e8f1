"""Weight generation (§3.3, Eq. 2-3): a significance weight w_j in (0, 1) per rationale token.

The rationale r goes through the student's own pretrained input embedding layer (App. A),
one self-attention layer for context, and a two-layer MLP f_w with a sigmoid::

    e = Att(Emb(r))                                                   (Eq. 2)
    w_j = σ(f_w(e_j)) = P(token j is kept)                            (Eq. 3)

Ours: a residual connection and a layer norm around Att, f_w's output bias set so that every
token starts with w = 0.9, and optional sine/cosine position codes (off by default: with them
the weighter learned "late tokens matter"; docs/WEIGHTING.md).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from kpod_lite.config import KPODConfig
from kpod_lite.models import student_input_embeddings


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
