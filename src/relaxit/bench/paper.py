"""``relaxit bench paper NAME``: a preset's methods, cell by cell, next to the paper's figures.

A *cell* is one (variant, method) of a `relaxit.vae.presets.Preset`; each cell runs one training
per seed. Runs are sequential and resumable: every run checkpoints under
``OUT/paper-runs/NAME/VARIANT/METHOD/seedS/`` (`relaxit.vae.train`), and the results file
``OUT/paper-NAME.json`` (with its Markdown and PNG) is rewritten after every finished run, so a
killed benchmark loses at most the run in progress since its last checkpoint. ``--resume``
skips finished runs and continues the one in progress from its checkpoint.

Several invocations may share one results file (e.g. one per core, each with its own
``--variants``/``--methods``): every write happens under a file lock and merges what is on disk,
so no invocation drops the runs or cells of another. A cell records its own seed target
(``[variant, method, seeds]``), so cells run with different ``--seeds`` share a table.
"""

from __future__ import annotations

import fcntl
import json
import math
import pickle
import re
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch

from relaxit.bench.report import markdown_table
from relaxit.vae.config import VAEConfig
from relaxit.vae.methods import METHODS
from relaxit.vae.presets import PRESETS, Preset, parse_preset, preset_config

RUNS_DIR = "paper-runs"
RUNS_GITIGNORE = """\
# Per-run outputs of `relaxit bench paper`: only the checkpoint of a run in progress is
# committed (so that the next session can --resume it); finished runs live in paper-NAME.json.
*
!*/
!.gitignore
!checkpoint.pt
"""
"""Written to ``OUT/paper-runs/.gitignore`` where missing, so that every results directory (the
default one or an ``--out`` sweep) commits its runs in progress and nothing else."""
IGNORED = {"out", "quiet", "resume", "checkpoint_every", "device", "seed", "method", "preset"}
"""Run settings that are not part of an experiment's definition (seed and method are part of
a run's key instead); `run_paper` sets them itself, so ``--set`` may not."""
CURVE_POINTS = 200
"""Training-loss curve points kept per run in the results (a moving average, evenly spaced)."""


