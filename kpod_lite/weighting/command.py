"""``python -m kpod_lite.weighting``: the keypoint AUROC of learned weights (§3.3, Eq. 2-7).

Trains the token weighting (Eq. 7) on one rationale file per seed and α, weighs a held-out
one (Eq. 3) and prints `evaluate_keypoints`' result as JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from kpod_lite.data import read_jsonl, write_atomically
from kpod_lite.outputs import output_file
from kpod_lite.weighting.evidence import evaluate_keypoints


def main(argv=None) -> None:
    """python -m kpod_lite.weighting --train T --eval E: keypoint AUROC of the learned weights."""
    from kpod_lite.config import preset, with_settings

    parser = argparse.ArgumentParser(prog="python -m kpod_lite.weighting", description=main.__doc__)
    parser.add_argument("--train", required=True, help="rationale records to train on (kpod-lite teach)")
    parser.add_argument("--eval", required=True, help="held-out rationale records with spans")
    parser.add_argument("--preset", default=None, help="config preset ($KPOD_PRESET, default tiny)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--alphas", type=float, nargs="+", default=None, help="default: the preset's alpha")
    parser.add_argument("--prefix-mode", choices=["all", "steps", "sampled"], default=None,
                        help="Eq. 5's prefixes (\"sampled\": set weighting_sampled_prefixes too)")
    parser.add_argument("--epochs", type=int, default=None, help="weighting_epochs")
    parser.add_argument("--set", nargs="+", action="extend", default=[], metavar="KEY=JSON",
                        help="KPODConfig fields, e.g. weighting_predictor='\"tiny-llama\"'")
    parser.add_argument("--out", type=output_file, default=None, help="also write the JSON result here")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    config = with_settings(preset(args.preset), args.set)
    changes = {}
    if args.prefix_mode:
        changes["prefix_mode"] = args.prefix_mode
    if args.epochs:
        changes["weighting_epochs"] = args.epochs
    config = config.replace(**changes)
    started = time.perf_counter()
    result = evaluate_keypoints([r for _, r in read_jsonl(args.train)], [r for _, r in read_jsonl(args.eval)],
                                config, seeds=args.seeds, alphas=args.alphas, progress=True)
    result["config"] = {"preset": config.name, "prefix_mode": config.prefix_mode,
                        "weighting_epochs": config.weighting_epochs, "weighting_lr": config.weighting_lr,
                        "gumbel_temperature": config.gumbel_temperature,
                        **{k: v for k, v in config.to_dict().items() if k.startswith("weighting_")}}
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    result["torch_threads"] = torch.get_num_threads()
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        write_atomically(args.out, text + "\n")
