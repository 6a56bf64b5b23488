"""`relaxit select`: the command runs and writes its outputs; each method learns a planted task."""

import json

import pytest
import torch

from relaxit.cli import main
from relaxit.select.data import Labelled
from relaxit.select.methods import METHODS, Method
from relaxit.select.train import SelectConfig, train


def test_list_methods(capsys):
    assert main(["select", "--list-methods"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("gumbel-topk", "simple", "imle", "score-function"))


def test_select_writes_metrics_and_pictures(tmp_path):
    out = tmp_path / "run"
    args = ["select", "--method", "imle", "--steps", "6", "--eval-every", "3", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["config"]["method"] == "imle" and len(metrics["history"]) == 2
    assert 0.0 <= metrics["test_accuracy_top_k"] <= 1.0
    assert metrics["provenance"]["command"].startswith("relaxit")
    assert (out / "selections.png").stat().st_size > 0


def test_compare_resumes_cells(tmp_path):
    args = ["select", "--compare", "--methods", "simple,score-function", "--seeds", "0,1"]
    args += ["--steps", "4", "--eval-every", "4", "--quiet", "--out", str(tmp_path)]
    assert main(args) == 0
    table = (tmp_path / "select.md").read_text()
    assert "simple" in table and "score-function" in table
    assert (tmp_path / "select.png").exists()
    cell = tmp_path / "simple-seed1" / "metrics.json"
    before = cell.stat().st_mtime_ns
    assert main(args) == 0  # every cell exists: nothing is retrained
    assert cell.stat().st_mtime_ns == before


def test_bad_options_are_rejected(tmp_path):
    with pytest.raises(SystemExit):
        main(["select", "--method", "nope", "--out", str(tmp_path)])
    with pytest.raises(ValueError, match="--k"):
        train(SelectConfig(k=64, steps=1, quiet=True, out=str(tmp_path)))


def _planted(n_train=2000, n=8, informative=5, seed=0):
    """The label is whether feature ``informative`` exceeds 0.5; the rest is noise."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(n_train + 500, n, generator=gen)
    y = (x[:, informative] > 0.5).long()
    return Labelled("planted", x[:n_train], y[:n_train], x[n_train:], y[n_train:], (2, 4))


def _frozen_selector(theta, k, loss_of):
    """Planted bug: the selector's logits get no gradient."""
    return METHODS["simple"].loss(theta.detach(), k, loss_of)


@pytest.mark.parametrize("name", list(METHODS))
def test_each_method_finds_the_informative_feature(tmp_path, name, monkeypatch):
    cfg = SelectConfig(method=name, k=1, steps=400, eval_every=400, hidden=32, lr=3e-3, quiet=True)
    metrics = train(SelectConfig(**{**cfg.__dict__, "out": str(tmp_path)}), _planted())
    assert metrics["test_accuracy_top_k"] > 0.9, metrics["test_accuracy_top_k"]


def test_frozen_selector_fails_the_planted_task(tmp_path, monkeypatch):
    monkeypatch.setitem(
        METHODS, "frozen", Method("frozen", "-", "planted bug", 1, _frozen_selector)
    )
    cfg = SelectConfig(method="frozen", k=1, steps=400, eval_every=400, hidden=32, lr=3e-3)
    metrics = train(
        SelectConfig(**{**cfg.__dict__, "quiet": True, "out": str(tmp_path)}), _planted()
    )
    assert metrics["test_accuracy_top_k"] < 0.8, metrics["test_accuracy_top_k"]
