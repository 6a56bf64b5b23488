"""``relaxit bench vae``: every method of ``relaxit vae`` on the same architecture, budget and
seeds; a leaderboard of final test -ELBO and importance-weighted bound (mean ± std over seeds)
and wall time per step.

Settings follow the literature's MNIST models: Bernoulli latent of 200 bits with the linear
784-200-784 model (Yin & Zhou 2019, Table 2's "linear" column), categorical latent of 20
variables x 10 classes with the nonlinear encoder/decoder (Jang et al. 2017). Runs are independent
processes (``jobs`` at a time, each with one thread), built through `relaxit.vae.train`.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import statistics
import tempfile
from dataclasses import replace
from typing import Any

from relaxit.bench.report import fmt, markdown_table
from relaxit.estimators import registry
from relaxit.vae import METHODS, VAEConfig

LATENT_SETTINGS = {
    "bernoulli": {"arch": "linear", "bits": 200},
    "categorical": {"arch": "nonlinear", "n_vars": 20, "n_classes": 10},
}

REFERENCES = """\
Published MNIST test -ELBO (nats), from training runs far longer than the budget above (the
figures as cited by the project's VAE issue and README; one third-party leaderboard lists
Gumbel-Softmax's categorical figure as 101.4 rather than 101.5):

| source | model | method | test -ELBO |
|---|---|---|---|
| Jang et al. 2017, Table 1 | Bernoulli (SBN) VAE | Gumbel-Softmax | 105.0 |
| Jang et al. 2017, Table 1 | categorical 20 x 10 VAE | Gumbel-Softmax | 101.5 |
| Yin & Zhou 2019, Table 2 | linear 784-200-784, 200 bits | ARM | 107.2 |
| Yin & Zhou 2019, Table 2 | linear 784-200-784, 200 bits | REBAR | 107.7 |

Compare the ordering of methods, not the numbers: in these figures ARM edges REBAR on the linear
Bernoulli model, and Jang et al. (abstract) report Gumbel-Softmax outperforming the estimators
they compare against on generative modelling with categorical latents."""


IWAE_REFERENCES = ("reinforce",)
"""ELBO-trained methods in the multi-sample leaderboard, with the same K samples per data item:
what training the K-sample bound itself gains over training the ELBO with as many samples."""

DEFAULT_STEPS = {"digits": 2000}
"""Training steps when --steps is not given: about 130 epochs of the 1500 digits training images;
20 000 (33 epochs) on the MNIST-sized sets."""


def configurations(
    dataset: str,
    quick: bool,
    steps: int | None,
    seeds: tuple[int, ...],
    eval_samples: int | None = None,
    eval_examples: int | None = None,
    objective: str = "elbo",
    k: int = 5,
) -> list[VAEConfig]:
    """One `VAEConfig` per (method, latent it supports, seed). ``objective="elbo"``: every
    method, each on the objective it trains (the multi-sample methods on their bound with their
    default samples); ``"iwae"``: the multi-sample leaderboard, the methods that train the
    ``k``-sample bound and the ELBO-trained `IWAE_REFERENCES`, all with ``k`` samples."""
    if objective not in ("elbo", "iwae"):
        raise ValueError(f"objective must be 'elbo' or 'iwae'; got {objective!r}")
    steps = steps or (1000 if quick else DEFAULT_STEPS.get(dataset, 20_000))
    base = VAEConfig(
        dataset=dataset,
        steps=steps,
        quiet=True,
        device="cpu",
        eval_samples=eval_samples or (100 if quick else 1000),
        eval_examples=eval_examples or (300 if quick else None),
    )
    methods = list(METHODS.values())
    if objective == "iwae":
        methods = [m for m in methods if m.objective == "iwae" or m.name in IWAE_REFERENCES]
    out = []
    for method in methods:
        for latent in method.latents:
            for seed in seeds:
                out.append(
                    replace(
                        base,
                        method=method.name,
                        latent=latent,
                        seed=seed,
                        objective=method.objective,
                        n_samples=k if objective == "iwae" else None,
                        **LATENT_SETTINGS[latent],
                    )
                )
    return out


def _run_one(config: VAEConfig) -> dict[str, Any]:
    import torch

    from relaxit.vae import train

    torch.set_num_threads(1)
    key = {"method": config.method, "latent": config.latent, "seed": config.seed}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            m = train(replace(config, out=tmp))
    except (ValueError, TypeError, ImportError, AttributeError) as err:
        return {**key, "error": f"{type(err).__name__}: {str(err).splitlines()[0][:200]}"}
    return {
        **key,
        "test_neg_elbo": m["final"]["test_neg_elbo"],
        "test_neg_iw_bound": m["final"]["test_neg_iw_bound"],
        "test_neg_k_bound": m["final"]["test_neg_k_bound"],
        "k_samples": m["final"]["k_samples"],
        "objective": m["config"]["objective"],
        "eval_samples": m["final"]["eval_samples"],
        "wall_time_per_step_s": m["wall_time_per_step_s"],
        "steps": m["steps"],
    }


def run_vae(
    dataset: str = "digits",
    quick: bool = False,
    steps: int | None = None,
    seeds: tuple[int, ...] = (0, 1, 2),
    jobs: int = 1,
    only: str | None = None,
    eval_samples: int | None = None,
    eval_examples: int | None = None,
    objective: str = "elbo",
    k: int = 5,
    log=print,
) -> dict[str, Any]:
    """Train every configuration (``jobs`` processes in parallel); returns the results dict."""
    configs = configurations(
        dataset, quick, steps, seeds, eval_samples, eval_examples, objective, k
    )
    if only:  # comma-separated patterns: a method is kept if its name contains any of them
        patterns = [p for p in only.split(",") if p]
        configs = [c for c in configs if any(p in c.method for p in patterns)]
        if not configs:  # never train (and write) an empty leaderboard
            raise ValueError(f"--only {only!r} matches no method (see relaxit vae --list-methods)")
    from relaxit.vae.data import load_dataset

    load_dataset(dataset)  # a bad name or path: one error now, not one error row per run
    runs: list[dict[str, Any]] = []
    env = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        if jobs > 1:
            ctx = multiprocessing.get_context("spawn")
            with ctx.Pool(jobs) as pool:
                for r in pool.imap_unordered(_run_one, configs):
                    runs.append(r)
                    log(_line(r))
        else:
            for c in configs:
                runs.append(_run_one(c))
                log(_line(runs[-1]))
    finally:
        if env is None:
            os.environ.pop("OMP_NUM_THREADS")
        else:
            os.environ["OMP_NUM_THREADS"] = env
    c0 = configs[0] if configs else VAEConfig()
    return {
        "dataset": dataset,
        "quick": quick,
        "steps": c0.steps,
        "seeds": list(seeds),
        "batch_size": c0.batch_size,
        "lr": c0.lr,
        "eval_samples": c0.eval_samples,
        "eval_examples": c0.eval_examples,
        "latent_settings": LATENT_SETTINGS,
        "objective": objective,
        "k": k if objective == "iwae" else None,
        "jobs": jobs,
        "runs": runs,
        "leaderboard": leaderboard(runs),
    }


def _line(r: dict[str, Any]) -> str:
    head = f"{r['method']} ({r['latent']}) seed {r['seed']}: "
    if "error" in r:
        return head + r["error"]
    return (
        head + f"-ELBO {r['test_neg_elbo']:.2f}, bound {r['test_neg_iw_bound']:.2f}, "
        f"{r['wall_time_per_step_s'] * 1e3:.1f} ms/step"
    )


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


def leaderboard(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (latent, method): mean ± std over seeds, sorted by the bound within each latent."""
    rows = []
    for latent in ("bernoulli", "categorical"):
        for method in METHODS:
            rs = [r for r in runs if r["latent"] == latent and r["method"] == method]
            if not rs:
                continue
            ok = [r for r in rs if "error" not in r]
            if not ok:
                rows.append({"latent": latent, "method": method, "error": rs[0]["error"]})
                continue
            elbo, bound, wall, k_bound = (
                _mean_std([r[k] for r in ok])
                for k in (
                    "test_neg_elbo",
                    "test_neg_iw_bound",
                    "wall_time_per_step_s",
                    "test_neg_k_bound",
                )
            )
            rows.append(
                {
                    "latent": latent,
                    "method": method,
                    "seeds": len(ok),
                    "neg_elbo_mean": elbo[0],
                    "neg_elbo_std": elbo[1],
                    "bound_mean": bound[0],
                    "bound_std": bound[1],
                    "k_bound_mean": k_bound[0],
                    "k_bound_std": k_bound[1],
                    "k_samples": ok[0]["k_samples"],
                    "objective": ok[0]["objective"],
                    "ms_per_step_mean": wall[0] * 1e3,
                    "ms_per_step_std": wall[1] * 1e3,
                }
            )
    key = {"bernoulli": 0, "categorical": 1}
    return sorted(rows, key=lambda r: (key[r["latent"]], r.get("bound_mean", math.inf)))


def _uses(name: str) -> str:
    m = METHODS.get(name)
    return "" if m is None else f"{m.uses} ({m.n_samples})"


def vae_markdown(data: dict[str, Any], machine: str, png: str | None) -> str:
    if data.get("objective") == "iwae":
        return _iwae_markdown(data, machine, png)
    lines = [
        "# `relaxit bench vae`",
        "",
        machine,
        "",
        f"Dataset **{data['dataset']}**, budget **{data['steps']} steps** of batch "
        f"{data['batch_size']} (Adam, lr {data['lr']}), seeds {data['seeds']}; test -ELBO "
        f"(1 sample) and the {data['eval_samples']}-sample importance-weighted bound on "
        f"{data['eval_examples'] or 'all'} test images, mean ± std over seeds; wall time "
        f"per training step with one thread per run ({data['jobs']} runs in parallel). "
        "Bernoulli: 200 bits, linear 784-200-784 (pixels-200-pixels on digits); "
        "categorical: 20 x 10, two hidden layers of 200 each side. Methods that run the same "
        "relaxation on the same noise (on Bernoulli latents: gumbel-softmax, its estimator "
        "form gumbel-softmax-est and rebar-relaxation) give identical numbers by design.",
        "",
    ]
    for latent in ("bernoulli", "categorical"):
        rows = []
        for i, r in enumerate(x for x in data["leaderboard"] if x["latent"] == latent):
            if "error" in r:
                rows.append(["-", r["method"], "n/a", "n/a", "-", r["error"]])
                continue
            rows.append(
                [
                    i + 1,
                    r["method"],
                    f"{r['neg_elbo_mean']:.2f} ± {r['neg_elbo_std']:.2f}",
                    f"{r['bound_mean']:.2f} ± {r['bound_std']:.2f}",
                    f"{fmt(r['ms_per_step_mean'], 1)} ± {fmt(r['ms_per_step_std'], 1)}",
                    _uses(r["method"]),
                ]
            )
        if not rows:
            continue
        lines += [
            f"## {latent}",
            "",
            markdown_table(
                [
                    "rank",
                    "method",
                    "test -ELBO",
                    f"{data['eval_samples']}-sample bound",
                    "ms / step",
                    "uses (samples per data item)",
                ],
                rows,
            ),
            "",
        ]
    lines += ["## Reference points", "", REFERENCES, ""]
    if png:
        lines += [f"![leaderboard]({png})", ""]
    return "\n".join(lines)


def _iwae_markdown(data: dict[str, Any], machine: str, png: str | None) -> str:
    """The multi-sample leaderboard, ranked by the K-sample bound within each latent."""
    k = data["k"]
    bound_methods = [
        e for e in registry.entries() if e.objective == "log-mean-exp" and e.name in METHODS
    ]
    paired = [e.name for e in bound_methods if e.evaluations_per_sample == 2]
    lines = [
        f"# `relaxit bench vae --objective iwae --k {k}`",
        "",
        machine,
        "",
        f"Dataset **{data['dataset']}**, budget **{data['steps']} steps** of batch "
        f"{data['batch_size']} (Adam, lr {data['lr']}), seeds {data['seeds']}, {k} latent "
        "samples per image in training for every method"
        + (
            f" ({', '.join(paired)}: each with an antithetic partner, {2 * k} decoder passes)"
            if paired
            else ""
        )
        + f". The multi-sample methods train the {k}-sample importance-weighted bound (Burda "
        "et al. 2016) -- "
        + "; ".join(f"{e.name} (`{METHODS[e.name].uses}`, {e.paper})" for e in bound_methods)
        + f" -- and the references train the ELBO with {k} samples. Test: the {k}-sample "
        "bound, the -ELBO (1 sample per image) "
        f"and the {data['eval_samples']}-sample bound on {data['eval_examples'] or 'all'} test "
        "images, mean ± std over seeds (nats, lower is better). Architectures as in the main "
        "leaderboard.",
        "",
    ]
    for latent in ("bernoulli", "categorical"):
        rows = sorted(
            (x for x in data["leaderboard"] if x["latent"] == latent and "error" not in x),
            key=lambda r: r["k_bound_mean"],
        )
        if not rows:
            continue
        table = [
            [
                i + 1,
                r["method"],
                r["objective"],
                f"{r['k_bound_mean']:.2f} ± {r['k_bound_std']:.2f}",
                f"{r['neg_elbo_mean']:.2f} ± {r['neg_elbo_std']:.2f}",
                f"{r['bound_mean']:.2f} ± {r['bound_std']:.2f}",
                f"{fmt(r['ms_per_step_mean'], 1)} ± {fmt(r['ms_per_step_std'], 1)}",
            ]
            for i, r in enumerate(rows)
        ]
        lines += [
            f"## {latent}",
            "",
            markdown_table(
                [
                    "rank",
                    "method",
                    "trains",
                    f"{k}-sample bound",
                    "test -ELBO",
                    f"{data['eval_samples']}-sample bound",
                    "ms / step",
                ],
                table,
            ),
            "",
        ]
    if png:
        lines += [f"![leaderboard]({png})", ""]
    return "\n".join(lines)


def plot_vae(data: dict[str, Any], path: str) -> None:
    """Horizontal bars: the bound (mean ± std over seeds) per method, one panel per latent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    iwae = data.get("objective") == "iwae"  # the multi-sample leaderboard: its K-sample bound
    key, samples = ("k_bound", data["k"]) if iwae else ("bound", data["eval_samples"])
    fig, axes = plt.subplots(1, 2, figsize=(12, 6))
    for ax, latent in zip(axes, ("bernoulli", "categorical"), strict=True):
        rows = [r for r in data["leaderboard"] if r["latent"] == latent and "error" not in r]
        ax.barh(
            [r["method"] for r in rows],
            [r[f"{key}_mean"] for r in rows],
            xerr=[r[f"{key}_std"] for r in rows],
            color="tab:blue",
            alpha=0.7,
        )
        if rows:
            lo = min(r[f"{key}_mean"] - r[f"{key}_std"] for r in rows)
            hi = max(r[f"{key}_mean"] + r[f"{key}_std"] for r in rows)
            ax.set_xlim(lo - 0.05 * (hi - lo + 1), hi + 0.05 * (hi - lo + 1))
        ax.invert_yaxis()
        ax.set_xlabel(f"test {samples}-sample bound (nats, lower is better)")
        ax.set_title(f"{data['dataset']}, {latent}, {data['steps']} steps", fontsize=10)
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
