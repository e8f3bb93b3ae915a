"""The library's exceptions.

Every error a user can cause (a bad option, a missing or damaged file, a dataset that does not match a run) is a
:class:`SslsanError` whose message names the file or option and the problem. The command line (``sslsan.cli``)
prints such errors as one line and exits with code 2; any other exception is a bug and keeps its traceback.
Library modules never import ``sslsan.cli``.
"""

from __future__ import annotations


class SslsanError(Exception):
    """A problem with the user's input, files or options; the message says which and what is wrong."""


class UsageError(SslsanError, ValueError):
    """An option or argument out of range, of the wrong kind, or inconsistent with another."""


class DataError(SslsanError, ValueError):
    """A dataset file that is missing, malformed or inconsistent (the message names the file)."""


class MissingFileError(SslsanError, FileNotFoundError):
    """A file or folder the command needs is not there (the message names it)."""


class LockedError(SslsanError):
    """Another live process holds the lock of the folder a command would write into (the message names the lock
    file and the holder's pid)."""
