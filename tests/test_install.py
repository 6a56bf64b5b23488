"""The README's "Install in your project" works: the wheel that `python -m build` makes installs
into a fresh virtualenv and runs the quickstart there, importing relaxit from the wheel (not from
the source tree or the development install).

The fresh venv gets the wheel with `pip install --no-deps`; its dependencies (torch, Pyro) come
from this environment's site-packages through a .pth file, so the test needs no network and never
lets pip resolve an open `torch` requirement (which could pull a multi-GB CUDA build).
"""

import email
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pyro
import pytest
import torch

import relaxit

ROOT = Path(__file__).resolve().parents[1]


def run(*args, cwd: Path, env: dict | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Build the wheel from a copy of the sources (the build writes egg-info next to them)."""
    pytest.importorskip("build", reason="the dev extra installs `build`")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(ROOT / "src", src / "src", ignore=ignore)
    out = tmp_path_factory.mktemp("dist")
    run(sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, src, cwd=src)
    (whl,) = out.glob("relaxit-*.whl")
    return whl


def test_wheel_metadata(wheel):
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta_name = next(n for n in names if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(z.read(meta_name))
        entry_points = z.read(meta_name.replace("METADATA", "entry_points.txt")).decode()
    assert meta["Name"] == "relaxit"
    assert meta["Version"] == relaxit.__version__
    assert meta["License-Expression"] == "MIT"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "relaxit/py.typed" in names
    assert {"torch>=2.2", "pyro-ppl>=1.9"} <= set(meta.get_all("Requires-Dist"))
    assert "relaxit = relaxit.cli:main" in entry_points
    assert not any(n.startswith(("tests/", "docs/", "examples/")) for n in names)


def test_wheel_installs_into_a_fresh_venv_and_runs_the_quickstart(wheel, tmp_path):
    env_dir = tmp_path / "project-venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "-q",
        "--no-deps",
        "--no-index",
        wheel,
        cwd=tmp_path,
    )
    site = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
        ).strip()
    )
    deps = {Path(torch.__file__).parents[1], Path(pyro.__file__).parents[1]}
    (site / "project_deps.pth").write_text("".join(f"{d}\n" for d in sorted(deps)))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}

    # One process (importing torch dominates): where relaxit comes from, then the quickstart.
    script = ROOT / "examples" / "quickstart.py"
    code = f"import relaxit, runpy; print(relaxit.__file__); runpy.run_path({str(script)!r})"
    where, *out = run(python, "-c", code, cwd=tmp_path, env=env).splitlines()
    assert Path(where).is_relative_to(env_dir), where
    assert "relaxed Bernoulli gates, 1000 samples of 3 gates" in out
    console = env_dir / "bin" / "relaxit"  # the `relaxit` command, run by the fresh venv's python
    assert console.read_text().splitlines()[0] == f"#!{python}"


def test_citation_and_changelog_name_the_current_version():
    """CITATION.cff repeats relaxit.__version__ (CHANGELOG's version policy says a test keeps them
    equal) and the changelog has a section for it."""
    yaml = pytest.importorskip("yaml")
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert citation["cff-version"] == "1.2.0"
    assert {"message", "title", "authors", "version", "license"} <= citation.keys()
    assert citation["version"] == relaxit.__version__
    assert citation["license"] == "MIT"
    assert f"## [{relaxit.__version__}]" in (ROOT / "CHANGELOG.md").read_text()
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
