"""The schedule as a pipeline step: a config's knobs, and difficulty.jsonl + questions -> schedule.json.

`_config_knobs` is the one place the schedule reads a `KPODConfig`: App. A's defaults and the
ablation switches (KPOD-w.o.-div, KPOD-w.o.-prog) come in there and nowhere else.
"""

from __future__ import annotations

from kpod_lite.schedule.clusters import cluster_questions, embed_questions
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


def build_schedule_from_config(cfg, difficulties, clusters, meta: dict | None = None) -> Schedule:
    """`build_schedule` with the knobs of a `KPODConfig` (App. A defaults, ablation switches)."""
    knobs, _ = _config_knobs(cfg)
    return build_schedule(difficulties, clusters, **knobs, meta=meta)


def schedule_file(difficulty_path, questions_path, out_path, cfg, glove_path=None) -> Schedule:
    """Read step difficulties (`{"id", "sample"?, "steps", "difficulty"}`, Eq. 8) and the questions (any
    JSON Lines records with `id` and `question`: question or rationale records), cluster the
    questions, build the schedule of `cfg` (Eq. 9-13) and save it to `out_path`.

    Every question with a difficulty needs its text; a missing one is an error naming the id.
    """
    from kpod_lite.data import DataFormatError, rationale_name, read_jsonl

    # One schedule item per rationale: a question with several teacher samples contributes each
    # of them to h_i, B and the selection (Eq. 9-13), since each is trained on (Eq. 14-15).
    difficulties, question_of = {}, {}
    for line, record in read_jsonl(difficulty_path):
        for key in ("id", "difficulty"):
            if key not in record:
                raise DataFormatError(difficulty_path, line, key, "missing")
        name = rationale_name(record)
        if name in difficulties:
            raise DataFormatError(difficulty_path, line, "id", f"a second difficulty record for {name!r}")
        difficulties[name], question_of[name] = [float(d) for d in record["difficulty"]], record["id"]
    texts = {}
    for line, record in read_jsonl(questions_path):
        if "id" in record and "question" in record:
            texts.setdefault(record["id"], record["question"])
    missing = [question_of[i] for i in difficulties if question_of[i] not in texts]
    if missing:
        raise DataFormatError(questions_path, None, "question",
                              f"no question text for {len(missing)} id(s) with a difficulty, e.g. {missing[0]!r}")
    ids = list(difficulties)
    knobs, clustering = _config_knobs(cfg)
    embeddings, source = embed_questions([texts[question_of[i]] for i in ids], glove_path=glove_path)
    labels = cluster_questions(embeddings, **clustering)
    schedule = build_schedule(difficulties, dict(zip(ids, labels.tolist())), **knobs,
                              meta={"embeddings": source, "clusters": clustering["k"], "method": cfg.method})
    schedule.save(out_path)
    return schedule
