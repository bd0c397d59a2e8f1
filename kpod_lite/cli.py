"""The `kpod-lite` command line: one sub-command per arrow of the pipeline (README, "The command line").

    kpod-lite synth     write the synthetic train / validation / test splits
    kpod-lite teach     zero-shot CoT rationales from a teacher (§3.1)
    kpod-lite weigh     rationale token weights by mask learning (§3.3, Eq. 2-7)
    kpod-lite difficulty  step difficulties under the pre-distillation student (Eq. 8)
    kpod-lite schedule  the progressive schedule D(t), S(t), c_i(t) from step difficulties (Eq. 9-13)
    kpod-lite distill   progressive, keypoint-weighted distillation (Eq. 14-15)
    kpod-lite evaluate  greedy generation, answer extraction, accuracy (§4)
    kpod-lite run       the end-to-end pipeline on a preset, in a run folder (App. B)
    kpod-lite fetch     download a named data set (GSM8K, ASDiv, SVAMP, CSQA, the Table 4 splits) once, checked

Each sub-command parses its arguments and calls one plain function of `kpod_lite`; nothing
here computes anything itself.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from kpod_lite.arguments import at_least, non_negative, positive, share
from kpod_lite.config import ConfigError
from kpod_lite.data import DataFormatError
from kpod_lite.errors import report_errors
from kpod_lite.outputs import claim, declared_outputs, output_file, output_folder
from kpod_lite.templates import ZERO_SHOT_COT_PROMPT


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synth", help="write synthetic train/validation/test splits (JSON Lines)")
    p.add_argument("--out", type=output_folder, default=Path("data_samples/synthetic"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train", type=at_least(0), default=400)
    p.add_argument("--validation", type=at_least(0), default=100)
    p.add_argument("--test", type=at_least(0), default=100)
    p.set_defaults(func=_run_synth)


def _add_preset_options(p: argparse.ArgumentParser, help: str = "config preset ($KPOD_PRESET, default tiny)") -> None:
    p.add_argument("--preset", default=None, help=help)
    p.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=JSON",
                   help="change the preset: a KPODConfig field (group.field for a group), applied in order; "
                        "repeatable, e.g. --set token_weight_floor=0 --set synthetic.max_steps=4")


def _add_device_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("auto", "cuda", "cpu"), default=None,
                   help="where the student runs (default: the preset's, auto: the GPU when there is one; a GPU "
                        "preset without one is refused unless --device cpu insists)")


def _config(args: argparse.Namespace, **overrides):
    """The preset of `--preset` with the command's own overrides and `--device`, then `--set` (which wins)."""
    from kpod_lite import config

    if getattr(args, "device", None) is not None:
        overrides["device"] = args.device
    return config.with_settings(config.preset(args.preset, **overrides), args.set)


def _student_config(args: argparse.Namespace, **overrides):
    """`_config` for a command that loads a student: where it will run is printed (to stderr: stdout
    holds the summary) before anything slow, and a GPU student without a GPU is refused."""
    from kpod_lite.models.loading import describe_device

    cfg = _config(args, **overrides)
    print(describe_device(cfg), file=sys.stderr, flush=True)
    return cfg


def _run_synth(args: argparse.Namespace) -> int:
    from kpod_lite import synthetic

    sizes = {"train": args.train, "validation": args.validation, "test": args.test}
    for split, path in synthetic.write_splits(args.out, sizes=sizes, seed=args.seed).items():
        print(f"{split}: {sizes[split]} problems -> {path}")
    return 0