def git_commit() -> str | None:
    """HEAD of the git checkout holding this file (``+dirty`` when it has changes), or None."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return sha + ("+dirty" if dirty else "")


def select_cells(
    preset: Preset,
    methods: list[str] | None = None,
    variants: list[str] | None = None,
    objective: str | None = None,
) -> list[tuple[str, str]]:
    """(variant, method) pairs to run: ``methods`` defaults to the preset's, ``["all"]`` means
    every relaxit VAE method that supports the variant's latent and trains the run's objective
    (``objective``, default the preset's: VIMCO trains only the multi-sample bound), ``exact``
    aside."""
    variants = variants or list(preset.variants)
    for v in variants:
        parse_preset(f"{preset.name}:{v}")  # clear error for an unknown variant
    out = []
    for v in variants:
        settings = preset.settings(v)
        latent = settings["latent"]
        if methods == ["all"]:
            trains = objective or settings.get("objective", VAEConfig.objective)
            names = [
                n
                for n, m in METHODS.items()
                if latent in m.latents and m.objective == trains and n != "exact"
            ]
        else:
            names = list(methods or preset.methods)
        for name in names:
            if name not in METHODS:
                raise ValueError(f"unknown method {name!r}; valid methods: {', '.join(METHODS)}")
            if latent not in METHODS[name].latents:
                raise ValueError(
                    f"method {name!r} does not support the {latent} latent of {preset.name}:{v}"
                )
            out.append((v, name))
    return out


def check_cells(name: str, cells: list[tuple[str, str]], settings: dict[str, Any]) -> None:
    """Raise the `relaxit vae` error of the first cell whose run would be rejected (e.g. an
    IWAE-only method under the preset's ELBO), so `run_paper` fails before writing anything."""
    from relaxit.vae.train import resolve

    for variant, method in cells:
        resolve(preset_config(f"{name}:{variant}", method=method, **settings))


def _curve(losses: list[float], points: int = CURVE_POINTS) -> list[list[float]]:
    """(step, mean training loss over the steps since the previous point) at <= ``points``."""
    if not losses:
        return []
    width = max(1, math.ceil(len(losses) / points))
    return [
        [min(i + width, len(losses)), statistics.fmean(losses[i : i + width])]
        for i in range(0, len(losses), width)
    ]


def summarize_run(metrics: dict[str, Any], variant: str, metric: str) -> dict[str, Any]:
    """What the results file keeps of one run's metrics."""
    c = metrics["config"]
    return {
        "variant": variant,
        "method": c["method"],
        "seed": c["seed"],
        "steps": metrics["steps"],
        "value": metrics["final"][metric],
        "test_neg_elbo": metrics["final"]["test_neg_elbo"],
        "test_neg_iw_bound": metrics["final"]["test_neg_iw_bound"],
        "test_relaxed_objective": metrics["final"].get("test_relaxed_objective"),
        "eval_samples": metrics["final"]["eval_samples"],
        "eval_examples": metrics["final"]["eval_examples"],
        "selected_step": metrics.get("selected_step"),
        "resumed_from_step": metrics.get("resumed_from_step"),
        "wall_time_per_step_s": metrics["wall_time_per_step_s"],
        "hardware": metrics.get("hardware"),
        "evaluations": [
            {k: e[k] for k in ("step", "test_neg_elbo", "valid_neg_elbo") if k in e}
            for e in metrics["epochs"]
        ],
        "train_curve": _curve(metrics["train_loss_per_step"]),
        "config": c,
    }


def parse_settings(items: list[str]) -> dict[str, Any]:
    """``["binarize=dynamic", "lr=1e-3"]`` -> ``{"binarize": "dynamic", "lr": 0.001}``, each
    value converted to the type its `VAEConfig` field declares (``none`` where it allows None).

    Raises:
        ValueError: an item without ``=``, an unknown setting, or a value of the wrong type.
    """
    types = {f.name: str(f.type) for f in fields(VAEConfig)}
    out: dict[str, Any] = {}
    for item in items:
        key, eq, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not eq:
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        if key not in types:
            raise ValueError(f"--set: unknown setting {key!r}; valid: {sorted(types)}")
        if key in IGNORED:
            raise ValueError(f"--set {key}: bench paper sets it itself (for device: --device)")
        kind = types[key].split("|")[0].strip()
        if text.lower() == "none" and "None" in types[key]:
            out[key] = None
            continue
        try:
            if kind == "bool":
                if text.lower() not in ("true", "false"):
                    raise ValueError(text)
                out[key] = text.lower() == "true"
            else:
                out[key] = {"int": int, "float": float}.get(kind, str)(text)
        except ValueError:
            raise ValueError(f"--set {key}: expected {types[key]}, got {text!r}") from None
    return out


def _key(r: dict[str, Any]) -> tuple:
    return (r["variant"], r["method"], r["seed"])


def _fmt_time(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return (
        f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
        if seconds >= 3600
        else (f"{seconds // 60}m{seconds % 60:02d}s")
    )


def run_paper(
    name: str,
    methods: list[str] | None = None,
    variants: list[str] | None = None,
    steps: int | None = None,
    seeds: int = 1,
    resume: bool = False,
    out: Path = Path("benchmarks/results"),
    eval_samples: int | None = None,
    eval_examples: int | None = None,
    checkpoint_every: int = 1000,
    overrides: dict[str, Any] | None = None,
    machine: dict[str, Any] | None = None,
    device: str = "cpu",
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Run every (cell, seed) of preset ``name`` not finished yet, rewriting the results after
    each run.

    Args:
        name: the preset (`relaxit.vae.presets.PRESETS`).
        methods: method names (default: the preset's; ``["all"]``: every method that
            supports the variant's latent).
        variants: variant names (default: all the preset's).
        steps: training steps per run (default: the paper's).
        seeds: seeds per cell, ``0 .. seeds-1``.
        resume: keep the finished runs of ``out/paper-NAME.json`` and continue the run in
            progress from its checkpoint; without it an existing results file is an error.
        out: results directory; the runs checkpoint under ``out/paper-runs/NAME/``.
        eval_samples: importance samples of the final test bound (default: the paper's).
        eval_examples: test images evaluated (default: all).
        checkpoint_every: steps between checkpoints of the run in progress.
        overrides: other `VAEConfig` settings for every run (each is listed as a deviation
            where it changes a compared setting).
        machine: `relaxit.bench.report.machine_info` of this session (command, CPU, threads).
        device: where the runs train (``cpu``, ``cuda``, ``cuda:1``); each run's results record
            what every stretch of its steps ran on, a run resumed on another device included.
        log: progress lines (cell, seed, steps, ETA).

    Returns:
        The results dict written to ``paper-NAME.json``.

    Raises:
        ValueError: an unknown preset, variant or method, a cell whose settings `relaxit vae`
            rejects (e.g. an IWAE-only method under the preset's ELBO), or an existing results
            file without ``resume``; raised before anything is written.
    """
    from relaxit.vae.train import CHECKPOINT, check_device, resolve, train

    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; valid presets: {', '.join(PRESETS)}")
    preset = PRESETS[name]
    cells = select_cells(preset, methods, variants, (overrides or {}).get("objective"))
    if seeds < 1:
        raise ValueError(f"seeds must be >= 1; got {seeds}")
    if device == "auto":
        raise ValueError("device must be cpu or cuda[:i] (a results file says what ran where)")
    check_device(device)
    json_path = out / f"paper-{name}.json"
    previous: dict[str, Any] = {}
    if json_path.is_file():
        if not resume:
            raise ValueError(
                f"{json_path} exists: pass --resume to continue it, or --out elsewhere"
            )
        previous = json.loads(json_path.read_text())
    settings = {
        k: v
        for k, v in {
            "steps": steps,
            "eval_samples": eval_samples,
            "eval_examples": eval_examples,
            **(overrides or {}),
        }.items()
        if v is not None
    }
    runs = {_key(r): r for r in previous.get("runs", [])}
    data: dict[str, Any] = {
        "preset": name,
        "paper": preset.paper,
        "metric": preset.metric,
        "machine": machine or previous.get("machine"),
        "sessions": [*previous.get("sessions", []), {"commit": git_commit(), **(machine or {})}],
        "overrides": settings,
        "cells": _merge_cells(previous, [[v, m, seeds] for v, m in cells]),
        "runs": list(runs.values()),
    }

    def wanted(variant: str, method: str, seed: int) -> dict[str, Any]:
        """The resolved settings (method defaults filled in), as a run's metrics record them."""
        cfg = preset_config(f"{name}:{variant}", method=method, seed=seed, **settings)
        return resolve(cfg).to_dict()

    check_cells(name, cells, settings)
    defaults = VAEConfig().to_dict()

    def same(r: dict[str, Any], cfg: dict[str, Any]) -> bool:
        return all(r["config"].get(k, defaults[k]) == v for k, v in cfg.items() if k not in IGNORED)

    todo = []  # seed-major: every cell gets its first seed before any gets a second
    for seed in range(seeds):
        for variant, method in cells:
            done = runs.get((variant, method, seed))
            # a run that failed is tried again: the failure may have been a bug fixed since
            if done is None or "error" in done or not same(done, wanted(variant, method, seed)):
                todo.append((variant, method, seed))
    data = write_paper(out, data, preset)
    ignore = out / RUNS_DIR / ".gitignore"
    if not ignore.is_file():
        ignore.parent.mkdir(parents=True, exist_ok=True)
        ignore.write_text(RUNS_GITIGNORE)
    total_runs = len(cells) * seeds
    log(
        f"bench paper {name}: {len(cells)} cells x {seeds} seeds = {total_runs} runs, "
        f"{total_runs - len(todo)} already done"
    )
    t_bench = time.perf_counter()
    for n_done, (variant, method, seed) in enumerate(todo):
        cfg = preset_config(
            f"{name}:{variant}",
            method=method,
            seed=seed,
            quiet=True,
            device=device,
            resume=True,
            checkpoint_every=checkpoint_every,
            out=str(out / RUNS_DIR / name / variant / method / f"seed{seed}"),
            **settings,
        )
        per_step = [r["wall_time_per_step_s"] for r in data["runs"] if r["steps"]]
        left = sum(wanted(v, m, s)["steps"] or 0 for v, m, s in todo[n_done:])
        eta = f", ETA {_fmt_time(left * statistics.fmean(per_step))}" if per_step else ""
        elapsed = _fmt_time(time.perf_counter() - t_bench)
        log(
            f"[{total_runs - len(todo) + n_done + 1}/{total_runs}] {name}:{variant} {method} "
            f"seed {seed}, {cfg.steps} steps{eta} (elapsed {elapsed})"
        )
        try:
            metrics = train(cfg)
        except (ValueError, FileNotFoundError, ImportError) as err:
            log(f"  failed: {err}")
            data["runs"].append(
                {
                    "variant": variant,
                    "method": method,
                    "seed": seed,
                    "steps": 0,
                    "error": str(err).splitlines()[0][:300],
                    "config": cfg.to_dict(),
                    "wall_time_per_step_s": 0.0,
                }
            )
            data = write_paper(out, data, preset, mine=[_key(data["runs"][-1])])
            continue
        summary = summarize_run(metrics, variant, preset.metric)
        data["runs"] = [r for r in data["runs"] if _key(r) != _key(summary)] + [summary]
        ckpt = Path(cfg.out) / CHECKPOINT
        if ckpt.is_file():
            ckpt.unlink()  # the run is in the results; its checkpoint would only weigh on git
        log(
            f"  {preset.metric} {summary['value']:.2f} nats "
            f"({summary['wall_time_per_step_s'] * 1e3:.1f} ms/step)"
        )
        data = write_paper(out, data, preset, mine=[_key(summary)])
    return data


def cell_seeds(data: dict[str, Any]) -> dict[tuple[str, str], int]:
    """Each cell's seed target; files written before per-cell targets give all ``seeds``."""
    return {(c[0], c[1]): c[2] if len(c) > 2 else data.get("seeds", 1) for c in data["cells"]}


def _merge_cells(old: dict[str, Any], new: list[list[Any]]) -> list[list[Any]]:
    """``old``'s cells then ``new``'s, one entry per (variant, method) with the larger target."""
    merged = cell_seeds(old) if old.get("cells") else {}
    for v, m, n in new:
        merged[(v, m)] = max(n, merged.get((v, m), 0))
    return [[v, m, n] for (v, m), n in merged.items()]


def _published_cell(row: dict[str, Any]) -> str:
    """The published figure; "not in the paper" for a method without a row or column there,
    "not read" for one whose figure could not be read."""
    if row["paper_row"] is None:
        return "not in the paper"
    return "not read" if row["published"] is None else f"{row['published']:.1f}"


def table_rows(data: dict[str, Any], preset: Preset) -> list[dict[str, Any]]:
    """One row per cell: the published figure, ours over the finished seeds, the difference."""
    rows = []
    targets = cell_seeds(data)
    for variant, method in targets:
        rs = [
            r
            for r in data["runs"]
            if r["variant"] == variant and r["method"] == method and "error" not in r
        ]
        errors = [
            r["error"]
            for r in data["runs"]
            if r["variant"] == variant and r["method"] == method and "error" in r
        ]
        pub = preset.published(variant, method)
        values = [r.get(preset.metric, r["value"]) for r in rs]
        mean = statistics.fmean(values) if values else None
        also = {
            k: statistics.fmean([r[k] for r in rs])
            for k in ("test_neg_elbo", "test_neg_iw_bound", "test_relaxed_objective")
            if k != preset.metric and rs and all(r.get(k) is not None for r in rs)
        }
        std = statistics.stdev(values) if len(values) > 1 else (0.0 if values else None)
        rows.append(
            {
                "variant": variant,
                "method": method,
                "paper_row": pub.label if pub else None,
                "published": pub.value if pub else None,
                "source": pub.source if pub else "no published figure for this method",
                "ours_mean": mean,
                "ours_std": std,
                "seeds_done": len(values),
                "seeds_target": targets[(variant, method)],
                "steps": sorted({r["steps"] for r in rs}),
                "difference": None
                if mean is None or pub is None or pub.value is None
                else mean - pub.value,
                "error": errors[0] if errors and not rs else None,
                "also": also,
                "eval_samples": sorted({r["eval_samples"] for r in rs}),
            }
        )
    return rows


def _changed(data: dict[str, Any], preset: Preset, variant: str, method: str) -> dict[str, list]:
    """Setting -> [ours (the distinct values over the cell's runs), the paper's], for every
    setting in which a run of the cell differs from the preset's resolved configuration."""
    from relaxit.vae.train import resolve

    rs = [
        r
        for r in data["runs"]
        if r["variant"] == variant and r["method"] == method and "config" in r
    ]
    paper = resolve(preset_config(f"{preset.name}:{variant}", method=method)).to_dict()
    defaults = VAEConfig().to_dict()
    out = {}
    for key in sorted(set(paper) - IGNORED):
        ours = sorted({str(r["config"].get(key, defaults.get(key))) for r in rs})
        if rs and ours != [str(paper[key])]:
            out[key] = [ours, paper[key]]
    return out


def deviations(data: dict[str, Any], preset: Preset, row: dict[str, Any]) -> list[str]:
    """Every way the row's runs differ from the paper's settings."""
    out = [
        f"{key} {'/'.join(ours)} (paper {'all' if paper is None else paper})"
        for key, (ours, paper) in _changed(data, preset, row["variant"], row["method"]).items()
    ]
    out.append(f"{row['seeds_done']} of {row['seeds_target']} seeds (paper: {preset.paper_seeds})")
    hardware = _hardware(data, row["variant"], row["method"])
    if hardware:
        out.append(f"hardware: {hardware}")
    return out


def _hardware(data: dict[str, Any], variant: str, method: str) -> str | None:
    """What the cell's finished runs trained on: each run's stretches of steps (a run resumed
    on other hardware lists each with its steps and ms/step); runs from before the results
    recorded it, and stretches a checkpoint did not record, name the file's machine."""
    m = data.get("machine") or {}
    here = f"{m.get('cpu')}, {m.get('torch_threads')} thread(s)" if m else "not recorded"
    described: list[str] = []
    for r in data["runs"]:
        if r["variant"] != variant or r["method"] != method or "error" in r:
            continue
        segments = r.get("hardware") or [{"hardware": None}]
        if len(segments) == 1:
            text = segments[0]["hardware"] or here
        else:
            text = " then ".join(
                f"{s['hardware'] or here} (steps {s['from_step']}-{s['from_step'] + s['steps']}, "
                f"{s['train_s'] / s['steps'] * 1e3:.0f} ms/step)"
                for s in segments
            )
        if text not in described:
            described.append(text)
    if not described:
        return here if m else None
    return "; ".join(described)


def continue_command(data: dict[str, Any], preset: Preset, row: dict[str, Any]) -> str:
    """The command that finishes the row's cell with its finished runs' settings (or, before
    any has finished, the last invocation's)."""
    changed = {
        k: ours[0] for k, (ours, _) in _changed(data, preset, row["variant"], row["method"]).items()
    }
    if not row["seeds_done"]:
        changed = {k: str(v) for k, v in data.get("overrides", {}).items()}
    flags = {
        "steps": "--steps",
        "eval_samples": "--eval-samples",
        "eval_examples": "--eval-examples",
    }
    parts = [
        f"relaxit bench paper {preset.name} --variants {row['variant']} --methods {row['method']}",
        f"--seeds {row['seeds_target']}",
        *(f"{flags[k]} {v}" if k in flags else f"--set {k}={v}" for k, v in changed.items()),
        "--resume",
    ]
    return " ".join(parts)


def _ours(row: dict[str, Any]) -> str:
    n = row["seeds_done"]
    if n == 1:
        return f"{row['ours_mean']:.2f} (1 seed)"
    return f"{row['ours_mean']:.2f} ± {row['ours_std']:.2f} ({n} seeds)"


def _also(row: dict[str, Any]) -> str:
    k = "/".join(str(n) for n in row["eval_samples"]) or "?"
    names = {
        "test_neg_elbo": f"-ELBO ({k} samples)",
        "test_neg_iw_bound": f"{k}-sample bound",
        "test_relaxed_objective": "relaxed training objective",
    }
    return "; ".join(f"{names[n]} {v:.2f}" for n, v in row["also"].items()) or "-"


def checkpoint_progress(runs_dir: Path) -> dict[tuple[str, str, int], tuple[int, int | None]]:
    """``(variant, method, seed) -> (steps done, steps of the run or None)`` for every run in
    progress, read from its checkpoint ``runs_dir/VARIANT/METHOD/seedS/checkpoint.pt``."""
    from relaxit.vae.train import CHECKPOINT

    found = {}
    for path in sorted(runs_dir.glob(f"*/*/seed*/{CHECKPOINT}")):
        seed_dir = path.parent
        seed = seed_dir.name.removeprefix("seed")
        if not seed.isdigit():
            continue
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            done, steps = int(state["loop"]["step"]), state["config"].get("steps")
        except (OSError, RuntimeError, KeyError, pickle.UnpicklingError):
            continue  # an unreadable checkpoint only loses its line on the page, not the results
        found[(seed_dir.parent.parent.name, seed_dir.parent.name, int(seed))] = (done, steps)
    return found


def _in_progress(
    progress: dict[tuple[str, str, int], tuple[int, int | None]], row: dict[str, Any]
) -> str:
    """``"; seed 0 checkpointed at step 31000 of 50000"`` for the cell's runs in progress."""
    parts = [
        f"seed {seed} checkpointed at step {done}" + (f" of {steps}" if steps else "")
        for (variant, method, seed), (done, steps) in sorted(progress.items())
        if (variant, method) == (row["variant"], row["method"])
    ]
    return "".join(f"; {p}" for p in parts)


def paper_markdown(
    data: dict[str, Any],
    preset: Preset,
    png: str | None,
    progress: dict[tuple[str, str, int], tuple[int, int | None]] | None = None,
) -> str:
    """The results page: machine and commits, the side-by-side table, settings and sources.
    ``progress`` (`checkpoint_progress`) adds, for each unfinished cell, the step its runs in
    progress had reached when the page was written."""
    rows = table_rows(data, preset)
    done = sum(r["seeds_done"] for r in rows)
    total = sum(r["seeds_target"] for r in rows)
    metric_name = {
        "test_neg_elbo": "test -ELBO",
        "test_neg_iw_bound": "test importance-weighted bound",
    }[preset.metric]
    m = data.get("machine") or {}
    lines = [
        f"# `relaxit bench paper {preset.name}`",
        "",
        f"{preset.paper}: {preset.experiment}. Compared quantity: **{metric_name}** (nats, "
        "lower is better), ours as mean ± std over the seeds finished. Every bound is "
        "evaluated with exact discrete latent samples; for relaxations, 'relaxed training "
        "objective' is the training loss on the test images at the final temperature (relaxed "
        "latents in the decoder, 10 samples), which is what a relaxation's own code prints and "
        "is not a bound on the discrete model's likelihood.",
        "",
        f"**Status: {done} of {total} runs finished"
        + (" (partial: see 'Remaining' below).**" if done < total else ".**"),
        "",
    ]
    if m:
        lines += [
            f"- command: `{m.get('command')}`",
            f"- machine: {m.get('cpu')}, {m.get('cpu_count')} logical CPUs, torch threads "
            f"{m.get('torch_threads')} (OMP_NUM_THREADS={m.get('omp_num_threads_env')}); "
            f"torch {m.get('torch')}, relaxit {m.get('relaxit')}",
        ]
    for s in data.get("sessions", []):
        lines.append(
            f"- session {s.get('date_utc', '?')}: commit {s.get('commit')}, "
            f"`{s.get('command', '?')}`"
        )
    lines += [
        "",
        markdown_table(
            [
                "variant",
                "method (paper row)",
                "published",
                "ours",
                "ours - published",
                "also measured (mean over seeds)",
                "how our runs differ from the paper's",
            ],
            [
                [
                    r["variant"],
                    f"{r['method']} ({r['paper_row'] or '-'})",
                    _published_cell(r),
                    (r["error"] or "not run yet") if r["ours_mean"] is None else _ours(r),
                    "-" if r["difference"] is None else f"{r['difference']:+.2f}",
                    _also(r),
                    "; ".join(deviations(data, preset, r)),
                ]
                for r in rows
            ],
        ),
        "",
        "Sources of the published figures:",
        "",
        *(f"- {r['variant']} / {r['method']}: {r['source']}" for r in rows),
        "",
        "One run of any cell, alone: `relaxit vae --preset "
        f"{preset.name}:VARIANT --method METHOD --seed SEED` (plus the options of the "
        "deviations above, e.g. `--steps`, to repeat a run exactly).",
        "",
    ]
    remaining = [r for r in rows if r["seeds_done"] < r["seeds_target"]]
    if remaining:
        lines += [
            "## Remaining",
            "",
            "Each command continues its cell (finished runs are kept, a run in progress restarts "
            f"from its checkpoint under `{RUNS_DIR}/`); prefix it with `OMP_NUM_THREADS=1`:",
            "",
            *(
                f"- {r['variant']} / {r['method']}: {r['seeds_target'] - r['seeds_done']} "
                f"seed(s){_in_progress(progress or {}, r)}: `{continue_command(data, preset, r)}`"
                for r in remaining
            ),
            "",
        ]
    lines += ["## Settings and where they come from", ""]
    settings = preset.settings()
    lines.append(
        markdown_table(
            ["setting", "value", "source"],
            [[k, f"`{v}`", preset.sources.get(k, "-")] for k, v in sorted(settings.items())],
        )
    )
    lines += ["", "Variants:", ""]
    lines += [f"- `{v.name}`: {v.description}, `{v.settings}`" for v in preset.variants.values()]
    if preset.method_settings:
        lines += ["", f"Per-method settings: `{preset.method_settings}`"]
    if preset.notes:
        lines += ["", "## Known differences from the paper", ""]
        lines += [f"- {n}" for n in preset.notes]
    if png:
        lines += ["", f"![training curves]({png})"]
    return "\n".join(lines) + "\n"


def summary_markdown(results: Path, link: str | None) -> str:
    """One table per ``paper-NAME.json`` in ``results`` (for the README and the docs): per
    cell the published figure, ours, the difference and how our runs differ (settings only;
    seeds and hardware are on each preset's page, linked as ``{link}paper-NAME.md``, or named
    in code when ``link`` is None)."""
    out = []
    for preset in PRESETS.values():
        path = results / f"paper-{preset.name}.json"
        if not path.is_file():
            continue
        data = json.loads(path.read_text())
        cite = re.match(r".*?\d{4}", preset.paper).group(0)  # authors and year
        all_rows = table_rows(data, preset)
        rows = [r for r in all_rows if r["seeds_done"]]
        done = sum(r["seeds_done"] for r in all_rows)
        total = sum(r["seeds_target"] for r in all_rows)
        metric = {"test_neg_elbo": "test -ELBO", "test_neg_iw_bound": "test bound"}
        out += [
            (
                f"**[`{preset.name}`]({link}{path.stem}.md)**"
                if link is not None
                else f"**`{preset.name}`** (`benchmarks/results/{path.stem}.md`)"
            )
            + f" ({cite}; "
            f"{metric[preset.metric]}, nats; {done} of {total} runs finished)",
            "",
            markdown_table(
                [
                    "variant",
                    "method (paper's row)",
                    "published",
                    "ours",
                    "ours - published",
                    "how ours differs",
                ],
                [
                    [
                        r["variant"],
                        f"{r['method']} ({r['paper_row'] or '-'})",
                        _published_cell(r),
                        _ours(r),
                        "-" if r["difference"] is None else f"{r['difference']:+.2f}",
                        "; ".join(
                            d
                            for d in deviations(data, preset, r)
                            if " seeds (paper" not in d and not d.startswith("hardware")
                        )
                        or "-",
                    ]
                    for r in rows
                ],
            ),
            "",
        ]
    return "\n".join(out)


METRIC_NAMES = {
    "test_neg_iw_bound": "test importance-weighted bound",
    "test_neg_elbo": "test -ELBO",
}
"""How the figure's legend names a preset's compared quantity."""


def _method_styles(methods: list[str]) -> dict[str, tuple[Any, str]]:
    """A distinct (colour, line style) per method: tab20's dark shades, then its light ones,
    then the same with dashed and dotted lines (a 10-colour cycle repeats after 10 methods)."""
    import matplotlib

    cmap = matplotlib.colormaps["tab20"]
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return {
        m: (cmap(order[i % 20]), ("-", "--", ":")[(i // 20) % 3]) for i, m in enumerate(methods)
    }


def plot_paper(data: dict[str, Any], preset: Preset, path: Path) -> None:
    """Training curves of every run on one figure (one panel per variant): the moving-average
    training loss (thin line) and the evaluations of the test -ELBO (dots), one colour per
    method and every seed in it; ours on the compared quantity (diamond) and the published
    figure (star) at the last step. One legend, shared by the panels."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    cells = list(cell_seeds(data))
    variants = list(dict.fromkeys(v for v, _ in cells))
    ran = {r["method"] for r in data["runs"] if "error" not in r}
    methods = list(dict.fromkeys(m for _, m in cells))
    # the methods with runs first, so that they get the most distinct colours
    styles = _method_styles(sorted(methods, key=lambda m: m not in ran))
    fig, axes = plt.subplots(1, len(variants), figsize=(6 * len(variants), 5), squeeze=False)
    for ax, variant in zip(axes[0], variants, strict=True):
        lo = math.inf
        for r in data["runs"]:
            if r["variant"] != variant or "error" in r:
                continue
            color, ls = styles.get(r["method"], ("k", "-"))
            if r["train_curve"]:
                ax.plot(*zip(*r["train_curve"], strict=True), color=color, ls=ls, alpha=0.4, lw=1)
            ev = [(e["step"], e["test_neg_elbo"]) for e in r["evaluations"]]
            if ev:
                ax.plot(*zip(*ev, strict=True), marker="o", ms=2, color=color, ls=ls, lw=1.2)
                lo = min(lo, min(v for _, v in ev))
            ax.plot([r["steps"]], [r["value"]], "D", ms=5, color=color, mec="k", mew=0.5)
            lo = min(lo, r["value"])
        for _, method in (c for c in cells if c[0] == variant):
            pub = preset.published(variant, method)
            if pub and pub.value is not None:
                step = preset.settings(variant, method)["steps"]
                ax.plot([step], [pub.value], "*", ms=13, color=styles[method][0], mec="k", mew=0.5)
                lo = min(lo, pub.value)
        if math.isfinite(lo):
            ax.set_ylim(lo - 5, lo + 60)
        ax.set_xscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("nats, lower is better")
        ax.set_title(f"{preset.name}:{variant}", fontsize=10)
    metric = METRIC_NAMES.get(preset.metric, preset.metric)
    keys = [
        Line2D([], [], color="0.4", lw=1, alpha=0.5, label="training loss (moving average)"),
        Line2D([], [], color="0.4", marker="o", ms=3, label="test -ELBO"),
        Line2D([], [], color="0.4", ls="", marker="D", mec="k", label=f"ours, final {metric}"),
        Line2D([], [], color="0.4", ls="", marker="*", ms=11, mec="k", label="published"),
    ]
    handles = keys + [
        Line2D([], [], color=styles[m][0], ls=styles[m][1], lw=2, label=m)
        for m in methods
        if m in ran
    ]
    fig.legend(
        handles=handles,
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=7,
        ncol=1 if len(handles) <= 30 else 2,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)


def write_paper(
    out: Path, data: dict[str, Any], preset: Preset, mine: list[tuple] = ()
) -> dict[str, Any]:
    """Write ``paper-NAME.{json,md,png}`` into ``out``, merged with what another invocation
    wrote there since ``data`` was read: its runs, cells and sessions are kept, and ours win
    only for the runs in ``mine`` (those this call has just finished). Holds a lock on
    ``paper-NAME.lock`` while reading and writing. Returns the merged data."""
    out.mkdir(parents=True, exist_ok=True)
    stem = f"paper-{preset.name}"
    paths = [out / f"{stem}.json", out / f"{stem}.md", out / f"{stem}.png"]
    # files written before per-cell seed targets list [variant, method] and one "seeds"
    data = {**data, "cells": [[v, m, n] for (v, m), n in cell_seeds(data).items()]}
    data.pop("seeds", None)
    with open(out / f"{stem}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if paths[0].is_file():
            disk = json.loads(paths[0].read_text())
            runs = {_key(r): r for r in data["runs"]}
            runs.update({_key(r): r for r in disk["runs"]})
            runs.update({k: r for k, r in ((_key(r), r) for r in data["runs"]) if k in mine})
            sessions = disk.get("sessions", [])
            data = {
                **data,
                "cells": _merge_cells(disk, data["cells"]),
                "runs": list(runs.values()),
                "sessions": sessions + [s for s in data["sessions"] if s not in sessions],
            }
        rank = {v: i for i, v in enumerate(preset.variants)} | {m: i for i, m in enumerate(METHODS)}
        data["cells"].sort(key=lambda c: (rank.get(c[0], 0), rank.get(c[1], 0)))
        tmp = paths[0].with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(paths[0])
        progress = checkpoint_progress(out / RUNS_DIR / preset.name)
        paths[1].write_text(paper_markdown(data, preset, paths[2].name, progress))
        plot_paper(data, preset, paths[2])
    return data
