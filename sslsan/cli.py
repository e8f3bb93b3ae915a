"""The ``sslsan`` command line.

Each subcommand lives next to the code it drives and is imported only when used, so ``sslsan --help``
answers instantly (importing torch takes seconds). A subcommand module provides two functions::

    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int | None: ...
"""

from __future__ import annotations

import argparse
import importlib
import sys

import sslsan

#: name -> (module implementing it, one-line help). Order is the order of the pipeline.
COMMANDS: dict[str, tuple[str, str]] = {
    "data": ("sslsan.data.cli", "fetch the IS3+-mini assets and build the dataset (assets / build / info)"),
    "pretrain": ("sslsan.pretrain", "pretrain the image/audio trunks on IS3+-mini (the offline ImageNet stand-in)"),
    "train": ("sslsan.train", "train EZ-VSL, optionally with silence and noise (SSL-SaN), on a dataset"),
    "evaluate": ("sslsan.evaluate", "evaluate a run with positive and negative audio beside reference rows"),
    "book": ("sslsan.book", "execute the book's notebooks in place (cached) before `jupyter-book build`"),
}


class CommandError(Exception):
    """A user-facing error: printed as one line, exit status 2, no traceback."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sslsan",
        description="Visual sound source localisation with silence, noise and offscreen audio (SSL-SaN reproduction).",
    )
    parser.add_argument("--version", action="version", version=f"sslsan {sslsan.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:  # only import the module that will run
            importlib.import_module(module_name).add_arguments(sub_parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # the top-level parser only has options, so the first bare word is the command
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.run(args) or 0)
    except CommandError as err:
        print(f"sslsan {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"sslsan {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
