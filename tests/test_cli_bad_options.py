"""Every CLI option with a bad value: a nonzero exit with a one-line message, before any
training or benchmarking starts, and nothing written (issue 17)."""

from __future__ import annotations

import os

import pytest
import torch

from relaxit.cli import main

VAE = ["vae", "--dataset", "digits", "--steps", "1"]
CASES = [
    # relaxit vae: argparse types, then VAEConfig checks, then device and output dir
    ([*VAE, "--steps", "abc"], "invalid int value"),
    ([*VAE, "--lr", "inf"], "must be finite"),
    ([*VAE, "--lr", "nan"], "must be finite"),
    ([*VAE, "--tau0", "0"], "tau0"),
    ([*VAE, "--batch-size", "0"], "batch_size"),
    ([*VAE, "--eval-examples", "0"], "eval_examples"),
    ([*VAE, "--eval-examples", "-1"], "eval_examples"),
    ([*VAE, "--eval-samples", "0"], "eval_samples"),
    ([*VAE, "--bits", "0"], "bits"),
    ([*VAE, "--n-classes", "1"], "n_classes"),
    ([*VAE, "--lr-decay", "1.5"], "lr_decay"),
    ([*VAE, "--arch", "nosuch"], "invalid choice"),
    ([*VAE, "--latent", "gaussian"], "invalid choice"),
    ([*VAE, "--method", "nosuch"], "unknown method"),
    ([*VAE, "--method", "arm", "--latent", "categorical"], "supports latent"),
    ([*VAE, "--preset", "nosuch"], "preset"),
    (["vae", "--dataset", "nosuch", "--steps", "1"], "dataset"),
    ([*VAE, "--device", "nosuch"], "device"),
    ([*VAE, "--out", "afile"], "is a file"),
    ([*VAE, "--out", "afile/sub"], "is a file"),
    ([*VAE, "--out", "/proc/relaxit-out"], "not writable"),
    # relaxit bench ...
    (["bench", "speed", "--only", "nomatch", "--out", "results"], "matches no case"),
    (["bench", "speed", "--threads", "0", "--out", "results"], "--threads"),
    (["bench", "speed", "--threads", "x", "--out", "results"], "--threads"),
    (["bench", "speed", "--rounds", "0", "--out", "results"], "--rounds"),
    (["bench", "speed", "--out", "afile"], "is a file"),
    (["bench", "estimators", "--budget", "0", "--out", "results"], "--budget"),
    (["bench", "estimators", "--replicates", "1", "--out", "results"], "--replicates"),
    (["bench", "estimators", "--steps", "0", "--out", "results"], "--steps"),
    (["bench", "estimators", "--out", "afile/x"], "is a file"),
    (["bench", "vae", "--seeds", "0", "--out", "results"], "--seeds"),
    (["bench", "vae", "--jobs", "0", "--out", "results"], "--jobs"),
    (["bench", "vae", "--steps", "0", "--out", "results"], "--steps"),
    (["bench", "vae", "--k", "1", "--out", "results"], "--k"),
    (["bench", "vae", "--eval-examples", "0", "--out", "results"], "--eval-examples"),
    (["bench", "vae", "--quick", "--only", "nomatch", "--out", "results"], "matches no method"),
    (["bench", "vae", "--quick", "--dataset", "nosuch", "--out", "results"], "dataset"),
    (["bench", "vae", "--out", "afile"], "is a file"),
    (["bench", "paper", "nosuch", "--out", "results"], "preset"),
    (["bench", "paper", "nosuch", "--seeds", "0", "--out", "results"], "--seeds"),
    (["bench", "paper", "nosuch", "--checkpoint-every", "-1", "--out", "results"], "--checkpoint"),
    (["bench", "paper", "nosuch", "--out", "afile"], "is a file"),
    (["bench", "paper", "jang2017", "--device", "auto", "--out", "results"], "cpu or cuda"),
    (["bench", "paper", "jang2017", "--device", "tpu", "--out", "results"], "device"),
    (["bench", "paper", "jang2017", "--set", "device=cuda", "--out", "results"], "--device"),
    (["nosuch"], "invalid choice"),
]
if not torch.cuda.is_available():
    CASES.append(([*VAE, "--device", "cuda"], "no CUDA GPU"))
    CASES.append((["bench", "paper", "jang2017", "--device", "cuda", "--out", "r"], "no CUDA GPU"))


def _tree(root):
    return sorted(
        (os.path.relpath(os.path.join(d, f), root), os.path.getsize(os.path.join(d, f)))
        for d, _, files in os.walk(root)
        for f in files
    )


@pytest.mark.parametrize(
    ("argv", "message"), CASES, ids=lambda a: " ".join(a) if isinstance(a, list) else None
)
def test_bad_option_is_a_one_line_error_and_writes_nothing(
    argv, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a directory\n")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "speed.md").write_text("committed results\n")
    before = _tree(tmp_path)
    try:
        rc = main(argv)
    except SystemExit as exit_:  # argparse
        rc = exit_.code
    err = capsys.readouterr().err.strip()
    assert rc not in (0, None), f"{argv} exited 0"
    assert len(err.splitlines()) == 1, f"{argv}: not one line:\n{err}"
    assert "error:" in err and message in err, err
    assert _tree(tmp_path) == before, f"{argv} wrote {set(_tree(tmp_path)) - set(before)}"


def test_planted_late_check_is_caught(tmp_path, monkeypatch, capsys):
    """A check that runs after writing (the pre-fix ``--out`` behaviour) fails the table's
    nothing-written assertion: the table would catch it."""
    monkeypatch.chdir(tmp_path)
    from relaxit.cli import _checks

    def late(path, option="--out"):
        path.mkdir(parents=True, exist_ok=True)
        (path / "partial.json").write_text("{}")
        raise ValueError(f"{option} {path}: rejected after writing")

    monkeypatch.setattr("relaxit.cli.bench.check_out_dir", late)
    before = _tree(tmp_path)
    rc = main(["bench", "speed", "--out", "results"])
    assert rc == 2 and _tree(tmp_path) != before
    assert _checks.check_out_dir is not late
