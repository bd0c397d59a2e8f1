"""Question clusters for the diversity term of Eq. 12: embeddings, then K-means (§3.4, App. A).

§3.4 clusters the questions by their mean GloVe word embedding, K = 5 (App. A). GloVe cannot
be downloaded here: `load_glove` reads a local GloVe text file if you have one (the config's
`glove_file`, or `kpod-lite schedule --glove`), any embedding matrix can be passed instead, and
the fallback is TF-IDF vectors (`embed_questions`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from kpod_lite.data.records import DataFormatError

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def question_words(text: str) -> list[str]:
    """The lowercase words of `text`: GloVe's vocabulary is lowercase, and TF-IDF splits the same way."""
    return _WORD.findall(text.lower())


def load_glove(path: str | Path, vocab: set[str] | None = None) -> dict[str, np.ndarray]:
    """Word vectors from a GloVe text file ("word v_1 ... v_d" per line), as §3.4 uses.

    `vocab` keeps only those words (GloVe files hold millions; a dataset needs thousands). A
    line that is not a word and numbers of the same dimension as the others raises
    `DataFormatError` naming the line (a ValueError, as before).
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
            try:
                vec = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise DataFormatError(path, line_no, None, f"the vector of {word!r} holds something that is not a "
                                      f"number") from None
            if not np.all(np.isfinite(vec)):
                raise DataFormatError(path, line_no, None, f"the vector of {word!r} holds a NaN or infinity")
            if dim is None:
                dim = vec.size
            elif vec.size != dim:
                raise DataFormatError(path, line_no, None, f"{vec.size} numbers for {word!r}, expected {dim} as on "
                                      f"the lines before")
            vectors[word] = vec
    return vectors


def mean_word_embeddings(questions: Sequence[str], vectors: Mapping[str, np.ndarray]) -> np.ndarray:
    """Each question as the mean of its known words' vectors (§3.4); zeros if none is known."""
    if not vectors:
        raise ValueError("no word vectors given")
    dim = next(iter(vectors.values())).size
    out = np.zeros((len(questions), dim), dtype=np.float32)
    for row, q in enumerate(questions):
        known = [vectors[w] for w in question_words(q) if w in vectors]
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
        vocab = {w for q in questions for w in question_words(q)}
        return mean_word_embeddings(questions, load_glove(glove_path, vocab)), f"glove:{Path(glove_path).name}"
    from sklearn.feature_extraction.text import TfidfVectorizer

    if not any(question_words(q) for q in questions):
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
