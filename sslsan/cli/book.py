"""``sslsan book``: execute the book's notebooks in place (only those whose inputs changed)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sslsan.book import execute_book
from sslsan.errors import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("notebooks", nargs="*", type=Path,
                        help="notebooks to execute (default: every notebook in _toc.yml, in order)")
    parser.add_argument("--force", action="store_true", help="execute even when nothing changed")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell (default 3600)")
    parser.add_argument("--list", action="store_true", help="only list the notebooks and whether they are stale")


def run(args: argparse.Namespace) -> int:
    if args.timeout < 1:
        raise UsageError(f"--timeout {args.timeout}: seconds per cell must be at least 1")
    execute_book(args.notebooks, force=args.force, timeout=args.timeout, list_only=args.list)
    return 0
