"""The ``sslsan`` command line: one module per subcommand, argparse only here.

Each subcommand module has ``add_arguments(parser)`` and ``run(args) -> int``. The library raises
:class:`sslsan.errors.SslsanError` for problems a user can fix (the message names the file or option); ``main``
prints those as one line and exits with status 2, and leaves every other exception (a bug) its traceback.
Nothing in the library imports this package.
"""

from __future__ import annotations

import argparse
import sys

import sslsan
from sslsan.cli import book, data, evaluate, pretrain, train
from sslsan.errors import SslsanError

#: name -> (module implementing it, one-line help). Order is the order of the pipeline.
COMMANDS = {
    "data": (data, "fetch the IS3+-mini assets and build the dataset (assets / build / info)"),
    "pretrain": (pretrain, "pretrain the image/audio trunks on IS3+-mini (the offline ImageNet stand-in)"),
    "train": (train, "train a method (LVS, EZ-VSL, SLAVC, FNAC, SSL-TIE, SSL-Align), optionally with silence and noise, on a dataset"),
    "evaluate": (evaluate, "evaluate a run with positive and negative audio beside reference rows"),
    "book": (book, "execute the book's notebooks in place (cached) before `jupyter-book build`"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sslsan",
        description="Visual sound source localisation with silence, noise and offscreen audio (SSL-SaN reproduction).",
    )
    parser.add_argument("--version", action="version", version=f"sslsan {sslsan.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        module.add_arguments(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return int(COMMANDS[args.command][0].run(args) or 0)
    except SslsanError as err:
        print(f"sslsan {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sslsan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
