"""``relaxit select``: learn to select k pixels per image (L2X-style) with each k-subset method."""

from __future__ import annotations

import argparse
from dataclasses import fields
from pathlib import Path

from relaxit.select.data import DATASETS
from relaxit.select.methods import METHODS
from relaxit.select.train import SelectConfig


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "select",
        help="learn to select k features per image (Gumbel top-k, SIMPLE, I-MLE, REINFORCE)",
        description="Instance-wise k-pixel selection (L2X, Chen et al. 2018): a selector picks k "
        "pixels, a classifier predicts the label from them alone, trained through the k-subset "
        "choice by --method. Writes metrics.json and selections.png to --out; --compare runs "
        "every method x --seeds as resumable cells and writes select.md/json/png.",
    )
    parser.add_argument("--list-methods", action="store_true", help="list the methods and exit")
    parser.add_argument("--method", default="simple", help=f"one of {list(METHODS)}")
    parser.add_argument("--dataset", default="digits", help=f"one of {list(DATASETS)}")
    parser.add_argument("--k", type=int, default=6, help="pixels selected per image")
    parser.add_argument("--steps", type=int, default=3000, help="Adam steps")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=128, help="hidden units of both MLPs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--checkpoint-every", type=int, default=1000, help="0: never")
    parser.add_argument("--out", default=None, help="output directory")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--compare", action="store_true", help="run every method (and --seeds)")
    parser.add_argument("--methods", default=",".join(METHODS), help="with --compare")
    parser.add_argument("--seeds", default="0,1,2", help="with --compare, comma-separated")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from relaxit.select.train import compare, train

    if args.list_methods:
        for m in METHODS.values():
            print(f"{m.name:16s} {m.paper}: {m.what}")
        return 0
    names = {f.name for f in fields(SelectConfig)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    if args.compare:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        unknown = [m for m in methods if m not in METHODS]
        if unknown:
            raise SystemExit(f"relaxit select: unknown --methods {unknown}; see --list-methods")
        try:
            seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        except ValueError as err:
            raise SystemExit(
                f"relaxit select: --seeds must be integers, got {args.seeds!r}"
            ) from err
        out = Path(args.out or f"runs/select-{args.dataset}-k{args.k}")
        summary = compare(SelectConfig(**{**values, "out": str(out)}), methods, seeds, out)
        for r in summary["rows"]:
            print(
                f"{r['method']:16s} post-hoc test accuracy {r['test_accuracy_top_k_mean']:.3f} "
                f"± {r['test_accuracy_top_k_se']:.3f}"
            )
        print(f"wrote {out / 'select.md'}")
        return 0
    if args.method not in METHODS:
        raise SystemExit(f"relaxit select: unknown --method {args.method!r}; see --list-methods")
    out = args.out or f"runs/select-{args.dataset}-{args.method}-k{args.k}-seed{args.seed}"
    metrics = train(SelectConfig(**{**values, "out": out}))
    print(f"post-hoc test accuracy {metrics['test_accuracy_top_k']:.4f}; wrote {out}/metrics.json")
    return 0
