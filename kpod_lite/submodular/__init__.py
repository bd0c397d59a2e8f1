r"""Selecting the questions that get harder: the value function F and FTGP (Eq. 12-13, App. D).

When the schedule moves from stage t-1 to stage t, every question i that still has input steps
(c_i > 0) may give up Δs of them (Eq. 11). Doing so raises its difficulty h_i (Eq. 9) by a
known amount, its *cost* w_i >= 0. The stage may spend at most ΔD(t) in total, and KPOD picks
the set S of questions with

    F(S) = -(ΔD - ΔH(S)) + β Σ_k sqrt(|C_k ∩ S|),     ΔH(S) = Σ_{i∈S} w_i,         (Eq. 12)
    max_S F(S)   subject to   ΔH(S) <= ΔD,                                          (Eq. 13)

where C_k are the K-means clusters of the questions. The first term rewards filling the
budget, the second spreads the selection over the clusters: sqrt grows fast at first and slowly
later, so the second question taken from a cluster is worth less than the first of another.

Why the normalised value G
--------------------------
App. D proves F monotone (Lemma 1) and submodular (Lemma 2) and then invokes FTGP's
"F(Ŝ) >= (1/2 - ε) F(S*)". But F(∅) = -ΔD < 0, and a multiplicative guarantee about a
function that can be negative says nothing (a solution with F = -100 is "1/2 of" nothing).
We therefore optimise

    G(S) = F(S) + ΔD = ΔH(S) + β Σ_k sqrt(|C_k ∩ S|),

which differs from F by a constant: the same maximiser and the same marginal gains, but
G(∅) = 0 and G >= 0, so a ratio G(Ŝ) >= α G(S*) means what it says. Our guarantee is about G.
For F it reads F(Ŝ) >= α F(S*) - (1 - α) ΔD.

One module a part: `objective` (F, G, the marginal gain and the knapsack test), `thresholds`
(steps 1-3 of FTGP: free questions, threshold passes, fill), `solver` (`ftgp` itself: steps
4-5, the guarantee and its proof) and `references` (`greedy` and `brute_force`, for teaching).
"""

from kpod_lite.submodular.objective import is_feasible, marginal_gain, normalised_value, value
from kpod_lite.submodular.references import brute_force, greedy
from kpod_lite.submodular.solver import AUGMENT_TOP, ftgp, guarantee
from kpod_lite.submodular.thresholds import threshold_greedy

__all__ = [
    "value",
    "normalised_value",
    "marginal_gain",
    "is_feasible",
    "ftgp",
    "threshold_greedy",
    "greedy",
    "brute_force",
    "guarantee",
]
