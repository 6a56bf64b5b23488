"""``relaxit bench estimators``: bias, variance and SNR of every estimator against exact
gradients, at an equal budget of ``f`` evaluations, and along a short optimisation run.

Problems (the first batch dim holds independent replicates, one gradient estimate each):

* Tucker et al. (2017) toy ``f(b) = mean_d (b_d - t)^2``, ``t`` in {0.45, 0.499}, ``D`` in
  {1, 200}, logits 0. Exact gradient ``sigmoid'(phi) (1 - 2t) / D`` per bit (closed form).
* Categorical toy: one variable with ``K = 10`` classes, ``f(b) = sum_k b_k (k/(K-1) - 0.45)^2``,
  fixed random logits; exact gradient by enumerating the 10 classes.
* Sigmoid belief net: 8 latent bits, ``f(b) = -log p(x | b)`` with a fixed random linear
  decoder to 16 Bernoulli pixels and a fixed image ``x``; exact gradient by enumerating the 256
  configurations.

Estimators: every entry of `relaxit.estimators.registry` (by its registry name), so a registered
estimator is benchmarked without edits here.

Budget: each estimator gets the most samples whose ``f`` evaluations fit the budget, from the
evaluations per sample it declares (or, where it declares none, counted by calling it with its
minimum and one more sample), so ARM and DisARM (2 evaluations per sample) get half REINFORCE's
samples and SumAndSample one fewer (its summed category is one evaluation); ARSM's
K(K-1)/2 + 1 evaluations per sample exceed the budget, and the table says how many it used.

Multi-sample bound (estimators with ``objective = "log-mean-exp"``: VIMCO, and plain REINFORCE on
the bound): the objective is ``E[log (1/n) sum_k w(b_k)]`` with log-weights ``-f`` on the two
toys and the importance weights ``log p(x, b) - log q(b)`` of the sigmoid belief net (uniform
prior, ``q`` the distribution itself, so the weights also depend on the logits). The exact
gradient enumerates every ``n``-tuple where that is at most 2^16 values; the variance is
reported for every ``n``.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from relaxit.bench.oracle import (
    ORACLE_PHI,
    ORACLE_T,
    closed_form_variances,
    true_gradient,
    variance_with_se,
)
from relaxit.bench.report import fmt, markdown_table
from relaxit.estimators import ARM, REINFORCE, DisARM, Estimator, Exact, registry

Objective = Callable[[Tensor], Tensor]


@dataclass
class Problem:
    """``f`` over samples ``(S, R) + shape`` -> ``(S, R)`` for ``R`` replicates of ``logits``."""

    name: str
    family: str
    logits: Tensor
    f: Objective
    exact: Tensor

    def dist(self, logits: Tensor) -> torch.distributions.Distribution:
        if self.family == "bernoulli":
            return torch.distributions.Bernoulli(logits=logits, validate_args=False)
        return torch.distributions.OneHotCategorical(logits=logits, validate_args=False)


def enumerated_gradient(family: str, logits: Tensor, f: Objective) -> Tensor:
    """``d/dlogits E[f(b)]`` by summing over every configuration (float64)."""
    phi = logits.detach().double().requires_grad_()
    if family == "bernoulli":
        d = phi.numel()
        codes = torch.arange(2**d).unsqueeze(-1).bitwise_right_shift(torch.arange(d)) & 1
        b = codes.double().reshape(2**d, *phi.shape)
        logp = (b * F.logsigmoid(phi) + (1 - b) * F.logsigmoid(-phi)).flatten(1).sum(-1)
    else:
        k = phi.shape[-1]
        b = torch.eye(k, dtype=torch.float64)
        logp = torch.log_softmax(phi, -1)
    values = f(b.unsqueeze(1)).squeeze(1)
    (grad,) = torch.autograd.grad((logp.exp() * values).sum(), phi)
    return grad


def tucker(t: float, d: int) -> Problem:
    logits = torch.zeros(d, dtype=torch.float64)

    def f(b: Tensor) -> Tensor:
        return (b - t).pow(2).mean(-1)

    p = torch.sigmoid(logits)
    return Problem(f"Tucker t={t} D={d}", "bernoulli", logits, f, p * (1 - p) * (1 - 2 * t) / d)


def categorical_toy(k: int = 10) -> Problem:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(k, generator=g, dtype=torch.float64)
    c = (torch.arange(k, dtype=torch.float64) / (k - 1) - 0.45) ** 2

    def f(b: Tensor) -> Tensor:
        return b @ c.to(b.dtype)

    return Problem(
        f"categorical K={k}",
        "categorical",
        logits,
        f,
        enumerated_gradient("categorical", logits, f),
    )


def sigmoid_belief_net(n_latent: int = 8, n_pixels: int = 16) -> Problem:
    g = torch.Generator().manual_seed(2)
    w = torch.randn(n_latent, n_pixels, generator=g, dtype=torch.float64)
    c = torch.randn(n_pixels, generator=g, dtype=torch.float64)
    x = (torch.rand(n_pixels, generator=g) < 0.5).double()
    logits = torch.randn(n_latent, generator=g, dtype=torch.float64)

    def f(b: Tensor) -> Tensor:
        lin = b @ w.to(b.dtype) + c.to(b.dtype)
        return F.binary_cross_entropy_with_logits(
            lin, x.to(b.dtype).expand_as(lin), reduction="none"
        ).sum(-1)

    return Problem(
        f"sigmoid belief net {n_latent}-{n_pixels}",
        "bernoulli",
        logits,
        f,
        enumerated_gradient("bernoulli", logits, f),
    )


def problems(quick: bool) -> list[Problem]:
    if quick:
        return [tucker(0.45, 1), tucker(0.499, 3), categorical_toy(4), sigmoid_belief_net(3, 4)]
    return [
        tucker(0.45, 1),
        tucker(0.45, 200),
        tucker(0.499, 1),
        tucker(0.499, 200),
        categorical_toy(10),
        sigmoid_belief_net(),
    ]


def evaluations_per_sample(est: Estimator, problem: Problem) -> tuple[int, float, float] | None:
    """``(minimum n_samples, f evaluations per sample, fixed f evaluations per call)``: as the
    estimator declares them, or, where it declares none (``evaluations_per_sample = None``),
    counted at the minimum and one more sample (SumAndSample's summed categories are a fixed
    cost; ARSM's per-sample cost depends on the number of categories); None if the family is
    unsupported."""
    if problem.family not in est.families:
        return None
    n0 = est.min_samples
    if est.evaluations_per_sample is not None:
        return n0, est.evaluations_per_sample, 0.0
    rows = []
    for n in (n0, n0 + 1):
        count = [0]

        def counting(b: Tensor, count: list[int] = count) -> Tensor:
            count[0] += b.shape[0]
            return problem.f(b)

        logits = problem.logits.unsqueeze(0).clone().requires_grad_()
        try:
            est(counting, problem.dist(logits), n).sum().backward()
        except TypeError:
            return None
        rows.append(count[0])
    per_sample = rows[1] - rows[0]
    if per_sample == 0:  # Exact: the whole support, however many samples
        return n0, rows[0] / n0, 0.0
    return n0, per_sample, rows[0] - n0 * per_sample


def samples_for_budget(cost: tuple[int, float, float], budget: int) -> int:
    """The most samples whose ``f`` evaluations fit ``budget`` (at least the minimum)."""
    n0, per_sample, fixed = cost
    return max(n0, int((budget - fixed) // per_sample))


def gradients(
    est: Estimator,
    problem: Problem,
    n_samples: int,
    replicates: int,
    logits: Tensor | None = None,
) -> Tensor:
    """``replicates`` independent estimates, shape ``(replicates,) + logits.shape``."""
    base = problem.logits if logits is None else logits.detach()
    x = base.unsqueeze(0).repeat((replicates,) + (1,) * base.dim()).requires_grad_()
    est(problem.f, problem.dist(x), n_samples).sum().backward()
    return x.grad


Z_CAP = 1e12


def summarize(g: Tensor, exact: Tensor) -> dict[str, float | None]:
    """Relative error of the mean, max |z| of the bias over coordinates, mean per-coordinate
    variance, SNR (None for a deterministic estimator: zero variance up to rounding)."""
    r = g.shape[0]
    mean, var = g.mean(0), g.var(0)
    se = (var / r).sqrt()
    bias = mean - exact
    # Below `tol` a spread or a bias is rounding error (float64: ~1e-16 relative). A
    # deterministic estimator is unbiased at a coordinate only if its bias is rounding error;
    # otherwise its z is capped at Z_CAP (JSON has no infinity).
    tol = 1e-9 * float(exact.abs().max())
    z = torch.where(
        se > tol,
        bias.abs() / se.clamp_min(1e-300),
        torch.where(bias.abs() > tol, Z_CAP, 0.0),
    ).clamp_max(Z_CAP)
    total_var = float(var.sum())
    return {
        "bias_rel": float(bias.norm() / exact.norm().clamp_min(1e-300)),
        "bias_max_abs_z": float(z.max()),
        "variance": float(var.mean()),
        "snr": float(mean.norm()) / total_var**0.5 if total_var > tol * tol else None,
    }


def bias_flag(z: float, n_coords: int) -> bool:
    """Bias detected: max |z| over ``n_coords`` coordinates above the two-sided 1e-4
    Bonferroni level (false-alarm probability 1e-4 per row for an unbiased estimator)."""
    from statistics import NormalDist

    return z > NormalDist().inv_cdf(1 - 0.5e-4 / n_coords)


def seed_row(*names: object) -> None:
    """Seed torch from the row's names (problem, estimator, ...), so that every row of the tables
    draws the same numbers however many estimators are registered before it."""
    torch.manual_seed(zlib.crc32(repr(names).encode()))


def oracle_check(replicates: int) -> list[dict[str, Any]]:
    """Measured (library) vs closed-form variances on one bit, t=0.45, phi=1."""
    closed = closed_form_variances()
    specs = {
        "REINFORCE (1 sample)": (REINFORCE(), 1),
        "REINFORCE loo (2 samples)": (REINFORCE(baseline="loo"), 2),
        "ARM": (ARM(), 1),
        "DisARM": (DisARM(), 1),
    }
    logits = torch.full((1,), ORACLE_PHI, dtype=torch.float64)
    prob = Problem(
        "oracle",
        "bernoulli",
        logits,
        lambda b: (b - ORACLE_T).pow(2).sum(-1),
        torch.tensor([true_gradient(ORACLE_T, ORACLE_PHI)], dtype=torch.float64),
    )
    rows = []
    for name, (est, n) in specs.items():
        seed_row("oracle", name)
        var, se = variance_with_se(gradients(est, prob, n, replicates))
        rows.append(
            {
                "estimator": name,
                "closed_form": closed[name],
                "measured": var,
                "standard_error": se,
                "z": (var - closed[name]) / se,
            }
        )
    return rows


def optimisation_runs(
    problem: Problem,
    budget: int,
    steps: int,
    every: int,
    replicates: int,
    lr: float = 0.1,
) -> dict[str, dict[str, list[float]]]:
    """Adam on the logits with each estimator; every ``every`` steps the log10 of the mean
    per-coordinate gradient variance at the current logits (``replicates`` estimates).
    Estimators with trainable parameters (REBAR, RELAX) tune them on their variance surrogate
    (``loss_and_variance``) with their own Adam at the same learning rate."""
    out = {}
    for entry in registry.entries(exact=False):
        if entry.objective != "mean":  # the bound's estimators: `run_bound`
            continue
        name, est = entry.name, entry.build()
        cost = evaluations_per_sample(est, problem)
        if cost is None:
            continue
        n = samples_for_budget(cost, budget)
        torch.manual_seed(0)
        phi = problem.logits.clone().requires_grad_()
        opt = torch.optim.Adam([phi], lr=lr)
        est_params = list(est.parameters())
        est_opt = torch.optim.Adam(est_params, lr=lr) if est_params else None
        curve: dict[str, list[float]] = {"step": [], "log10_variance": []}
        for step in range(steps + 1):
            if step % every == 0:
                g = gradients(est, problem, n, replicates, logits=phi)
                curve["step"].append(step)
                curve["log10_variance"].append(math.log10(max(float(g.var(0).mean()), 1e-300)))
            if step == steps:
                break
            opt.zero_grad()
            dist = problem.dist(phi.unsqueeze(0))
            if est_opt is not None:
                loss, variance = est.loss_and_variance(problem.f, dist, n)
                loss.sum().backward(retain_graph=True, inputs=[phi])
                est_opt.zero_grad()
                variance.backward(inputs=est_params)
                est_opt.step()
            else:
                est(problem.f, dist, n).sum().backward(inputs=[phi])
            opt.step()
        out[name] = curve
    return out


def run_estimators(
    quick: bool = False,
    budget: int = 4,
    replicates: int | None = None,
    oracle_replicates: int | None = None,
    steps: int | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """The whole benchmark; returns the results dict (see `estimators_markdown`)."""
    torch.manual_seed(0)
    replicates = replicates or (200 if quick else 5000)
    oracle_replicates = oracle_replicates or (20_000 if quick else 1_000_000)
    steps = steps if steps is not None else (4 if quick else 200)
    rows = []
    t0 = time.perf_counter()
    for problem in problems(quick):
        for entry in registry.entries():
            if entry.objective != "mean":  # the bound's estimators: `run_bound`
                continue
            name, est = entry.name, entry.build()
            seed_row(problem.name, name)
            try:
                cost = evaluations_per_sample(est, problem)
                if cost is None:
                    rows.append(
                        {"problem": problem.name, "estimator": name, "exact": est.exact}
                        | {"supported": False}
                    )
                    continue
                n = samples_for_budget(cost, budget)
                g = gradients(est, problem, n, 1 if name == "Exact" else replicates)
            except ValueError as err:  # e.g. Exact on 2**200 states
                note = "support too large to enumerate" if est.exact else str(err)[:80]
                rows.append(
                    {"problem": problem.name, "estimator": name, "exact": est.exact}
                    | {"supported": False, "note": note}
                )
                continue
            stats = (
                summarize(g, problem.exact)
                if not est.exact
                else {
                    "bias_rel": float((g[0] - problem.exact).norm() / problem.exact.norm()),
                    "bias_max_abs_z": None,
                    "variance": 0.0,
                    "snr": None,
                }
            )
            z = stats["bias_max_abs_z"]
            rows.append(
                {
                    "problem": problem.name,
                    "estimator": name,
                    "exact": est.exact,
                    "supported": True,
                    "n_samples": n,
                    "f_evaluations": cost[2] + n * cost[1],
                    "bias_detected": None if z is None else bias_flag(z, problem.logits.numel()),
                    **stats,
                }
            )
        log(f"{problem.name}: done ({time.perf_counter() - t0:.1f} s)")
    bound = run_bound(quick, replicates)
    log(f"multi-sample bound: done ({time.perf_counter() - t0:.1f} s)")
    oracle = oracle_check(oracle_replicates)
    log("oracle: " + ", ".join(f"{r['estimator']} z={r['z']:.2f}" for r in oracle))
    curves = {}
    for problem in (
        tucker(0.45, 200 if not quick else 3),
        sigmoid_belief_net() if not quick else sigmoid_belief_net(3, 4),
    ):
        curves[problem.name] = optimisation_runs(
            problem, budget, steps, max(1, steps // 10), 200 if not quick else 20
        )
        log(f"optimisation run {problem.name}: done ({time.perf_counter() - t0:.1f} s)")
    return {
        "quick": quick,
        "budget_f_evaluations": budget,
        "replicates": replicates,
        "oracle_replicates": oracle_replicates,
        "optimisation_steps": steps,
        "table": rows,
        "bound": bound,
        "oracle": oracle,
        "optimisation": curves,
    }


BOUND_MAX_TUPLES = 2**16


def bound_problems(quick: bool) -> list[tuple[Problem, bool]]:
    """``(problem, log q in the weights)``: log-weights ``-f`` on the toys; on the sigmoid belief
    net the IWAE weights ``log p(x|b) + log p(b) - log q(b)``."""
    if quick:
        return [(tucker(0.45, 1), False), (categorical_toy(4), False)]
    return [(tucker(0.45, 1), False), (categorical_toy(10), False), (sigmoid_belief_net(), True)]


def _log_weights(problem: Problem, with_q: bool, logits: Tensor) -> Objective:
    """``f`` for a log-mean-exp estimator: ``b`` (S, R) + shape -> (S, R)."""
    n_vars = problem.logits.numel()

    def log_w(b: Tensor) -> Tensor:
        if not with_q:
            return -problem.f(b)
        log_q = (
            -F.binary_cross_entropy_with_logits(logits.expand_as(b), b, reduction="none")
            .flatten(2)
            .sum(-1)
        )
        return -problem.f(b) - n_vars * math.log(2.0) - log_q

    return log_w


def bound_gradient(problem: Problem, with_q: bool, n: int) -> Tensor | None:
    """Exact gradient of ``E[log mean_k w(b_k)]`` by enumerating the n-tuples (None if too
    many)."""
    support = problem.logits.shape[-1] if problem.family == "categorical" else 2
    n_vars = 1 if problem.family == "categorical" else problem.logits.numel()
    if support ** (n_vars * n) > BOUND_MAX_TUPLES:
        return None
    x = problem.logits.detach().clone().unsqueeze(0).requires_grad_()
    tuples = x.unsqueeze(1).expand((1, n, *problem.logits.shape))  # item, tuple index, vars
    log_w = _log_weights(problem, with_q, x)

    def bound(b: Tensor) -> Tensor:  # (S, 1, n) + shape -> (S, 1)
        w = log_w(b.movedim(2, 0).flatten(1, 2)).reshape(n, b.shape[0], 1)
        return torch.logsumexp(w, 0) - math.log(n)

    Exact(max_support=BOUND_MAX_TUPLES)(bound, problem.dist(tuples), 1).sum().backward()
    return x.grad[0]


def run_bound(
    quick: bool, replicates: int, sample_sizes: tuple[int, ...] = (2, 4, 8)
) -> list[dict[str, Any]]:
    """Bias and variance of every registered log-mean-exp estimator on the bound."""
    rows = []
    for problem, with_q in bound_problems(quick):
        for n in sample_sizes:
            exact = bound_gradient(problem, with_q, n)
            for entry in registry.entries():
                if entry.objective != "log-mean-exp" or not entry.supports(problem.family):
                    continue
                seed_row(problem.name, with_q, entry.name, n)
                x = problem.logits.unsqueeze(0).repeat(replicates, 1).requires_grad_()
                loss = entry.build()(_log_weights(problem, with_q, x), problem.dist(x), n)
                loss.sum().backward()
                g = x.grad
                stats = summarize(g, exact if exact is not None else g.mean(0))
                if exact is None:
                    stats["bias_rel"] = stats["bias_max_abs_z"] = None
                z = stats["bias_max_abs_z"]
                rows.append(
                    {
                        "problem": problem.name + (" (IWAE weights)" if with_q else ""),
                        "estimator": entry.name,
                        "n_samples": n,
                        "bias_detected": None
                        if z is None
                        else bias_flag(z, problem.logits.numel()),
                        **stats,
                    }
                )
    return rows


def _bound_estimators(rows: list[dict[str, Any]]) -> list[str]:
    """The estimators of the multi-sample rows, in registry order."""
    names = {r["estimator"] for r in rows}
    return [n for n in registry.names() if n in names]


def _bound_evaluations(row: dict[str, Any]) -> str:
    """Rows of ``b`` that f is evaluated on for one estimate of a multi-sample row."""
    if row["estimator"] not in registry.names():
        return "-"
    per_sample = registry.get(row["estimator"]).evaluations_per_sample
    return "-" if per_sample is None else str(per_sample * row["n_samples"])


def _e(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _snr(r: dict[str, Any]) -> str:
    return "inf (deterministic)" if r["snr"] is None and not r["exact"] else _e(r["snr"])


def estimators_markdown(data: dict[str, Any], machine: str, png: str | None) -> str:
    lines = [
        "# `relaxit bench estimators`",
        "",
        machine,
        "",
        f"Equal budget of {data['budget_f_evaluations']} evaluations of `f` per gradient "
        f"estimate; {data['replicates']} independent estimates per row. *bias* is "
        "|mean - exact| / |exact| (Monte-Carlo error included); *max |z|* the largest "
        "coordinate's bias in standard "
        "errors (flagged when above the Bonferroni two-sided 1e-4 level); *variance* the "
        "mean per-coordinate variance; *SNR* |mean| / sqrt(total variance).",
        "",
    ]
    lines += [
        "## Closed-form oracle: one bit, f(b) = (b - 0.45)^2, phi = 1",
        "",
        f"{data['oracle_replicates']} estimates each; standard error of the variance from "
        "the fourth moment.",
        "",
    ]
    lines.append(
        markdown_table(
            ["estimator", "closed form", "measured", "std. error", "z"],
            [
                [
                    r["estimator"],
                    f"{r['closed_form']:.4g}",
                    f"{r['measured']:.4g}",
                    f"{r['standard_error']:.2g}",
                    f"{r['z']:+.2f}",
                ]
                for r in data["oracle"]
            ],
        )
    )
    lines.append("")
    for problem in dict.fromkeys(r["problem"] for r in data["table"]):
        rows = []
        for r in (r for r in data["table"] if r["problem"] == problem):
            if not r["supported"]:
                rows.append([r["estimator"], "n/a", "", "", "", "", "", r.get("note", "")])
                continue
            rows.append(
                [
                    r["estimator"],
                    r["n_samples"],
                    fmt(r["f_evaluations"], 0),
                    _e(r["bias_rel"]),
                    fmt(r["bias_max_abs_z"], 1) + (" (biased)" if r["bias_detected"] else ""),
                    _e(r["variance"]),
                    _snr(r),
                    "",
                ]
            )
        lines += [
            f"## {problem}",
            "",
            markdown_table(
                ["estimator", "n_samples", "f evals", "bias", "max |z|", "variance", "SNR", "note"],
                rows,
            ),
            "",
        ]
    if data.get("bound"):
        lines += [
            "## Multi-sample bound: " + ", ".join(_bound_estimators(data["bound"])),
            "",
            "Objective E[log (1/n) sum_k w(b_k)], gradient w.r.t. the logits; *n_samples* is "
            "the size of the bound, *f evals* the rows f is evaluated on; "
            f"{data['replicates']} estimates per row. *bias* and *max |z|* against the exact "
            "gradient of the expected bound, by enumerating every n-tuple (- where there are "
            f"more than {BOUND_MAX_TUPLES}).",
            "",
            markdown_table(
                [
                    "problem",
                    "estimator",
                    "n_samples",
                    "f evals",
                    "bias",
                    "max |z|",
                    "variance",
                    "SNR",
                ],
                [
                    [
                        r["problem"],
                        r["estimator"],
                        r["n_samples"],
                        _bound_evaluations(r),
                        _e(r["bias_rel"]),
                        "-"
                        if r["bias_max_abs_z"] is None
                        else fmt(r["bias_max_abs_z"], 1)
                        + (" (biased)" if r["bias_detected"] else ""),
                        _e(r["variance"]),
                        _snr(r),
                    ]
                    for r in data["bound"]
                ],
            ),
            "",
        ]
    lines += [
        "## Log-variance along an optimisation run",
        "",
        f"Adam (lr 0.1) on the logits for {data['optimisation_steps']} steps; log10 of the "
        "mean per-coordinate gradient variance at the current logits.",
        "",
    ]
    for problem, curves in data["optimisation"].items():
        rows = [
            [name, fmt(c["log10_variance"][0]), fmt(c["log10_variance"][-1])]
            for name, c in curves.items()
        ]
        lines += [
            f"### {problem}",
            "",
            markdown_table(["estimator", "log10 variance at step 0", "at the last step"], rows),
            "",
        ]
    if png:
        lines += [f"![estimators]({png})", ""]
    return "\n".join(lines)


def plot_estimators(data: dict[str, Any], path: str) -> None:
    """Left: log10 variance per estimator and problem; right: log-variance along the runs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems_ = list(dict.fromkeys(r["problem"] for r in data["table"]))
    names = list(dict.fromkeys(r["estimator"] for r in data["table"] if not r["exact"]))
    n_runs = len(data["optimisation"])
    fig, axes = plt.subplots(1, 1 + n_runs, figsize=(6 + 5 * n_runs, 5))
    ax = axes[0]
    width = 0.8 / len(problems_)
    for i, problem in enumerate(problems_):
        vals = []
        for name in names:
            r = next(
                (r for r in data["table"] if r["problem"] == problem and r["estimator"] == name),
                None,
            )
            ok = r is not None and r["supported"] and r["snr"] is not None
            vals.append(math.log10(r["variance"]) if ok else float("nan"))
        ax.bar([j + i * width for j in range(len(names))], vals, width, label=problem)
    ax.set_xticks(
        [j + 0.4 - width / 2 for j in range(len(names))], names, rotation=60, ha="right", fontsize=8
    )
    ax.set_ylabel("log10 gradient variance (equal f budget)")
    ax.set_ylim(top=ax.get_ylim()[1] + 4)  # room above the bars for the legend
    ax.legend(fontsize=7, loc="upper right", ncol=2)
    # One colour per estimator (tab20 has enough for all of them), shared by the run panels.
    colours = {name: plt.get_cmap("tab20")(i % 20) for i, name in enumerate(names)}
    for ax, (problem, curves) in zip(axes[1:], data["optimisation"].items(), strict=True):
        for name, c in curves.items():
            ax.plot(c["step"], c["log10_variance"], label=name, color=colours.get(name))
        ax.set_title(problem, fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel("log10 gradient variance")
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.9, 1))
    fig.savefig(path, dpi=100)
    plt.close(fig)
