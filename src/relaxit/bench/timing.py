"""The timing engine of ``relaxit bench speed``: interleaved ``blocked_autorange`` medians.

Candidates of a case are interleaved: each round times every candidate once with
``torch.utils.benchmark.Timer.blocked_autorange`` (its median over blocks), and a ratio is the
median over rounds of the per-round ratio, so that slow drifts of a shared machine cancel.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.benchmark import Timer

from relaxit.bench.speed_cases import Case, Fn


def _timer(fn: Callable[[], Any], threads: int) -> Timer:
    return Timer(stmt="fn()", globals={"fn": fn}, num_threads=threads)


def _with_backward(fn: Fn, leaves: list[torch.Tensor]) -> Callable[[], None]:
    out = fn()
    grad = torch.randn_like(out)

    def run() -> None:
        y = fn()
        if y.dim() == 0 or y.shape != grad.shape:  # estimators: a loss per item
            y.sum().backward()
        else:
            y.backward(grad)
        for leaf in leaves:
            leaf.grad = None

    return run


def compiled_candidate(fn: Fn) -> tuple[Fn | None, str | None, float]:
    t0 = time.perf_counter()
    try:
        compiled = torch.compile(fn, dynamic=False)
        compiled()
        compiled().sum().backward()
    except Exception as err:  # a compile failure is a result, not a crash
        return None, f"{type(err).__name__}: {str(err).splitlines()[0][:200]}", 0.0
    return compiled, None, time.perf_counter() - t0


def time_case(
    case: Case, threads: int, rounds: int, min_run_time: float, compile_fn: Fn | None
) -> dict[str, Any]:
    """Interleaved medians for every candidate, forward and forward + backward."""
    result: dict[str, Any] = {
        "case": case.name,
        "class": case.cls,
        "kind": case.kind,
        "size": case.size,
        "threads": threads,
        "floor": case.floor,
        "target": case.target,
        **case.extra,
    }
    cands = dict(case.candidates)
    if compile_fn is not None:
        cands["relaxit (compiled)"] = compile_fn
    errors = {}
    for mode in ("forward", "forward+backward"):
        timers = {}
        for name, fn in cands.items():
            try:
                run = _with_backward(fn, case.leaves) if mode != "forward" else fn
                run()
            except Exception as err:
                errors[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"
                continue
            timers[name] = _timer(run, threads)
        samples: dict[str, list[float]] = {name: [] for name in timers}
        names = list(timers)
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate the order
                samples[name].append(
                    timers[name].blocked_autorange(min_run_time=min_run_time).median
                )
        ref = case.floor
        result[mode] = {
            "median_s": {n: statistics.median(v) for n, v in samples.items()},
            "ratio_to_floor": {
                n: statistics.median(a / b for a, b in zip(v, samples[ref], strict=True))
                for n, v in samples.items()
            }
            if ref in samples
            else {},
            "ratio_to_relaxit": {
                n: statistics.median(a / b for a, b in zip(samples["relaxit"], v, strict=True))
                for n, v in samples.items()
                if n != "relaxit"
            }
            if "relaxit" in samples
            else {},
        }
    if errors:
        result["errors"] = errors
    return result
