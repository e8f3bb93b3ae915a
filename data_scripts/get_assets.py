"""Fetch and clean IS3+-mini's assets once (the same as `sslsan data assets`).

    python data_scripts/get_assets.py [--rebuild]
"""

import sys

from sslsan.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["data", "assets", *sys.argv[1:]]))
