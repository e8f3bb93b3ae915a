"""The Jupyter Book builds offline from the committed notebooks, and a raising notebook stops the build."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import sslsan

from conftest import PYTHON, ROOT, clean_env

JUPYTER_BOOK = str(ROOT / ".venv" / "bin" / "jupyter-book")


def offline(command: list[str]) -> list[str]:
    """Wrap a command so it runs with no network at all (a fresh network namespace holding only loopback)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not available to cut the network")
    prefix = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-rn"]
    probe = subprocess.run(prefix + ["true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {probe.stderr.decode().strip()}")
    script = "ip link set lo up 2>/dev/null; exec \"$@\""
    return prefix + ["sh", "-c", script, "sh", *command]


def test_config_launches_colab_on_main():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == sslsan.REPOSITORY
    assert config["repository"]["branch"] == "main"
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["sphinx"]["config"]["nb_execution_raise_on_error"] is True
    assert config["execute"]["allow_errors"] is False
    assert config["only_build_toc_files"] is True


@pytest.mark.slow
def test_book_builds_offline_with_warnings_as_errors(tmp_path):
    out = subprocess.run(offline([JUPYTER_BOOK, "build", str(ROOT), "--path-output", str(tmp_path), "-W", "-n",
                                  "--keep-going"]), capture_output=True, text=True, env=clean_env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    html = tmp_path / "_build" / "html"
    assert (html / "index.html").is_file()
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    for page in pages:
        assert (html / f"{page}.html").is_file(), f"{page} was not rendered"
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        page = (html / "notebooks" / f"{notebook.stem}.html").read_text()
        link = f"colab.research.google.com/github/sslsan-project/sslsan/blob/main/notebooks/{notebook.name}"
        assert link in page, f"{notebook.name}: Colab launch button missing or pointing elsewhere"


def write_book_with_a_raising_notebook(folder):
    (folder / "notebooks").mkdir(parents=True)
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    config["execute"]["execute_notebooks"] = "force"  # make Sphinx execute, as a user overriding it would
    config["bibtex_bibfiles"] = ["references.bib"]
    shutil.copy(ROOT / "book" / "references.bib", folder / "references.bib")
    (folder / "_config.yml").write_text(yaml.safe_dump(config))
    (folder / "_toc.yml").write_text(textwrap.dedent("""\
        format: jb-book
        root: intro
        chapters:
          - file: notebooks/boom
        """))
    (folder / "intro.md").write_text("# A book\n")
    nb = new_notebook(cells=[new_markdown_cell("# Boom"), new_code_cell("print('before')"),
                             new_code_cell("raise RuntimeError('this notebook is broken')")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, folder / "notebooks" / "boom.ipynb")
    return folder / "notebooks" / "boom.ipynb"


@pytest.mark.slow
def test_a_raising_notebook_fails_the_sphinx_build(tmp_path):
    """With our configuration, a build that executes notebooks stops on an error (and succeeds without it)."""
    notebook = write_book_with_a_raising_notebook(tmp_path / "book")
    command = [JUPYTER_BOOK, "build", str(tmp_path / "book"), "-W", "-n", "--keep-going"]
    out = subprocess.run(command, capture_output=True, text=True, env=clean_env())
    assert out.returncode != 0
    assert "this notebook is broken" in out.stdout + out.stderr
    nb = nbformat.read(notebook, as_version=4)  # control: the same book without the raise builds
    nb.cells[2].source = "print('fine')"
    nbformat.write(nb, notebook)
    shutil.rmtree(tmp_path / "book" / "_build")
    out = subprocess.run(command, capture_output=True, text=True, env=clean_env())
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


@pytest.mark.slow
def test_a_raising_notebook_fails_sslsan_book_and_is_left_untouched(tmp_path):
    notebook = write_book_with_a_raising_notebook(tmp_path / "book")
    before = notebook.read_bytes()
    out = subprocess.run([PYTHON, "-m", "sslsan", "book"], capture_output=True, text=True, cwd=tmp_path / "book",
                         env=clean_env())
    assert out.returncode == 2
    assert "boom.ipynb raised while executing" in out.stderr and "this notebook is broken" in out.stderr
    assert notebook.read_bytes() == before
    failed = nbformat.read(tmp_path / "book" / "_build" / "failed-notebooks" / "boom.ipynb", as_version=4)
    assert failed.cells[1].outputs[0].text.strip() == "before"


@pytest.mark.slow
def test_sslsan_book_executes_in_place_then_skips_when_nothing_changed(tmp_path):
    book = tmp_path / "book"
    notebook = write_book_with_a_raising_notebook(book)
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[2].source = "print(6 * 7)"
    nbformat.write(nb, notebook)
    first = subprocess.run([PYTHON, "-m", "sslsan", "book"], capture_output=True, text=True, cwd=book,
                           env=clean_env())
    assert first.returncode == 0, first.stderr
    executed = nbformat.read(notebook, as_version=4)
    assert executed.cells[2].outputs[0].text.strip() == "42"
    assert [c.execution_count for c in executed.cells if c.cell_type == "code"] == [1, 2]
    second = subprocess.run([PYTHON, "-m", "sslsan", "book"], capture_output=True, text=True, cwd=book,
                            env=clean_env())
    assert second.returncode == 0 and "skip" in second.stdout
