"""Committed notebooks are clean, complete runs; every notebook also runs end to end as a smoke run."""

from __future__ import annotations

import json
import re

import nbformat
import pytest
import yaml

import sslsan
from sslsan.config import SMOKE_BANNER

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
ABSOLUTE_PATH = re.compile(r"(?<![\w.])(/(root|home|tmp|work|Users|private|var/folders)/[\w.\-]+|[A-Z]:\\\\[\w])")
BANNER_WORDS = re.compile(r"SMOKE RUN|smoke run", re.I)


def toc_files() -> set[str]:
    text = (ROOT / "_toc.yml").read_text()
    return set(re.findall(r"(?:file|root):\s*(\S+)", text))


def outputs_text(nb) -> str:
    return json.dumps([cell.get("outputs", []) for cell in nb.cells])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_hygiene(path):
    assert path.stat().st_size <= 3_000_000, f"{path.name} is {path.stat().st_size / 1e6:.1f} MB (limit 3 MB)"
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    counts = [cell.execution_count for cell in code]
    assert None not in counts, f"{path.name}: some code cells were never executed (a partial run was committed)"
    assert counts == list(range(1, len(code) + 1)), f"{path.name}: execution counts {counts} are not 1..n in order"
    for cell in code:
        for output in cell.outputs:
            assert output.output_type != "error", f"{path.name}: committed error output {output.get('ename')}"
    text = outputs_text(nb)
    assert not BANNER_WORDS.search(text), f"{path.name}: outputs come from a smoke run"
    found = ABSOLUTE_PATH.search(text)
    assert not found, f"{path.name}: absolute local path {found.group(0)!r} in the outputs"
    assert not any("injected-parameters" in cell.metadata.get("tags", []) for cell in nb.cells), \
        f"{path.name}: a papermill injected-parameters cell was committed"
    assert "papermill" not in nb.metadata, f"{path.name}: papermill metadata was committed (smoke copy?)"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state (e.g. progress bars of a live run)"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_follows_the_conventions(path):
    nb = nbformat.read(path, as_version=4)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")
    assert f"colab.research.google.com/github/{sslsan.REPOSITORY.split('github.com/')[1]}/blob/main/notebooks/" \
        f"{path.name}" in nb.cells[0].source, "the title cell needs an Open-in-Colab badge for this notebook"
    install = code[0].source
    assert '"google.colab" in sys.modules' in install and f"git+{sslsan.REPOSITORY}@main" in install
    params = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(params) == 1 and code.index(params[0]) == 1, "the second code cell must be the `parameters` cell"
    assert re.search(r"^SMOKE = None\b", params[0].source, re.M), "parameters must contain `SMOKE = None`"
    assert "announce(" in "".join(cell.source for cell in code[2:4]), "print the smoke banner right after params"
    assert f"notebooks/{path.stem}" in toc_files(), f"{path.name} is not in _toc.yml"


def test_toc_lists_only_existing_pages():
    for entry in toc_files():
        candidates = [ROOT / f"{entry}{suffix}" for suffix in ("", ".md", ".ipynb")]
        assert any(c.is_file() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_smoke_run(path, tmp_path, monkeypatch, smoke_work_dir):
    """Run the notebook top to bottom with SSLSAN_SMOKE=1 (shrunk work, loud banner) into a throw-away copy."""
    import papermill

    monkeypatch.setenv("SSLSAN_SMOKE", "1")
    monkeypatch.setenv("SSLSAN_WORK", str(smoke_work_dir))
    out = tmp_path / path.name
    papermill.execute_notebook(str(path), str(out), kernel_name="python3", cwd=str(path.parent),
                               progress_bar=False, request_save_on_cell_execute=False)
    executed = nbformat.read(out, as_version=4)
    assert SMOKE_BANNER.splitlines()[1] in outputs_text(executed).replace("\\n", "\n"), \
        "the smoke switch was not picked up (no banner printed)"
