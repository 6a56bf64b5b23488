"""``relaxit bench speed``: sampling with gradients, as ratios to floors and built-ins.

This module runs the cases of `relaxit.bench.speed_cases` with the engine of
`relaxit.bench.timing` and writes the report. Every distribution class of
`relaxit.distributions` that has ``rsample`` is timed at the issue's
standard sizes, forward (``rsample`` on parameters that require grad) and forward + backward
(``rsample(...).backward(G)`` with a fixed upstream gradient ``G``), next to

* its floor (`relaxit.bench.floors`: the formula as plain tensor code, same parameters),
* PyTorch's built-in for the same method where one exists (``RelaxedBernoulli``,
  ``RelaxedOneHotCategorical``, ``F.gumbel_softmax`` soft and ``hard=True``,
  ``MultivariateNormal``), and Pyro's (``RelaxedBernoulliStraightThrough``,
  ``RelaxedOneHotCategoricalStraightThrough``, ``OMTMultivariateNormal``,
  ``AVFMultivariateNormal``),
* the class's own ``rsample`` under ``torch.compile`` (skippable with ``compile=False``; a
  compile failure is reported as such).

Each timed call builds the distribution from its parameters (as a training step does) with
``validate_args=False``. Candidates of a case are interleaved: each round times every candidate
once with ``torch.utils.benchmark.Timer.blocked_autorange`` (its median over blocks), and a
ratio is the median over rounds of the per-round ratio, so that slow drifts of a shared machine
cancel. Every registered estimator (`relaxit.estimators.registry`) is timed as
``est(f, dist, n)`` + backward at VAE-sized batches, as a ratio to ``REINFORCE()`` with the same
``n``.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable
from typing import Any

import torch

from relaxit.bench.report import fmt, markdown_table
from relaxit.bench.speed_cases import TARGETS, all_cases, estimator_cases
from relaxit.bench.timing import compiled_candidate, time_case


def run_speed(
    quick: bool = False,
    threads: list[int] | None = None,
    only: str | None = None,
    compile: bool = True,
    rounds: int | None = None,
    min_run_time: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time every case at each thread count; returns the results dict (see `speed_markdown`).

    ``Distribution``'s default ``validate_args`` is restored at the end: torch 2.13's
    ``torch.compile`` replays a compiled ``Dist(..., validate_args=False)`` as a write to the
    class default, which switched validation off for the rest of the process.
    """
    default_validation = torch.distributions.Distribution._validate_args
    try:
        return _run_speed(quick, threads, only, compile, rounds, min_run_time, log)
    finally:
        torch.distributions.Distribution.set_default_validate_args(default_validation)


def _run_speed(quick, threads, only, compile, rounds, min_run_time, log) -> dict[str, Any]:
    threads = threads or sorted({1, torch.get_num_threads()})
    rounds = rounds or (1 if quick else 3)
    min_run_time = min_run_time or (0.01 if quick else 0.1)
    cases = all_cases(quick)
    cases += estimator_cases(quick)
    if only:
        patterns = [p.strip().lower() for p in only.split(",") if p.strip()]
        matched = [
            c for c in cases if any(fnmatch.fnmatch(c.name.lower(), f"*{p}*") for p in patterns)
        ]
        if not matched:  # never time (and write) an empty run over the committed results
            names = ", ".join(sorted({c.name.split("/")[0] for c in cases}))
            raise ValueError(f"--only {only!r} matches no case; the cases are: {names}")
        cases = matched
    compiled: dict[str, dict[str, Any]] = {}
    results = []
    for case in cases:
        compile_fn = None
        if compile and "relaxit" in case.candidates:
            compile_fn, err, seconds = compiled_candidate(case.candidates["relaxit"])
            compiled[case.name] = {"ok": err is None, "error": err, "compile_s": seconds}
        for n in threads:
            t0 = time.perf_counter()
            res = time_case(case, n, rounds, min_run_time, compile_fn)
            results.append(res)
            fb = res["forward+backward"]["ratio_to_floor"].get(
                "relaxit", res["forward+backward"]["ratio_to_floor"].get(case.floor)
            )
            log(
                f"{case.name:60s} threads={n}: rsample+backward / {case.floor} = "
                f"{fb if fb is None else round(fb, 2)}  ({time.perf_counter() - t0:.1f} s)"
            )
    return {
        "quick": quick,
        "threads": threads,
        "rounds": rounds,
        "min_run_time_s": min_run_time,
        "targets": TARGETS,
        "results": results,
        "compile": compiled,
    }


def _mib(n: int | None) -> str:
    return "-" if n is None else f"{n / 2**20:.1f}"


def _r(res: dict[str, Any], mode: str, key: str, name: str) -> float | None:
    return res.get(mode, {}).get(key, {}).get(name)