def _add_teach(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("teach", help="generate zero-shot CoT rationales with a teacher (§3.1)")
    p.add_argument("--data", type=Path, required=True, help="questions file")
    p.add_argument("--format", default="kpod", help="gsm8k, svamp, asdiv, csqa, instruction or kpod")
    p.add_argument("--teacher", default="template", help="template, openai, hf, replay, gold, or released: the rationales an instruction-format --data file ships")
    p.add_argument("--out", type=output_file, required=True, help="rationales JSON Lines (filtered)")
    p.add_argument("--cache", type=output_file, default=None,
                   help="append-only cache of every teacher answer (default: OUT with .cache.jsonl)")
    p.add_argument("--model", default=None, help="openai: model name; hf: local folder or hub id")
    p.add_argument("--base-url", default=None, help="openai: server URL (else $OPENAI_BASE_URL)")
    p.add_argument("--replay-from", type=Path, default=None, help="replay: a cache file to read")
    p.add_argument("--cot-prompt", default=ZERO_SHOT_COT_PROMPT, help="<p> of the §3.1 template (openai, hf)")
    p.add_argument("--samples", type=at_least(1), default=1, help="rationales per question")
    p.add_argument("--temperature", type=non_negative, default=0.0)
    p.add_argument("--max-tokens", type=at_least(1), default=256)
    p.add_argument("--concurrency", type=at_least(1), default=8, help="parallel requests (openai)")
    p.add_argument("--timeout", type=positive, default=None, help="seconds per request (openai; default 120)")
    p.add_argument("--max-attempts", type=at_least(1), default=None,
                   help="tries per request before giving up, backing off with jitter (openai; default 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit", type=at_least(1), default=None, help="only the first N questions")
    p.add_argument("--keep-incorrect", action="store_true",
                   help="keep rationales whose answer is wrong (filtering is on by default)")
    p.add_argument("--skip-invalid", action="store_true",
                   help="skip malformed input records (and count them) instead of stopping")
    p.add_argument("--allow-failed", type=share, default=0.0, metavar="SHARE",
                   help="the share of teacher requests that may fail with exit code 0 (default 0: any failed "
                        "request exits 1; the answers that arrived are kept and a rerun asks only the rest)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_run_teach)


def _run_teach(args: argparse.Namespace) -> int:
    from kpod_lite import data, teacher

    errors: list[DataFormatError] = []
    examples = data.load_examples(args.data, args.format, skip_invalid=args.skip_invalid, errors=errors)
    if not examples:
        raise DataFormatError(args.data, None, None, "no questions to teach: the file holds no records"
                              + (f" that could be read ({len(errors)} skipped)" if errors else ""))
    if errors:
        print(f"skipped {len(errors)} invalid record(s) in {args.data}", file=sys.stderr)
    if args.limit is not None:
        examples = examples[: args.limit]
    backend = teacher.make_backend(
        args.teacher,
        model=args.model,
        base_url=args.base_url,
        replay_from=args.replay_from,
        concurrency=args.concurrency,
        cot_prompt=args.cot_prompt,
        timeout=args.timeout,
        max_attempts=args.max_attempts,
    )
    report = teacher.teach(
        examples,
        backend,
        out=args.out,
        cache=args.cache,
        samples=args.samples,
        temperature=args.temperature,
        max_tokens=args.max_tokens,
        seed=args.seed,
        filter_correct=not args.keep_incorrect,
        progress=not args.no_progress,
    )
    print(report.summary())
    teacher.check_failures(report, allowed_share=args.allow_failed, retry="run the same command again")
    return 0


def _print_summary(summary: dict) -> None:
    # Summaries are JSON-safe dicts; the long per-epoch history stays in the files.
    import json

    print(json.dumps({k: v for k, v in summary.items() if k != "history"}, indent=2))


def _add_weigh(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("weigh", help="token significance weights by mask learning (§3.3, Eq. 2-7)")
    p.add_argument("--rationales", type=Path, required=True, help="rationale records (kpod-lite teach)")
    p.add_argument("--out", type=output_file, required=True, help="weights.jsonl")
    _add_preset_options(p, help="student and knobs ($KPOD_PRESET, default tiny)")
    _add_device_option(p)
    p.set_defaults(func=_run_weigh)


def _run_weigh(args: argparse.Namespace) -> int:
    from kpod_lite import weighting

    _print_summary(weighting.weigh_file(args.rationales, args.out, _student_config(args)))
    return 0


def _add_difficulty(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("difficulty", help="step difficulties under the pre-distillation student (Eq. 8)")
    p.add_argument("--rationales", type=Path, required=True)
    p.add_argument("--weights", type=Path, required=True, help="weights.jsonl (kpod-lite weigh)")
    p.add_argument("--out", type=output_file, required=True, help="difficulty.jsonl")
    _add_preset_options(p)
    p.add_argument("--unweighted", action="store_true",
                   help="KPOD-w.o.-sig-dif: mean token loss per step (the same as --set method='\"w.o.-sig-dif\"')")
    _add_device_option(p)
    p.set_defaults(func=_run_difficulty)


def _run_difficulty(args: argparse.Namespace) -> int:
    from kpod_lite import difficulty

    cfg = _student_config(args, **({"method": "w.o.-sig-dif"} if args.unweighted else {}))
    _print_summary(difficulty.difficulty_file(args.rationales, args.weights, args.out, cfg))
    return 0


def _add_schedule(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("schedule", help="the progressive schedule from step difficulties (Eq. 9-13)")
    p.add_argument("--difficulty", type=Path, required=True, help="step difficulties (JSON Lines, Eq. 8)")
    p.add_argument("--questions", type=Path, required=True, help="records with id and question text")
    p.add_argument("--epochs", type=at_least(1), required=True, help="training epochs (one stage each)")
    p.add_argument("--out", type=output_file, required=True, help="schedule.json")
    _add_preset_options(p, help="where the other knobs come from ($KPOD_PRESET)")
    p.add_argument("--T", type=at_least(1), default=None, help="stage of maximum difficulty (default: epochs / 2)")
    p.add_argument("--glove", type=Path, default=None, help="a local GloVe text file for the clusters")
    p.set_defaults(func=_run_schedule)


def _run_schedule(args: argparse.Namespace) -> int:
    from kpod_lite import schedule

    cfg = _config(args, epochs=args.epochs, T=args.T)
    built = schedule.schedule_file(args.difficulty, args.questions, args.out, cfg, glove_path=args.glove)
    stages = len(built.stages)
    print(f"schedule: {stages} stage(s) up to T = {cfg.stage_T}, clusters from "
          f"{built.meta.get('embeddings')} -> {args.out}")
    return 0


def _add_distill(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="progressive keypoint-weighted distillation (Eq. 14-15)")
    p.add_argument("--rationales", type=Path, required=True)
    p.add_argument("--weights", type=Path, default=None, help="weights.jsonl (not needed for w.o.-sig, plain-cot)")
    p.add_argument("--schedule", type=Path, default=None, help="schedule.json (not needed for w.o.-prog, plain-cot)")
    p.add_argument("--out", type=output_folder, required=True, help="output folder (checkpoints, model/)")
    _add_preset_options(p)
    p.add_argument("--method", default=None, help="a row of Table 2 or plain-cot (default: the preset's method, kpod)")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    p.add_argument("--no-progress", action="store_true")
    _add_device_option(p)
    p.set_defaults(func=_run_distill)


def _run_distill(args: argparse.Namespace) -> int:
    from kpod_lite import distill
    from kpod_lite.state_files import check_resume_checkpoint

    # The inputs are read and checked by distill_files before the student is loaded (distill.check_inputs).
    if args.resume:
        check_resume_checkpoint(args.out)

    summary = distill.distill_files(args.rationales, args.weights, args.schedule, args.out,
                                    _student_config(args), method=args.method, resume=args.resume,
                                    progress=not args.no_progress)
    _print_summary(summary)
    return 0


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="accuracy of a trained student (§4)")
    p.add_argument("--model", type=Path, required=True, help="a saved student folder (distill's model/)")
    p.add_argument("--data", type=Path, required=True, help="questions file")
    p.add_argument("--format", default="kpod", help="gsm8k, svamp, asdiv, csqa, instruction or kpod")
    p.add_argument("--out", type=output_file, required=True, help="predictions.jsonl")
    _add_preset_options(p)
    _add_device_option(p)
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from kpod_lite import evaluate
    from kpod_lite.state_files import check_student_folder

    check_student_folder(args.model)

    _print_summary(evaluate.evaluate_file(args.model, args.data, args.format, args.out, _student_config(args)))
    return 0


def pipeline_stages() -> tuple[str, ...]:
    from kpod_lite.pipeline import STAGES

    return STAGES


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the end-to-end pipeline on a preset, in a run folder")
    _add_preset_options(p, help="tiny, colab, flan-t5-large, flan-t5-xl, llama-7b ($KPOD_PRESET)")
    p.add_argument("--out", type=output_folder, default=None, help="run folder (default runs/<preset>)")
    p.add_argument("--force", action="store_true", help="re-run stages that already finished")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (a log file, CI)")
    p.add_argument("--ablations", action="store_true",
                   help="Table 2's variants and the plain CoT baseline, not KPOD alone")
    p.add_argument("--methods", nargs="+", default=None,
                   help="distillation methods to run (default: the preset's method, kpod)")
    p.add_argument("--seeds", type=at_least(1), default=1, help="distillation seeds: the preset's seed and the next ones")
    p.add_argument("--until", choices=pipeline_stages(), default="evaluate", help="stop after this stage")
    p.add_argument("--workers", type=at_least(1), default=1,
                   help="students distilled at once, one process of one torch thread each (e.g. 2 on 2 cores)")
    p.add_argument("--arms", action="store_true",
                   help="add the diagnostic arms (oracle weights, sampled prefixes, T more epochs; kpod_lite.methods)")
    p.add_argument("--allow-failed", type=share, default=0.0, metavar="SHARE",
                   help="the share of teacher requests that may fail (default 0: any failed request stops the run "
                        "after the teacher, exit 1; a rerun asks only the failed ones)")
    _add_device_option(p)
    # pipeline.run takes the run folder's lock itself (outputs.RUN_LOCK), with the same message.
    p.set_defaults(func=_run_pipeline, locks_its_output=True)


def _run_pipeline(args: argparse.Namespace) -> int:
    from kpod_lite import pipeline
    from kpod_lite.outputs import check_output_folder
    from kpod_lite.state_files import check_run_folder

    cfg = _config(args)
    run_dir = args.out or Path("runs") / cfg.name
    methods = tuple(args.methods or (pipeline.ABLATIONS if args.ablations else (cfg.method,)))
    if args.arms:
        from kpod_lite.methods import ARMS

        methods += tuple(arm for arm in ARMS if arm not in methods)
    check_output_folder(run_dir)  # the default folder too, before any stage
    if not args.force:  # --force rebuilds the folder's state files, broken ones too
        check_run_folder(run_dir)
    seeds = [cfg.seed + k for k in range(args.seeds)]
    summary = pipeline.run(cfg, run_dir, force=args.force, methods=methods, seeds=seeds, stages=(args.until,),
                           progress=not args.no_progress, workers=args.workers, allow_failed=args.allow_failed)
    print(summary)
    return 0


def _add_fetch(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch", help="download a named data set into the cache, checked by sha256 (§4.1, Table 4)")
    p.add_argument("name", nargs="?", default=None, help="a data source (omit it to list them)")
    p.add_argument("--split", default=None, help="one split only (default: all of the source's)")
    p.add_argument("--cache-dir", type=output_folder, default=None, help="cache folder (default $KPOD_DATA_CACHE, "
                                                               "else ~/.cache/kpod-lite/data)")
    p.add_argument("--mirror", default=None, help="base URL or folder laid out as <mirror>/<name>/<file> "
                                                  "(default $KPOD_DATA_MIRROR)")
    p.add_argument("--sha256", default=None, metavar="HEX", help="the expected digest of --split's file")
    p.set_defaults(func=_run_fetch)


def _run_fetch(args: argparse.Namespace) -> int:
    from kpod_lite.data import sources

    if args.name is None:
        for source in sources.SOURCES.values():
            print(f"{source.name}: format {source.format}, splits {', '.join(source.files)}; {source.licence}")
        return 0
    if args.sha256 is not None and args.split is None:
        raise ConfigError("--sha256 pins one file: give --split too")
    pins = {args.split: args.sha256} if args.sha256 is not None else None
    paths = sources.fetch(args.name, args.split, cache_dir=args.cache_dir, mirror=args.mirror, sha256=pins)
    fmt = sources.SOURCES[args.name].format
    for split, path in paths.items():
        print(f"{split}: {path}")
    print(f"format: {fmt} (a config names a split as train_file='{args.name}:<split>')")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kpod-lite", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_synth, _add_teach, _add_weigh, _add_difficulty, _add_schedule, _add_distill,
                _add_evaluate, _add_run, _add_fetch):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse, hold the command's outputs (`outputs.claim`), run it; what it raises for a reason
    the user can act on is one paragraph on stderr and an exit code (`errors.report_errors`)."""
    parser = build_parser()
    args = parser.parse_args(argv)  # output paths are checked here, by their argparse types
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    command = parser._subparsers._group_actions[0].choices[args.command]
    outputs = [] if getattr(args, "locks_its_output", False) else declared_outputs(command, args)

    def work() -> int:
        with claim(outputs):
            return args.func(args)

    return report_errors(f"kpod-lite {args.command}", work)


if __name__ == "__main__":
    sys.exit(main())
