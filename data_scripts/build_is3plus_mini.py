"""Build IS3+-mini (the same as `sslsan data build`).

    python data_scripts/build_is3plus_mini.py --preset default --out DIR --seed 0
"""

import sys

from sslsan.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["data", "build", *sys.argv[1:]]))
