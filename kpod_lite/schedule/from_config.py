"""The schedule as a pipeline step: a config's knobs, and difficulty.jsonl + questions -> schedule.json.

`_config_knobs` is the one place the schedule reads a `KPODConfig`: App. A's defaults and the
ablation switches (KPOD-w.o.-div, KPOD-w.o.-prog) come in there and nowhere else; the question
embeddings of §3.4 come from `glove_file` (`check_glove_file`), TF-IDF without one.
"""

from __future__ import annotations

import math
from pathlib import Path

from kpod_lite.consistency import check_step_counts, checked_key
from kpod_lite.data import rationale_name
from kpod_lite.errors import ConfigError
from kpod_lite.schedule.clusters import (
    cluster_questions,
    embed_questions,
    load_glove,
    mean_word_embeddings,
    question_words,
)
from kpod_lite.schedule.record import Schedule
from kpod_lite.schedule.stages import build_schedule


def _config_knobs(cfg) -> tuple[dict, dict]:
    """The keywords of `build_schedule` and of `cluster_questions` that `cfg` sets."""
    schedule = dict(
        epochs=cfg.epochs, T=cfg.stage_T, p=cfg.p,
        c0_fraction=cfg.c0_fraction, delta_s=cfg.delta_s,
        beta=cfg.beta if cfg.switches.diversity else 0.0,  # KPOD-w.o.-div (kpod_lite.methods)
        eps=cfg.ftgp_eps, progressive=cfg.switches.progressive,
    )
    clustering = dict(k=cfg.n_clusters, seed=cfg.seed)
    return schedule, clustering


GLOVE_SOURCE = ("GloVe word vectors (§3.4) come from the Stanford NLP site, https://nlp.stanford.edu/projects/glove/: "
                "unzip glove.6B.zip and give the path of glove.6B.300d.txt")


def _tfidf_instead(setting: str) -> str:
    back = "leave out --glove" if setting == "--glove" else "--set glove_file=null, or cfg.replace(glove_file=None)"
    return f"or cluster on TF-IDF instead (ours, offline): {back}"


def check_glove_file(cfg, path=None, setting: str = "glove_file") -> Path | None:
    """The GloVe text file the clusters of §3.4 read (`path`, else `cfg.glove_file`), checked
    before any work: it must exist and start like GloVe ("word v_1 ... v_d"). None: TF-IDF.

    A file that is not there or not GloVe is a `ConfigError` naming `setting` and the path,
    where GloVe comes from and how to go back to TF-IDF. Only the first line is read: the
    whole file (1 GB for glove.6B.300d) is read once, by the schedule stage.
    """
    if path is None:
        path = cfg.glove_file
    if path is None:
        return None
    path = Path(path).expanduser()

    def refuse(problem: str):
        raise ConfigError(f"setting {setting}: {path} {problem}. {GLOVE_SOURCE}; {_tfidf_instead(setting)}")

    if not path.is_file():
        refuse("is not a file" if path.exists() else "does not exist")
    try:
        with open(path, encoding="utf-8") as fh:
            first = fh.readline()
    except (OSError, UnicodeDecodeError) as error:
        refuse(f"cannot be read as UTF-8 text ({error})")
    parts = first.split()
    try:
        numbers = [float(x) for x in parts[1:]]
    except ValueError:
        numbers = []
    # A word2vec header ("400000 300") parses as a 1-d vector; GloVe's own files have no header.
    if len(numbers) < 2:
        refuse(f"does not start like a GloVe text file (\"word v_1 ... v_d\" per line, no header): "
               f"its first line is {first[:80]!r}")
    return path


def _glove_embeddings(path: Path, questions: list[str], setting: str):
    """Mean GloVe vectors of `questions` (§3.4) and their meta; a file that turns out not to be
    GloVe, or holds none of the questions' words, is a `DataFormatError` naming `setting`."""
    import numpy as np

    from kpod_lite.data import DataFormatError

    vocab = {word for question in questions for word in question_words(question)}
    try:
        vectors = load_glove(path, vocab)
    except DataFormatError as error:  # ragged vectors or a non-number, past the first line
        raise DataFormatError(path, error.line, None, f"setting {setting} names a file that is not GloVe text "
                              f"({error.message}); {GLOVE_SOURCE}; {_tfidf_instead(setting)}") from None
    if not vectors:
        raise DataFormatError(path, None, None, f"setting {setting} names word vectors that hold none of the "
                                                f"{len(vocab)} words of the questions (GloVe's are lowercase English); "
                                                f"{GLOVE_SOURCE}; {_tfidf_instead(setting)}")
    X = mean_word_embeddings(questions, vectors)
    # A question none of whose words GloVe knows is the zero vector, so its cluster says nothing.
    unknown = int(np.sum(~np.any(X != 0, axis=1)))
    return X, {"embeddings": f"glove:{path.name}, {X.shape[1]}d", "questions_without_glove_words": unknown}


