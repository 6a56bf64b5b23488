"""Adding an estimator is one module, one registry entry and one docs page: every consumer then
sees it without edits, and a missing page or a stale table fails here."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import torch

from relaxit import estimators
from relaxit.bench.estimators import run_estimators
from relaxit.bench.speed_cases import estimator_cases
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


RESULTS = ROOT / "benchmarks" / "results"


def unmeasured_speed_rows() -> list[str]:
    """What `relaxit bench speed` would time but its committed results lack: every estimator
    of the estimators cases (``speed-estimators/speed.md``) and every class with a speed case
    (``speed.md`` or ``speed-structured/speed.md``). Rerun the command their headers give."""
    estimators_md = (RESULTS / "speed-estimators" / "speed.md").read_text()
    rows = set(re.findall(r"^\| ([a-z0-9-]+) \| [0-9.]+ \|$", estimators_md, re.M))
    wanted = {name for case in estimator_cases(quick=True) for name in case.candidates}
    missing = sorted(f"estimator {n}" for n in wanted - rows)
    classes_md = "".join((RESULTS / d / "speed.md").read_text() for d in (".", "speed-structured"))

    def row_name(cls: str) -> str:  # a reference case "torch X" heads its rows as "X (torch)"
        library, _, name = cls.rpartition(" ")
        return f"{name} ({library})" if library else name

    missing += sorted(
        f"class {c}"
        for c in speed_case_classes()
        if not re.search(rf"^\| {re.escape(row_name(c))}[ |]", classes_md, re.M)
    )
    return missing


def test_committed_speed_results_cover_every_case():
    assert unmeasured_speed_rows() == []


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
    assert unmeasured_speed_rows() == [f"estimator {name}"]  # until the results are rerun
    # relaxit vae --list-methods, and the method itself
    assert METHODS[name].latents == (BERNOULLI, CATEGORICAL)
    assert main(["vae", "--list-methods"]) == 0
    assert f"\n{name} " in capsys.readouterr().out
    # the README/docs tables: the generated table has its row, so the committed ones are stale
    assert f"| `{name}` |" in registry.markdown_table()
    assert sorted(stale_tables()) == ["README.md", "docs/gallery/index.md"]
    # and its missing docs page is reported
    assert "no gallery page docs/gallery/estimators/throwaway_estimator.md" in docs_gaps(Throwaway)


# --- distributions: the kit's Example registry is the list ----------------------------------


def relaxit_example_classes() -> list[type]:
    """Every distribution class of relaxit's own that the kit's Example registry holds (the kit
    fails when a public class has none: tests/test_conformance.py)."""
    from relaxit.testing.registry import EXAMPLES

    classes = {e.dist_class for e in EXAMPLES if e.dist_class.__module__.startswith("relaxit.")}
    return sorted(classes, key=lambda c: c.__name__)


def distribution_gaps(cls: type, speed_classes: set[str]) -> list[str]:
    """What a distribution class lacks besides its Example: a speed case with a floor, a
    gallery page naming it (listed in mkdocs.yml's nav)."""
    gaps = []
    if cls.__name__ not in speed_classes:
        gaps.append(f"no case for {cls.__name__} in relaxit.bench.speed_cases (with a floor)")
    nav = (ROOT / "mkdocs.yml").read_text()
    name = re.compile(rf"\b{cls.__name__}\b")
    pages = [
        p
        for p in sorted((DOCS / "gallery" / "distributions").glob("*.md"))
        if name.search(p.read_text().splitlines()[0])  # the page's title names the class
    ]
    if not pages:
        gaps.append(f"no gallery page in docs/gallery/distributions/ naming {cls.__name__}")
    elif not any(f"gallery/distributions/{p.name}" in nav for p in pages):
        gaps.append(f"the gallery page of {cls.__name__} is not in mkdocs.yml's nav")
    return gaps


def speed_case_classes() -> set[str]:
    from relaxit.bench.speed_cases import all_cases

    return {c.cls for c in all_cases(quick=True) if c.floor in c.candidates}


def test_every_distribution_has_a_speed_case_and_a_gallery_page():
    speed = speed_case_classes()
    gaps = {c.__name__: distribution_gaps(c, speed) for c in relaxit_example_classes()}
    assert len(gaps) >= 15
    assert {k: v for k, v in gaps.items() if v} == {}


def test_a_distribution_without_its_case_or_page_is_reported():
    """Planted gaps: a class the speed bench and the gallery do not know."""

    class Unlisted(torch.distributions.Distribution):
        pass

    gaps = distribution_gaps(Unlisted, speed_case_classes())
    assert len(gaps) == 2 and "speed" in gaps[0] and "gallery page" in gaps[1]
