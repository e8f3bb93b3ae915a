"""``python -m sslsan`` is the same as the ``sslsan`` command."""

from sslsan.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