def _step_difficulties(path, line: int, record: dict, repeated: bool) -> list[float]:
    """d_1..d_n of one difficulty record (Eq. 8), checked: one finite number >= 0 per step."""
    from kpod_lite.data import DataFormatError

    def bad(field, message):
        return DataFormatError(path, line, field, f"{message}; run kpod-lite difficulty again, or fix the record")

    for key in ("id", "difficulty"):
        if key not in record:
            raise bad(key, "missing")
    if repeated:
        raise bad("id", f"a second difficulty record for {rationale_name(record)!r}")
    values = record["difficulty"]
    if not isinstance(values, list) or not values:
        raise bad("difficulty", f"must be a non-empty list of step difficulties (a rationale has at least one step), "
                                f"got {values!r}")
    for k, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise bad("difficulty", f"value {k} is {value!r}: a step difficulty is a weighted NLL, a finite number "
                                    f">= 0 (Eq. 8)")
    steps = record.get("steps")
    if steps is not None and (not isinstance(steps, list) or len(steps) != len(values)):
        raise bad("steps", f"{len(steps) if isinstance(steps, list) else repr(steps)} steps for {len(values)} "
                           f"difficulties: one difficulty per step")
    return [float(value) for value in values]


def build_schedule_from_config(cfg, difficulties, clusters, meta: dict | None = None) -> Schedule:
    """`build_schedule` with the knobs of a `KPODConfig` (App. A defaults, ablation switches)."""
    knobs, _ = _config_knobs(cfg)
    return build_schedule(difficulties, clusters, **knobs, meta=meta)


def schedule_file(difficulty_path, questions_path, out_path, cfg, glove_path=None) -> Schedule:
    """Read step difficulties (`{"id", "sample"?, "steps", "difficulty"}`, Eq. 8) and the questions (any
    JSON Lines records with `id` and `question`: question or rationale records), cluster the
    questions, build the schedule of `cfg` (Eq. 9-13) and save it to `out_path`.

    Clusters (§3.4): K-means on the questions' mean GloVe vectors from `glove_path` (the
    command's --glove), else from `cfg.glove_file`, else on TF-IDF vectors (ours). The schedule's
    `meta["embeddings"]` says which: "glove:<file name>, <d>d" or "tfidf".
    Every question with a difficulty needs its text; a missing one is an error naming the id.
    """
    from kpod_lite.data import DataFormatError, read_jsonl

    setting = "--glove" if glove_path is not None else "glove_file"
    glove = check_glove_file(cfg, glove_path, setting)  # before reading anything else

    # One schedule item per rationale: a question with several teacher samples contributes each
    # of them to h_i, B and the selection (Eq. 9-13), since each is trained on (Eq. 14-15).
    difficulties, question_of, origins = {}, {}, []
    for line, record in read_jsonl(difficulty_path):
        where = {"path": str(difficulty_path), "line": line, "record": f"id {record.get('id')!r}"}
        checked_key(where, record)
        name = rationale_name(record)
        difficulties[name] = _step_difficulties(difficulty_path, line, record, name in difficulties)
        question_of[name] = record["id"]
        origins.append((where, record))
    if not difficulties:
        raise DataFormatError(difficulty_path, None, None, "no difficulty records to schedule (kpod-lite difficulty "
                                                           "writes them)")
    texts, rationales = {}, []
    for line, record in read_jsonl(questions_path):
        if "id" in record and "question" in record:
            texts.setdefault(record["id"], record["question"])
        if "id" in record and isinstance(record.get("rationale"), str):
            rationales.append(({"path": str(questions_path), "line": line, "record": f"id {record['id']!r}"}, record))
    # Given rationale records as the questions, each difficulty must have one value per step.
    check_step_counts(origins, rationales)
    missing = [question_of[i] for i in difficulties if question_of[i] not in texts]
    if missing:
        raise DataFormatError(questions_path, None, "question",
                              f"no question text for {len(missing)} id(s) with a difficulty, e.g. {missing[0]!r}")
    ids = list(difficulties)
    knobs, clustering = _config_knobs(cfg)
    questions = [texts[question_of[i]] for i in ids]
    if glove is None:
        embeddings, source = embed_questions(questions)
        embedded = {"embeddings": source}
    else:
        embeddings, embedded = _glove_embeddings(glove, questions, setting)
    labels = cluster_questions(embeddings, **clustering)
    schedule = build_schedule(difficulties, dict(zip(ids, labels.tolist())), **knobs,
                              meta={**embedded, "clusters": clustering["k"], "method": cfg.method})
    schedule.save(out_path)
    return schedule
