"""docs/scripts/make_figures.py draws every gallery picture (slow: about a minute on 2 cores).

The committed PNGs are what the site shows; this checks that the script still runs against the
current package (a renamed class or a changed signature would otherwise leave the pictures stale)
and that every registered estimator lands on an existing gallery page.
"""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location(
        "make_figures", ROOT / "docs/scripts/make_figures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_make_figures_draws_every_picture(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    make_figures = load_script()
    monkeypatch.setattr(make_figures, "OUT", tmp_path)
    monkeypatch.setattr("sys.argv", ["make_figures.py"])
    make_figures.main()
    drawn = {p.name for p in tmp_path.glob("*.png")}
    referenced = set()
    for page in (ROOT / "docs" / "gallery").rglob("*.md"):
        referenced |= {
            line.split("figures/")[1].split(")")[0]
            for line in page.read_text().splitlines()
            if line.startswith("![") and "figures/" in line
        }
    # Every picture a gallery page shows is one the script draws (the bench/VAE ones aside).
    assert referenced - {"vae-reconstructions.png"} <= drawn, referenced - drawn
    assert len(drawn) >= 40


def test_every_registered_estimator_has_a_picture_page():
    from relaxit.estimators import registry

    make_figures = load_script()
    pages = make_figures.estimator_pages(registry.names())
    drawn = {n for names in pages.values() for n in names}
    assert drawn == set(registry.names())
    missing = [s for s in pages if not (ROOT / f"docs/gallery/estimators/{s}.md").exists()]
    assert not missing, (
        f"registered estimators whose gallery page is not named like them: {missing}"
    )
