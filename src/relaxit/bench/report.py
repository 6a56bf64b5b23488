"""Writing benchmark results: JSON + Markdown, each stamped with the machine and the command."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from relaxit._hardware import cpu_model


def machine_info(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Machine, thread counts, library versions, load and the exact command line."""
    import pyro

    import relaxit

    try:
        load = list(os.getloadavg())
    except OSError:
        load = None
    return {
        "command": " ".join(["relaxit", *(sys.argv[1:] if argv is None else argv)]),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "torch_threads": torch.get_num_threads(),
        "omp_num_threads_env": os.environ.get("OMP_NUM_THREADS"),
        "load_average_1_5_15": load,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "pyro": pyro.__version__,
        "relaxit": relaxit.__version__,
    }


def machine_markdown(info: dict[str, Any]) -> str:
    """The machine block that heads every results Markdown file."""
    load = info.get("load_average_1_5_15")
    load_s = ", ".join(f"{x:.2f}" for x in load) if load else "n/a"
    return "\n".join(
        [
            f"- command: `{info['command']}`",
            f"- date (UTC): {info['date_utc']}",
            f"- machine: {info['cpu']}, {info['cpu_count']} logical CPUs, "
            f"torch threads {info['torch_threads']} (OMP_NUM_THREADS="
            f"{info['omp_num_threads_env']}), load average at start {load_s}",
            f"- versions: python {info['python']}, torch {info['torch']}, pyro {info['pyro']}, "
            f"relaxit {info['relaxit']}; {info['platform']}",
        ]
    )


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_results(out: Path, stem: str, data: dict[str, Any], markdown: str) -> list[Path]:
    """Write ``out/stem.json`` and ``out/stem.md``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{stem}.json", out / f"{stem}.md"
    json_path.write_text(json.dumps(data, indent=1, default=_jsonable) + "\n")
    md_path.write_text(markdown.rstrip() + "\n")
    return [json_path, md_path]


def _jsonable(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def fmt(x: float | None, digits: int = 2) -> str:
    """A ratio or number for a table; ``-`` for a missing one."""
    if x is None:
        return "-"
    return f"{x:.{digits}f}"
