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
the move adds; S(t) maximises Eq. 12-13 (`kpod_lite.submodular.ftgp`). After stage T every
question generates its whole rationale, c_i = 0 (App. B, Algorithm 1).

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
* **Epochs and stages.** Epochs are counted from 0 and epoch t trains with c_i(t); epochs after
  T train on full rationales. Eq. 11 moves a question by Δs per stage only, so at stage T a
  question may still hold input steps; App. B's "post-epoch T, the student is trained to
  generate the complete rationale" then takes them away.
* **Clusters.** K-means (K = 5, App. A) on mean GloVe word embeddings (§3.4). GloVe cannot be
  downloaded here: `load_glove` reads a local GloVe text file if you have one, any embedding
  matrix can be passed instead (e.g. the student's input embeddings, mean-pooled), and the
  fallback is TF-IDF vectors. `embed_questions` says which source it used; pass that string to
  `build_schedule(meta=...)` so the schedule records it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kpod_lite.submodular import ftgp

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


# --- Eq. 9-10 -------------------------------------------------------------------------------


def step_difficulty_sum(d: Sequence[float], c: int) -> float:
    """h_i = Σ_{j=c+1}^{n_i} d_j: the difficulty of generating the last n_i - c steps (Eq. 9)."""
    if not 0 <= c <= len(d):
        raise ValueError(f"c must lie in 0..{len(d)}, got {c}")
    return math.fsum(d[c:])


def total_difficulty(difficulties: Mapping[Hashable, Sequence[float]]) -> float:
    """B = Σ_i Σ_{j=1}^{n_i} d_j^(i), the maximum difficulty of the dataset (Eq. 10)."""
    return math.fsum(x for d in difficulties.values() for x in d)


def growth_rate(B: float, C0: float, T: int, p: float) -> float:
    """u = (B - C_0)(p + 1) / T^{p+1}, chosen so that D(T) = B (Eq. 10)."""
    return (B - C0) * (p + 1.0) / T ** (p + 1.0)


def overall_difficulty(t: float, B: float, T: int, p: float = 0.5, C0: float = 0.0) -> float:
    """D(t) = u t^{p+1} / (p + 1) + C_0 (Eq. 10), with D(t) = B from t = T on (App. B).

    At t = T the formula equals B up to rounding; returning B itself there makes D(T) = B exact.
    """
    if t >= T:
        return float(B)
    return growth_rate(B, C0, T, p) * t ** (p + 1.0) / (p + 1.0) + C0


# --- the schedule record ----------------------------------------------------------------------


@dataclass
class Stage:
    """One stage of Eq. 11: its budget ΔD(t), the spent ΔH(S(t)), S(t) and every c_i(t)."""

    t: int
    delta_D: float
    delta_H: float
    selected: list
    c: dict


@dataclass
class Schedule:
    """D(0..T) and the stages 0..T of Eq. 11; `input_steps(epoch)` gives c_i for an epoch.

    JSON (DESIGN.md): {"T", "D": [...], "stages": [{"t", "delta_D", "delta_H", "selected",
    "c": {id: c_i}}]} plus "ids" (so that ids keep their type: JSON object keys are strings),
    "progressive", "params" and "meta".
    """

    T: int
    D: list[float]
    stages: list[Stage]
    ids: list
    progressive: bool = True
    params: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    def input_steps(self, epoch: int) -> dict:
        """c_i for training epoch `epoch` (0-based): c_i(epoch) up to T, then 0 (App. B)."""
        if epoch < 0:
            raise ValueError(f"epochs are counted from 0, got {epoch}")
        if not self.progressive or epoch > self.T or not self.stages:
            return {i: 0 for i in self.ids}
        return dict(self.stages[epoch].c)

    def to_dict(self) -> dict:
        return {
            "T": self.T,
            "D": list(self.D),
            "stages": [
                {"t": s.t, "delta_D": s.delta_D, "delta_H": s.delta_H, "selected": list(s.selected),
                 "c": {str(i): c for i, c in s.c.items()}}
                for s in self.stages
            ],
            "ids": list(self.ids),
            "progressive": self.progressive,
            "params": dict(self.params),
            "meta": dict(self.meta),
        }

    @classmethod
    def from_dict(cls, record: dict) -> "Schedule":
        stages = record.get("stages", [])
        ids = record.get("ids")
        if ids is None:  # a record written by hand or by another tool: ids stay strings
            ids = list(stages[0]["c"]) if stages else []
        by_name = {str(i): i for i in ids}
        return cls(
            T=int(record["T"]),
            D=[float(x) for x in record["D"]],
            stages=[
                Stage(t=int(s["t"]), delta_D=float(s["delta_D"]), delta_H=float(s["delta_H"]),
                      selected=list(s["selected"]),
                      c={by_name.get(k, k): int(v) for k, v in s["c"].items()})
                for s in stages
            ],
            ids=list(ids),
            progressive=bool(record.get("progressive", True)),
            params=dict(record.get("params", {})),
            meta=dict(record.get("meta", {})),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "Schedule":
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Schedule":
        return cls.from_json(Path(path).read_text())


# --- Eq. 11 over all stages ---------------------------------------------------------------


def _check_difficulties(difficulties: Mapping) -> tuple[list, list[np.ndarray]]:
    ids = list(difficulties)
    names = [str(i) for i in ids]
    if len(set(names)) != len(names):
        raise ValueError("question ids must stay distinct as strings (they are JSON keys)")
    steps = []
    for i in ids:
        d = np.asarray(difficulties[i], dtype=float)
        if d.ndim != 1 or d.size == 0:
            raise ValueError(f"question {i!r}: difficulties must be a non-empty list of step values")
        if not np.all(np.isfinite(d)) or np.any(d < 0):
            raise ValueError(f"question {i!r}: step difficulties must be finite and >= 0 (Eq. 8)")
        steps.append(d)
    return ids, steps


def _initial_steps(ids, n_steps: np.ndarray, initial_input_steps) -> np.ndarray:
    """c_i before stage 0: n_i - 1 by default; an int caps it; a dict gives it per question."""
    if initial_input_steps is None:
        return n_steps - 1
    if isinstance(initial_input_steps, Mapping):
        c = np.array([initial_input_steps.get(i, n - 1) for i, n in zip(ids, n_steps)], dtype=np.int64)
        bad = [i for i, ci, n in zip(ids, c, n_steps) if not 0 <= ci <= n]
        if bad:
            raise ValueError(f"initial input steps must lie in 0..n_i; wrong for {bad[:5]}")
        return c
    cap = int(initial_input_steps)
    if cap < 0:
        raise ValueError(f"initial_input_steps must be >= 0, got {cap}")
    return np.minimum(cap, n_steps - 1)


def build_schedule(
    difficulties: Mapping[Hashable, Sequence[float]],
    clusters: Mapping[Hashable, int],
    epochs: int,
    T: int | None = None,
    p: float = 0.5,
    c0_fraction: float = 0.3,
    delta_s: int = 1,
    beta: float = 12.0,
    eps: float = 0.1,
    initial_input_steps: int | Mapping[Hashable, int] | None = None,
    progressive: bool = True,
    stage0_selection: bool = True,
    meta: dict | None = None,
) -> Schedule:
    """The stages 0..T of Eq. 11, each S(t) chosen by FTGP on Eq. 12-13.

    `difficulties`: question id -> [d_1, ..., d_{n_i}] (Eq. 8); `clusters`: id -> K-means
    label; `T`: stage of maximum difficulty (default: half the epochs, App. A); `p`, `c0_fraction`
    (C_0 = c0_fraction · B): Eq. 10; `delta_s`: Δs of Eq. 11; `beta` (0 when the diversity term
    is off, KPOD-w.o.-div), `eps`: Eq. 12 and Prop. 3.1; `initial_input_steps`, `stage0_selection`:
    see the module docstring; `progressive=False` (KPOD-w.o.-prog) records D but no stages, and
    every epoch then trains on full rationales. `meta` is stored as is (e.g. the embedding source).
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    T = max(1, epochs // 2) if T is None else int(T)
    if not 1 <= T <= epochs:
        raise ValueError(f"T must lie in 1..epochs ({epochs}), got {T}")
    if not p > 0:
        raise ValueError(f"p must be > 0 (Eq. 10), got {p}")
    if not 0.0 <= c0_fraction <= 1.0:
        raise ValueError(f"c0_fraction must lie in [0, 1], got {c0_fraction}")
    if int(delta_s) != delta_s or delta_s < 1:
        raise ValueError(f"delta_s must be a positive integer (Eq. 11), got {delta_s}")
    delta_s = int(delta_s)
    ids, steps = _check_difficulties(difficulties)
    missing = [i for i in ids if i not in clusters]
    if missing:
        raise ValueError(f"no cluster label for questions {missing[:5]}")

    B = math.fsum(float(x) for d in steps for x in d)
    C0 = c0_fraction * B
    D = [overall_difficulty(t, B, T, p, C0) for t in range(T + 1)]
    params = {"epochs": epochs, "p": p, "c0_fraction": c0_fraction, "B": B, "C0": C0,
              "u": growth_rate(B, C0, T, p), "delta_s": delta_s, "beta": beta, "eps": eps,
              "stage0_selection": stage0_selection}
    if not progressive:
        return Schedule(T=T, D=D, stages=[], ids=ids, progressive=False, params=params,
                        meta=dict(meta or {}))

    # Prefix sums of each rationale's step difficulties, flattened: P_i[c] = Σ_{j<=c} d_j, so
    # h_i(c) = P_i[n_i] - P_i[c] (Eq. 9) and moving c -> c - k costs P_i[c] - P_i[c - k].
    n_steps = np.array([d.size for d in steps], dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(n_steps + 1)[:-1]])
    prefix = np.concatenate([np.concatenate([[0.0], np.cumsum(d)]) for d in steps])
    totals = prefix[offset + n_steps]
    labels = np.array([clusters[i] for i in ids])

    def H(c: np.ndarray) -> float:
        """Σ_i h_i for input steps c (Eq. 9 summed)."""
        return math.fsum((totals - prefix[offset + c]).tolist())

    c = _initial_steps(ids, n_steps, initial_input_steps)
    stages = []
    for t in range(T + 1):
        delta_D = D[t] - H(c)  # room left under the curve (Eq. 11)
        candidates = np.flatnonzero(c > 0)
        chosen = np.zeros(0, dtype=np.int64)
        delta_H = 0.0
        if candidates.size and (t > 0 or stage0_selection):
            k = np.minimum(delta_s, c[candidates])
            cost = prefix[offset[candidates] + c[candidates]] - prefix[offset[candidates] + c[candidates] - k]
            cost = np.maximum(cost, 0.0)  # prefix differences of non-negative d_j: only rounding < 0
            local = np.asarray(ftgp(cost, labels[candidates], delta_D, beta=beta, eps=eps), dtype=np.int64)
            chosen = candidates[local]
            c[chosen] -= k[local]
            delta_H = math.fsum(cost[local].tolist())
        stages.append(Stage(t=t, delta_D=delta_D, delta_H=delta_H,
                            selected=[ids[i] for i in chosen.tolist()],
                            c=dict(zip(ids, c.tolist()))))
    return Schedule(T=T, D=D, stages=stages, ids=ids, progressive=True, params=params,
                    meta=dict(meta or {}))


def build_schedule_from_config(cfg, difficulties, clusters, meta: dict | None = None) -> Schedule:
    """`build_schedule` with the knobs of a `KPODConfig` (App. A defaults, ablation switches)."""
    return build_schedule(
        difficulties, clusters, epochs=cfg.epochs, T=cfg.stage_T, p=cfg.p,
        c0_fraction=cfg.c0_fraction, delta_s=cfg.delta_s,
        beta=cfg.beta if cfg.switches.diversity else 0.0,  # KPOD-w.o.-div
        eps=cfg.ftgp_eps, progressive=cfg.switches.progressive, meta=meta,
    )


# --- question clusters for the diversity term of Eq. 12 --------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def load_glove(path: str | Path, vocab: set[str] | None = None) -> dict[str, np.ndarray]:
    """Word vectors from a GloVe text file ("word v_1 ... v_d" per line), as §3.4 uses.

    `vocab` keeps only those words (GloVe files hold millions; a dataset needs thousands).
    """
    vectors: dict[str, np.ndarray] = {}
    dim = None
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            parts = line.rstrip().split(" ")
            if len(parts) < 2:
                continue
            word = parts[0]
            if vocab is not None and word not in vocab:
                continue
            vec = np.asarray(parts[1:], dtype=np.float32)
            if dim is None:
                dim = vec.size
            elif vec.size != dim:
                raise ValueError(f"{path}:{line_no}: {vec.size} numbers, expected {dim}")
            vectors[word] = vec
    return vectors


def mean_word_embeddings(questions: Sequence[str], vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each question as the mean of its known words' vectors (§3.4); zeros if none is known."""
    if not vectors:
        raise ValueError("no word vectors given")
    dim = next(iter(vectors.values())).size
    out = np.zeros((len(questions), dim), dtype=np.float32)
    for row, q in enumerate(questions):
        known = [vectors[w] for w in _words(q) if w in vectors]
        if known:
            out[row] = np.mean(known, axis=0)
    return out


def embed_questions(questions: Sequence[str], glove_path: str | Path | None = None,
                    embeddings=None) -> tuple[np.ndarray, str]:
    """Question embeddings for clustering, and a string naming their source.

    Precedence: `embeddings` (a matrix the caller computed, e.g. the student's mean-pooled input
    embeddings) > a GloVe file at `glove_path` (§3.4) > TF-IDF vectors (ours: offline fallback).
    """
    if embeddings is not None:
        X = np.asarray(embeddings, dtype=float)
        if X.ndim != 2 or X.shape[0] != len(questions):
            raise ValueError(f"embeddings must be (n_questions, dim), got {X.shape}")
        return X, "given"
    if glove_path is not None:
        vocab = {w for q in questions for w in _words(q)}
        return mean_word_embeddings(questions, load_glove(glove_path, vocab)), f"glove:{Path(glove_path).name}"
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(_words(q) for q in questions):
        return np.zeros((len(questions), 1)), "tfidf"
    tfidf = TfidfVectorizer(max_features=256, token_pattern=_WORD.pattern)
    return tfidf.fit_transform(questions).toarray(), "tfidf"


def cluster_questions(embeddings, k: int = 5, seed: int = 0) -> np.ndarray:
    """K-means labels (App. A: K = 5) of the question embeddings, for C_k in Eq. 12.

    Fewer distinct questions than k gives as many clusters as distinct questions (K-means
    cannot make empty clusters); no question gives an empty array.
    """
    from sklearn.cluster import KMeans

    X = np.asarray(embeddings, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D (n_questions, dim) matrix, got shape {X.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if X.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    rows = np.ascontiguousarray(X + 0.0).view(np.dtype((np.void, X.itemsize * X.shape[1]))).ravel()
    k = min(k, np.unique(rows).size)  # distinct questions (rows as raw bytes; + 0.0 folds -0.0)
    if k == 1:
        return np.zeros(X.shape[0], dtype=np.int64)
    # n_init = 3 k-means++ restarts (ours; the paper does not say): stable labels at a third
    # of the cost of the older default of 10.
    return KMeans(n_clusters=k, n_init=3, random_state=seed).fit_predict(X).astype(np.int64)


# --- the pipeline arrow: difficulty.jsonl + questions -> schedule.json -----------------------


def schedule_file(difficulty_path, questions_path, out_path, cfg, glove_path=None) -> Schedule:
    """Read step difficulties (`{"id", "steps", "difficulty"}`, Eq. 8) and the questions (any
    JSON Lines records with `id` and `question`: question or rationale records), cluster the
    questions, build the schedule of `cfg` (Eq. 9-13) and save it to `out_path`.

    Every question with a difficulty needs its text; a missing one is an error naming the id.
    """
    from kpod_lite.data import DataFormatError, read_jsonl

    difficulties = {}
    for line, record in read_jsonl(difficulty_path):
        for key in ("id", "difficulty"):
            if key not in record:
                raise DataFormatError(difficulty_path, line, key, "missing")
        difficulties[record["id"]] = [float(d) for d in record["difficulty"]]
    texts = {}
    for line, record in read_jsonl(questions_path):
        if "id" in record and "question" in record:
            texts.setdefault(record["id"], record["question"])
    missing = [i for i in difficulties if i not in texts]
    if missing:
        raise DataFormatError(questions_path, None, "question",
                              f"no question text for {len(missing)} id(s) with a difficulty, e.g. {missing[0]!r}")
    ids = list(difficulties)
    embeddings, source = embed_questions([texts[i] for i in ids], glove_path=glove_path)
    labels = cluster_questions(embeddings, k=cfg.n_clusters, seed=cfg.seed)
    schedule = build_schedule_from_config(cfg, difficulties, dict(zip(ids, labels.tolist())),
                                          meta={"embeddings": source, "clusters": cfg.n_clusters})
    schedule.save(out_path)
    return schedule
