"""Command line shared by the family benchmarks: which draws to score and where to write the rows."""

from __future__ import annotations

import argparse
from pathlib import Path


def draws_parser(description: str) -> argparse.ArgumentParser:
    """A parser with ``--draws``, ``--first`` and ``--json``, showing ``description`` (a module docstring)."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--draws", type=int, default=100, help="number of draws (default 100)")
    parser.add_argument("--first", type=int, default=0, help="first draw's seed (default 0)")
    parser.add_argument("--json", type=Path, help="also write every row and the summary here")
    return parser