def speed_markdown(data: dict[str, Any], machine: str, changes: str | None = None) -> str:
    """The results Markdown: one table per thread count, top-k linearity, estimators, compile."""
    fb = "forward+backward"
    lines = [
        "# `relaxit bench speed`",
        "",
        machine,
        "",
        "Ratios are medians over interleaved rounds of per-round time ratios "
        f"({data['rounds']} rounds, `blocked_autorange(min_run_time={data['min_run_time_s']})`"
        "); the floor is the formula as plain tensor code (`relaxit.bench.floors`). "
        "*vs built-in* is relaxit's time / the built-in's time (< 1: relaxit faster). "
        "*compiled gain* is eager time / `torch.compile`d time of the same rsample "
        "(+ backward). Targets (rsample + backward vs floor): soft and Gumbel-Softmax-type "
        "1.3x, straight-through 1.3x, top-k 1 + K times the categorical floor, correlated 2x, "
        "everything 3x; structured classes (KSubset, PlackettLuce, neural_sort, "
        "gumbel_sinkhorn) have no target: their ratio to the categorical floor at the same size "
        "says what one structured sample costs in Gumbel-Softmax samples.",
        "",
    ]
    results = [r for r in data["results"] if r["kind"] != "estimator"]
    for n in data["threads"]:
        rows = []
        for r in (r for r in results if r["threads"] == n):
            ratio = _r(r, fb, "ratio_to_floor", "relaxit")
            target = r["target"]
            met = (
                "-" if ratio is None or target is None else ("yes" if ratio <= target else "**no**")
            )
            if r.get("reference"):
                met = f"(reference: {ratio:.2f}x)" if ratio is not None else "-"
            builtins = "; ".join(
                f"{k}: {v:.2f}"
                for k, v in r.get(fb, {}).get("ratio_to_relaxit", {}).items()
                if k not in (r["floor"], "relaxit (compiled)")
            )
            gain = _r(r, fb, "ratio_to_relaxit", "relaxit (compiled)")
            if r["case"] in data["compile"] and not data["compile"][r["case"]]["ok"]:
                gain_s = "compile failed"
            else:
                gain_s = "-" if gain is None else f"{gain:.2f}x"
            rows.append(
                [
                    r["case"],
                    "-" if target is None else f"{target:g}x",
                    fmt(_r(r, "forward", "ratio_to_floor", "relaxit")),
                    fmt(ratio),
                    met,
                    builtins or "-",
                    gain_s,
                ]
            )
        lines += [
            f"## {n} thread{'s' if n > 1 else ''}",
            "",
            markdown_table(
                [
                    "case",
                    "target",
                    "rsample / floor",
                    "rsample+backward / floor",
                    "target met",
                    "vs built-in (rsample+backward)",
                    "compiled gain",
                ],
                rows,
            ),
            "",
        ]
    topk = [r for r in results if r["class"] == "GumbelSoftmaxTopK"]
    if topk:
        lines += [
            "## Gumbel top-k: linear in K",
            "",
            "rsample+backward time relative to the categorical (Gumbel-Softmax) floor, "
            "by K: linear in K means the ratio grows by a constant per K.",
            "",
        ]
        rows = [
            [
                r["threads"],
                r["K"],
                fmt(_r(r, fb, "ratio_to_floor", "relaxit")),
                f"{1 + r['K']:g}x",
                _mib(r.get("saved_bytes")),
                _mib(r.get("saved_bytes_step_by_step")),
            ]
            for r in topk
        ]
        lines += [
            "Saved for backward: bytes of the tensors autograd keeps between rsample and "
            "backward (`saved_tensor_bytes`), relaxit's fused step against the step-by-step "
            "autograd graph of the same relaxation.",
            "",
            markdown_table(
                [
                    "threads",
                    "K",
                    "rsample+backward / categorical floor",
                    "target",
                    "saved for backward (MiB)",
                    "step-by-step autograd (MiB)",
                ],
                rows,
            ),
            "",
        ]
    est = [r for r in data["results"] if r["kind"] == "estimator"]
    lines += ["## Estimators (est(f, dist, n) + backward, ratio to REINFORCE)", ""]
    for r in est:
        rows = [[k, fmt(v)] for k, v in r[fb]["ratio_to_floor"].items()]
        lines += [
            f"### {r['case']}, {r['threads']} thread(s)",
            "",
            markdown_table(["estimator", "time / REINFORCE"], rows),
            "",
        ]
    failed = {k: v for k, v in data["compile"].items() if not v["ok"]}
    if failed:
        lines += ["## torch.compile failures", ""]
        lines += [f"- {k}: `{v['error']}`" for k, v in failed.items()]
        lines.append("")
    errors = [(r["case"], r["threads"], r["errors"]) for r in data["results"] if r.get("errors")]
    if errors:
        lines += ["## Candidates that raised", ""]
        lines += [f"- {c} ({n} threads): {e}" for c, n, e in errors]
        lines.append("")
    if changes:
        lines += ["## Changes made for speed (before/after)", "", changes.strip(), ""]
    return "\n".join(lines)
