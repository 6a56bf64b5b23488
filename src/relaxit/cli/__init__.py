"""The ``relaxit`` command line: one subcommand per module in `SUBCOMMANDS`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

from relaxit.cli import bench, laplace_bridge, select, vae
from relaxit.cli._checks import OneLineErrorParser

SUBCOMMANDS: tuple[ModuleType, ...] = (vae, laplace_bridge, bench, select)
"""Modules of ``relaxit.cli`` that each define ``add_parser(subparsers)``; the parser they add
sets ``func(args) -> int``."""


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(
        prog="relaxit",
        description="Relaxations and gradient estimators for discrete random variables.",
    )
    from relaxit import __version__

    parser.add_argument("--version", action="version", version=f"relaxit {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``relaxit`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0
    return int(args.func(args) or 0)
