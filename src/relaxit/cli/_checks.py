"""Option checks shared by the subcommands: every bad value is a one-line error before any
training or benchmark starts, and nothing is written."""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

from relaxit._io import check_out_dir

__all__ = ["OneLineErrorParser", "check_out_dir", "fail", "finite_float", "int_at_least"]


class OneLineErrorParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line, ``PROG: error: MESSAGE`` (exit 2),
    without the usage block (``relaxit vae``'s is 40 lines); ``--help`` still shows it."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def int_at_least(low: int):
    """An argparse ``type``: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def finite_float(text: str) -> float:
    """An argparse ``type``: a finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def fail(command: str, err: BaseException) -> int:
    """Print ``relaxit COMMAND: error: ERR`` (one line) to stderr; the exit status 2."""
    message = " ".join(str(err).split()) or type(err).__name__
    print(f"relaxit {command}: error: {message}", file=sys.stderr)
    return 2
