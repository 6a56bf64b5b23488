"""The tutorials of docs/tutorials/ are scripts in examples/ (the pages include them verbatim);
each runs here with fewer steps and must actually learn, not only run."""

import importlib.util
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_tutorial_page_includes_a_tested_script():
    pages = sorted((ROOT / "docs" / "tutorials").glob("*.md"))
    assert pages
    tested = set(re.findall(r'load\("(\w+)"\)', Path(__file__).read_text()))
    for page in pages:
        included = re.findall(r'--8<-- "examples/(\w+)\.py"', page.read_text())
        assert included, f"{page.name} includes no examples/ script"
        assert set(included) <= tested, f"{page.name}: {set(included) - tested} not tested"


@pytest.mark.parametrize("estimator", ["rebar", "relax", "gumbel-softmax"])
def test_training_loop(estimator):
    tutorial = load("tutorial_training_loop")
    out = tutorial.train(estimator, steps=150, log_every=0)
    # 8 clusters, 3 bits: a working estimator gets far below the error of the untrained model
    # and of the best constant prediction (the data's variance, about 64).
    assert out["final"] < 0.5 * out["variance"] < out["initial"], out
    est = out["estimator"]
    if estimator == "rebar":  # the variance tuning moved eta and the temperature
        assert est.eta.item() != 1.0
        assert est.temperature.item() != pytest.approx(0.5, abs=1e-6)
    if estimator == "relax":  # ... and the control network's output layer (initialised at 0)
        assert est.control.net[-1].weight.abs().sum() > 0
    if estimator == "gumbel-softmax":  # annealed from 1.0 towards 0.5
        assert est.temperature == pytest.approx(max(0.5, torch.e ** (-1e-2 * 149)))
