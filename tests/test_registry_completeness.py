"""Adding an estimator is one module, one registry entry and one docs page: every consumer then
sees it without edits, and a missing page or a stale table fails here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from relaxit import estimators
from relaxit.bench.estimators import run_estimators
from relaxit.bench.speed import estimator_cases
from relaxit.cli import main
from relaxit.estimators import BERNOULLI, CATEGORICAL, REINFORCE, register_estimator, registry
from relaxit.vae import METHODS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tables = _load(DOCS / "scripts" / "update_tables.py", "update_tables")


def docs_gaps(cls: type) -> list[str]:
    """What the docs lack for the estimator class ``cls`` (empty when complete)."""
    page = f"gallery/estimators/{registry.gallery_page(cls)}"
    gaps = []
    if not (DOCS / page).is_file():
        gaps.append(f"no gallery page docs/{page}")
    if page not in (ROOT / "mkdocs.yml").read_text():
        gaps.append(f"docs/{page} is not in mkdocs.yml's nav")
    reference = (DOCS / "reference" / "estimators.md").read_text()
    if "::: relaxit.estimators\n" not in reference:
        gaps.append("docs/reference/estimators.md no longer renders the package's classes")
    if getattr(estimators, cls.__name__, None) is not cls:
        gaps.append(f"{cls.__name__} is not exported by relaxit.estimators (nor in its reference)")
    if f"]({page})" not in (DOCS / "choosing-an-estimator.md").read_text():
        gaps.append(f"docs/choosing-an-estimator.md does not link docs/{page}")
    return gaps


def stale_tables() -> list[str]:
    """Files whose generated estimator table differs from the registry."""
    return [
        str(path.relative_to(ROOT))
        for path, prefix in tables.TARGETS.items()
        if tables.current(path.read_text()) != tables.block(prefix)
    ]


@pytest.mark.parametrize("entry", registry.entries(), ids=lambda e: e.name)
def test_every_registered_estimator_has_its_docs(entry):
    assert docs_gaps(entry.cls) == []


def test_generated_tables_match_the_registry():
    assert stale_tables() == [], "run: PYTHONPATH=src python docs/scripts/update_tables.py"


class Throwaway(REINFORCE):
    """A registered estimator that nothing else names (REINFORCE's gradient: unbiased)."""

    name = "throwaway-estimator"
    paper = "a test of the registry, 2026"


@pytest.fixture
def throwaway():
    register_estimator(Throwaway)
    try:
        yield registry.get(Throwaway.name)
    finally:
        registry.unregister(Throwaway.name)


def test_every_consumer_sees_a_registered_estimator(throwaway, capsys):
    from test_estimators_protocol import estimators
    from test_estimators_unbiased import PROBLEMS, unbiased_estimators

    name = throwaway.name
    # the protocol tests and the unbiasedness tests (it declares itself unbiased)
    assert name in estimators(BERNOULLI) and name in estimators(CATEGORICAL)
    assert all(name in unbiased_estimators(p) for p in PROBLEMS)
    # relaxit bench estimators (tiny settings: this checks the rows, not the numbers)
    torch.manual_seed(0)
    data = run_estimators(quick=True, replicates=8, steps=1, log=lambda _: 0)
    rows = [r for r in data["table"] if r["estimator"] == name]
    assert len(rows) == len({r["problem"] for r in data["table"]}) and all(
        r["supported"] for r in rows
    )
    assert all(name in curves for curves in data["optimisation"].values())
    # relaxit bench speed
    for case in estimator_cases(quick=True):
        assert name in case.candidates, case.name
    # relaxit vae --list-methods, and the method itself
    assert METHODS[name].latents == (BERNOULLI, CATEGORICAL)
    assert main(["vae", "--list-methods"]) == 0
    assert f"\n{name} " in capsys.readouterr().out
    # the README/docs tables: the generated table has its row, so the committed ones are stale
    assert f"| `{name}` |" in registry.markdown_table()
    assert sorted(stale_tables()) == ["README.md", "docs/gallery/index.md"]
    # and its missing docs page is reported
    assert "no gallery page docs/gallery/estimators/throwaway_estimator.md" in docs_gaps(Throwaway)
