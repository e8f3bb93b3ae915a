"""Execute the book's notebooks in place, so that their committed outputs come from a real, complete run.

``make book`` calls ``sslsan book`` and then ``jupyter-book build``, which renders the stored outputs
(``execute_notebooks: "off"`` in ``_config.yml``). Executing here rather than inside Sphinx means the executed
notebooks are the files in ``notebooks/``, ready to commit, and a notebook that raises stops the build.

A notebook is re-executed only when something it depends on changed: its own code cells, any file of the
``sslsan`` package, or the pinned environment. The fingerprints live in ``_build/notebook-stamps/`` (never
committed), so a fresh clone executes everything once.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Sequence

import nbformat
import yaml
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import sslsan
from sslsan.config import SMOKE_ENV, is_smoke
from sslsan.errors import MissingFileError, SslsanError, UsageError
from sslsan.io import write_text

STAMP_DIR = Path("_build") / "notebook-stamps"


class NotebookError(SslsanError):
    """A notebook raised while executing (the message names it and the failing cell's error)."""

FAILED_DIR = Path("_build") / "failed-notebooks"


def book_root(start: Path | None = None) -> Path:
    """The repository root: the nearest folder (from ``start``, default cwd) holding ``_toc.yml``."""
    start = (start or Path.cwd()).resolve()
    for folder in (start, *start.parents):
        if (folder / "_toc.yml").is_file():
            return folder
    raise MissingFileError(f"no _toc.yml in {start} or above: run this from the sslsan repository")


def toc_notebooks(root: Path) -> list[Path]:
    """The notebooks listed in ``_toc.yml``, in reading order (the order they must execute in)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    found: list[Path] = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    candidate = root / (node[key] if node[key].endswith(".ipynb") else node[key] + ".ipynb")
                    if candidate.is_file():
                        found.append(candidate)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def fingerprint(notebook: Path, root: Path) -> str:
    """Hash of what a notebook's outputs depend on: its code cells, the package sources and the pinned env."""
    digest = hashlib.sha256()
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode())
    for source in sorted((root / "sslsan").rglob("*.py")):
        digest.update(str(source.relative_to(root)).encode())
        digest.update(source.read_bytes())
    for extra in ("requirements.txt", "data_scripts"):
        path = root / extra
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path] if path.is_file() else []
        for file in files:
            digest.update(file.read_bytes())
    return digest.hexdigest()


def execute_notebook(notebook: Path, output: Path | None = None, timeout: int = 3600,
                     failed_dir: Path | None = None) -> float:
    """Run every cell of ``notebook`` in a fresh kernel (cwd = its folder) and write the executed copy.

    ``output`` defaults to the notebook itself. The write is atomic; when a cell raises, the original file is
    left untouched, the failed copy goes to ``failed_dir`` (if given) and a :class:`NotebookError` names the cell.
    """
    output = output or notebook
    nb = nbformat.read(notebook, as_version=4)
    nb.metadata.pop("widgets", None)  # a previous run's widget state would outlive the widgets that made it
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(notebook.parent)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        where = "it was not saved"
        if failed_dir is not None:
            failed_dir.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, failed_dir / notebook.name)
            where = f"the partly executed copy is {failed_dir / notebook.name}"
        text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()  # drop the traceback's colour codes
        last_line = text.splitlines()[-1] if text else repr(err)
        raise NotebookError(
            f"{notebook.name} raised while executing: {last_line}\n  {where}; {notebook.name} itself was not changed"
        ) from err
    elapsed = time.perf_counter() - start
    nb.metadata.pop("papermill", None)
    text = nbformat.writes(nb)
    write_text(output, text if text.endswith("\n") else text + "\n")  # as nbformat.write ends the file
    return elapsed


def execute_book(notebooks: Sequence[Path] = (), *, force: bool = False, timeout: int = 3600,
                 list_only: bool = False) -> None:
    """Execute ``notebooks`` (default: every notebook of ``_toc.yml``, in order) whose fingerprint changed, or all
    with ``force``; ``list_only`` only says which are stale."""
    if is_smoke():
        raise UsageError(f"{SMOKE_ENV} is set: smoke outputs must never be written into the book's notebooks; "
                           f"unset it (the tests run smoke copies elsewhere)")
    root = book_root()
    notebooks = [Path(n).resolve() for n in notebooks] or toc_notebooks(root)
    missing = [str(n) for n in notebooks if not n.is_file()]
    if missing:
        raise MissingFileError(f"notebook not found: {', '.join(missing)}")
    stamp_dir = root / STAMP_DIR
    stamp_dir.mkdir(parents=True, exist_ok=True)
    # Progress bars are for people watching a live session. Saved into the static book, a bar would show only its
    # first frame (its widget state is not kept), so the kernels run without them; per-epoch lines still print.
    os.environ.setdefault("TQDM_DISABLE", "1")
    total = time.perf_counter()
    print(f"sslsan {sslsan.__version__}: {len(notebooks)} notebook(s)")
    for notebook in notebooks:
        stamp = stamp_dir / f"{notebook.stem}.json"
        current = fingerprint(notebook, root)
        stored = json.loads(stamp.read_text()).get("fingerprint") if stamp.is_file() else None
        fresh = stored == current and not force
        if list_only:
            print(f"  {'up to date' if fresh else 'stale     '}  {notebook.relative_to(root)}")
            continue
        if fresh:
            print(f"  skip     {notebook.relative_to(root)} (nothing changed since its last execution)")
            continue
        print(f"  execute  {notebook.relative_to(root)} ...", flush=True)
        seconds = execute_notebook(notebook, timeout=timeout, failed_dir=root / FAILED_DIR)
        # the executed notebook's own fingerprint: code cells are unchanged by execution
        write_text(stamp, json.dumps({"fingerprint": fingerprint(notebook, root), "seconds": round(seconds, 1)}))
        print(f"           done in {seconds:.0f} s", flush=True)
    print(f"notebooks ready in {time.perf_counter() - total:.0f} s")
