r"""The in-rationale progressive schedule: h_i, D(t), ΔD(t), c_i(t) (Eq. 9-11, App. A-B).

KPOD teaches each rationale back to front. At stage t (one stage = one training epoch) the
student gets the question *and the first c_i(t) steps* of rationale i as input, and learns to
generate the remaining n_i - c_i(t) steps. With d_j^(i) the difficulty of step j (Eq. 8),
generating those steps costs

    h_i(c_i) = Σ_{j=c_i+1}^{n_i} d_j^(i).                                            (Eq. 9)

The whole dataset's learning difficulty follows a curve that grows like u t^p:

    D(t) = u t^{p+1} / (p + 1) + C_0,   u = (B - C_0)(p + 1) / T^{p+1},               (Eq. 10)

so that D(0) = C_0 and D(T) = B = Σ_i Σ_j d_j^(i), the difficulty of every full rationale.
App. A: p = 0.5, C_0 = 0.3 B, T = half the epochs. From stage t-1 to t, the questions in S(t)
give up Δs input steps each,

    c_i(t) = c_i(t-1) - q_i(t) Δs,   q_i(t) = [i ∈ S(t)],   s.t. ΔH(S(t)) <= ΔD(t),    (Eq. 11)

with ΔD(t) = D(t) - Σ_i h_i(t-1) the room left under the curve and ΔH(S(t)) the difficulty
the move adds; S(t) maximises Eq. 12-13 (`kpod_lite.submodular.ftgp`). Epochs 1..T train on
stages 0..T-1; after epoch T every question generates its whole rationale, c_i = 0
(Algorithm 1: "if e <= T", then "post-epoch T").

Choices the paper leaves open (all configurable)
-----------------------------------------------
* **c_i before stage 0.** "This strategy initiates with training the student model to generate
  the final few reasoning steps" (§3.4): by default every question starts with
  c_i = n_i - 1 input steps, i.e. generates its last step only (`initial_input_steps`
  overrides it, per question or as one cap).
* **Stage 0 and C_0.** The paper sets D(0) = C_0 but never says how the c_i(0) reach it. Here
  stage 0 is an ordinary Eq. 11 step from that starting point: ΔD(0) = C_0 - Σ_i h_i(start),
  and FTGP spends it. If the last steps alone already exceed C_0 (short rationales), ΔD(0) < 0
  and nothing is selected until D(t) catches up; ΔD(t) always measures the room left under
  the curve, so the schedule corrects itself either way. `stage0_selection=False` keeps the
  starting point as stage 0 (the gap then goes into stage 1's budget).
* **Δs.** One step per stage by default (`delta_s`); a question with fewer than Δs input steps
  left gives up the ones it has: its cost is the difficulty of min(Δs, c_i) steps.
* **Epochs and stages.** Epochs are counted from 0 here, and epoch t < T trains with c_i(t)
  (Algorithm 1's epochs e = 1..T take stages 0..T-1); epochs T..N_e-1 (e = T+1..N_e) train on
  full rationales. Stage T, where D(T) = B, is that complete rationale. Eq. 11 moves a question
  by Δs per stage only, so at stage T-1 a question may still hold input steps; Algorithm 1's
  "post-epoch T, the student is trained to generate the complete rationale" takes them away.
* **Clusters.** K-means (K = 5, App. A) on mean GloVe word embeddings (§3.4). GloVe cannot be
  downloaded here: `load_glove` reads a local GloVe text file if you have one, any embedding
  matrix can be passed instead (e.g. the student's input embeddings, mean-pooled), and the
  fallback is TF-IDF vectors. `embed_questions` says which source it used; pass that string to
  `build_schedule(meta=...)` so the schedule records it.

One module a part: `curve` (Eq. 9-10), `stages` (Eq. 11, `build_schedule`), `record` (the
`Schedule` and its JSON file), `clusters` (embeddings and K-means) and `from_config` (the
config's knobs and the pipeline arrow difficulty.jsonl + questions -> schedule.json).
"""

from kpod_lite.schedule.clusters import cluster_questions, embed_questions, load_glove, mean_word_embeddings
from kpod_lite.schedule.curve import growth_rate, overall_difficulty, step_difficulty_sum, total_difficulty
from kpod_lite.schedule.from_config import build_schedule_from_config, schedule_file
from kpod_lite.schedule.record import Schedule, Stage
from kpod_lite.schedule.stages import build_schedule

__all__ = [
    "step_difficulty_sum",
    "total_difficulty",
    "growth_rate",
    "overall_difficulty",
    "Stage",
    "Schedule",
    "build_schedule",
    "build_schedule_from_config",
    "load_glove",
    "mean_word_embeddings",
    "embed_questions",
    "cluster_questions",
    "schedule_file",
]
