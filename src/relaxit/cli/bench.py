"""``relaxit bench``: the speed, estimator and VAE benchmarks (`relaxit.bench`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from relaxit.cli._checks import check_out_dir, fail, int_at_least

DEFAULT_OUT = "benchmarks/results"


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "bench",
        help="benchmarks: speed, estimators, vae",
        description="Benchmarks whose results (JSON + Markdown, PNG where a chart helps) are "
        "written to --out with the machine, the versions and the exact command.",
    )
    sub = parser.add_subparsers(dest="bench_command", metavar="BENCHMARK")
    parser.set_defaults(func=lambda args: (parser.print_help(), 0)[1])

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--quick", action="store_true", help="tiny sizes / few repeats (tests)")
        p.add_argument("--out", default=DEFAULT_OUT, help=f"output dir (default {DEFAULT_OUT})")

    speed = sub.add_parser(
        "speed",
        help="rsample (+ backward) time as ratios to floors and PyTorch/Pyro built-ins",
        description="Time every relaxit distribution's rsample, forward and forward+backward, "
        "interleaved with its plain-tensor floor and PyTorch's/Pyro's built-ins, at 1 thread "
        "and all threads; report ratios (never lone times) and the torch.compile gain.",
    )
    common(speed)
    speed.add_argument(
        "--threads", default=None, help="comma-separated thread counts (default: 1 and all)"
    )
    speed.add_argument(
        "--only",
        default=None,
        help="only cases whose name contains PATTERN (comma-separated: any of them)",
    )
    speed.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant")
    speed.add_argument(
        "--rounds", type=int_at_least(1), default=None, help="interleaved rounds (default 3)"
    )
    speed.add_argument(
        "--changes",
        default="benchmarks/speed-changes.md",
        help="Markdown of before/after speed changes to include (if the file exists)",
    )
    speed.set_defaults(func=run_speed)

    est = sub.add_parser(
        "estimators",
        help="bias / variance / SNR of every estimator against exact gradients",
        description="Bias against exact gradients, variance and SNR at an equal budget of f "
        "evaluations on the Tucker toy, a categorical toy and a small sigmoid belief net; "
        "log-variance along a short optimisation run; the closed-form one-bit oracle check.",
    )
    common(est)
    est.add_argument("--budget", type=int_at_least(1), default=4, help="f evaluations per estimate")
    est.add_argument(
        "--replicates", type=int_at_least(2), default=None, help="estimates per table row"
    )
    est.add_argument("--steps", type=int_at_least(1), default=None, help="optimisation steps")
    est.set_defaults(func=run_estimators)

    vae = sub.add_parser(
        "vae",
        help="VAE leaderboard: every `relaxit vae` method, same architecture/budget, 3 seeds",
        description="Train every method of `relaxit vae --list-methods` on the same "
        "architecture, budget and seeds; table of test -ELBO and importance-weighted bound "
        "(mean ± std over seeds), wall time per step, and a PNG chart.",
    )
    common(vae)
    vae.add_argument("--dataset", default="digits", help="digits, mnist, ... (as relaxit vae)")
    vae.add_argument(
        "--steps",
        type=int_at_least(1),
        default=None,
        help="training steps per run (digits 2000, else 20000)",
    )
    vae.add_argument("--seeds", type=int_at_least(1), default=3, help="number of seeds (0..N-1)")
    vae.add_argument(
        "--jobs", type=int_at_least(1), default=1, help="runs in parallel (1 thread each)"
    )
    vae.add_argument(
        "--only",
        default=None,
        help="only methods whose name contains PATTERN (several: comma-separated, any of them)",
    )
    vae.add_argument(
        "--eval-samples",
        type=int_at_least(1),
        default=None,
        help="importance samples (default 1000)",
    )
    vae.add_argument(
        "--eval-examples",
        type=int_at_least(1),
        default=None,
        help="test images evaluated (default all)",
    )
    vae.add_argument(
        "--objective",
        choices=("elbo", "iwae"),
        default="elbo",
        help="iwae: the multi-sample leaderboard (methods training the K-sample bound, and "
        "ELBO references with K samples)",
    )
    vae.add_argument(
        "--k", type=int_at_least(2), default=5, help="samples per image for --objective iwae"
    )
    vae.set_defaults(func=run_vae)

    paper = sub.add_parser(
        "paper",
        help="a paper's VAE table side by side with ours (`relaxit vae --preset`)",
        description="Run a preset's methods cell by cell (variant x method x seed), resumably, "
        "and write paper-NAME.{md,json,png}: published figure, ours (mean ± std over seeds), "
        "the difference and every deviation from the paper's settings, with training curves.",
    )
    paper.add_argument("name", help="preset name (see `relaxit vae --list-presets`)")
    paper.add_argument(
        "--methods", default=None, help="comma-separated methods (default: the preset's; 'all')"
    )
    paper.add_argument(
        "--variants", default=None, help="comma-separated variants (default: all the preset's)"
    )
    paper.add_argument(
        "--steps", type=int_at_least(1), default=None, help="steps per run (default: paper's)"
    )
    paper.add_argument("--seeds", type=int_at_least(1), default=1, help="seeds per cell (0..S-1)")
    paper.add_argument(
        "--resume", action="store_true", help="keep finished runs, continue from checkpoints"
    )
    paper.add_argument(
        "--eval-samples", type=int_at_least(1), default=None, help="importance samples"
    )
    paper.add_argument(
        "--eval-examples", type=int_at_least(1), default=None, help="test images evaluated"
    )
    paper.add_argument(
        "--checkpoint-every",
        type=int_at_least(0),
        default=1000,
        help="steps between checkpoints (0: none)",
    )
    paper.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any other `relaxit vae` setting for every run, e.g. binarize=dynamic (repeatable; "
        "listed as a deviation where it differs from the paper's)",
    )
    paper.add_argument(
        "--device",
        default="cpu",
        help="where the runs train: cpu (default), cuda or cuda:I; each run records what every "
        "stretch of its steps ran on",
    )
    paper.add_argument("--out", default=DEFAULT_OUT, help=f"output dir (default {DEFAULT_OUT})")
    paper.set_defaults(func=run_paper)
    return parser


def _machine(argv: list[str] | None = None):
    from relaxit.bench.report import machine_info, machine_markdown

    info = machine_info(argv)
    return info, machine_markdown(info)


def _done(paths: list[Path]) -> int:
    for p in paths:
        print(f"wrote {p}")
    return 0


def run_speed(args: argparse.Namespace) -> int:
    import torch

    from relaxit.bench.report import write_results
    from relaxit.bench.speed import run_speed as bench
    from relaxit.bench.speed import speed_markdown

    try:
        threads = (
            [torch.get_num_threads() if t == "all" else int(t) for t in args.threads.split(",")]
            if args.threads
            else None
        )
        if threads is not None and min(threads) < 1:
            raise ValueError
    except ValueError:
        message = f"--threads {args.threads!r}: comma-separated integers >= 1 or 'all'"
        return fail("bench speed", ValueError(message))
    try:
        check_out_dir(Path(args.out))
        info, machine = _machine()
        data = bench(
            quick=args.quick,
            threads=threads,
            only=args.only,
            compile=not args.no_compile,
            rounds=args.rounds,
        )
    except ValueError as err:
        return fail("bench speed", err)
    changes = Path(args.changes)
    text = changes.read_text() if changes.is_file() else None
    md = speed_markdown(data, machine, text)
    print(md)
    return _done(write_results(Path(args.out), "speed", {"machine": info, **data}, md))


def run_estimators(args: argparse.Namespace) -> int:
    from relaxit.bench.estimators import estimators_markdown, plot_estimators
    from relaxit.bench.estimators import run_estimators as bench
    from relaxit.bench.report import write_results

    out = Path(args.out)
    try:
        check_out_dir(out)
    except ValueError as err:
        return fail("bench estimators", err)
    info, machine = _machine()
    data = bench(quick=args.quick, budget=args.budget, replicates=args.replicates, steps=args.steps)
    out.mkdir(parents=True, exist_ok=True)
    plot_estimators(data, str(out / "estimators.png"))
    md = estimators_markdown(data, machine, "estimators.png")
    print(md)
    return _done(
        [*write_results(out, "estimators", {"machine": info, **data}, md), out / "estimators.png"]
    )


def run_vae(args: argparse.Namespace) -> int:
    from relaxit.bench.report import write_results
    from relaxit.bench.vae import plot_vae, vae_markdown
    from relaxit.bench.vae import run_vae as bench

    info, machine = _machine()
    try:
        check_out_dir(Path(args.out))
        data = bench(
            dataset=args.dataset,
            quick=args.quick,
            steps=args.steps,
            seeds=tuple(range(args.seeds)),
            jobs=args.jobs,
            only=args.only,
            eval_samples=args.eval_samples,
            eval_examples=args.eval_examples,
            objective=args.objective,
            k=args.k,
        )
    except (ValueError, FileNotFoundError) as err:
        return fail("bench vae", err)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"vae-{args.dataset.split(':')[0]}" + ("-iwae" if args.objective == "iwae" else "")
    plot_vae(data, str(out / f"{stem}.png"))
    md = vae_markdown(data, machine, f"{stem}.png")
    print(md)
    return _done([*write_results(out, stem, {"machine": info, **data}, md), out / f"{stem}.png"])


def run_paper(args: argparse.Namespace) -> int:
    from relaxit.bench.paper import parse_settings
    from relaxit.bench.paper import run_paper as bench

    info, _ = _machine()
    split = lambda v: None if v is None else [x.strip() for x in v.split(",") if x.strip()]  # noqa: E731
    try:
        check_out_dir(Path(args.out))
        overrides = parse_settings(args.set)
        data = bench(
            args.name,
            methods=split(args.methods),
            variants=split(args.variants),
            steps=args.steps,
            seeds=args.seeds,
            resume=args.resume,
            out=Path(args.out),
            eval_samples=args.eval_samples,
            eval_examples=args.eval_examples,
            checkpoint_every=args.checkpoint_every,
            overrides=overrides,
            machine=info,
            device=args.device,
        )
    except (ValueError, FileNotFoundError) as err:
        return fail("bench paper", err)
    stem = Path(args.out) / f"paper-{data['preset']}"
    return _done([stem.with_suffix(ext) for ext in (".md", ".json", ".png")])
