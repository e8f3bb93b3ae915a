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


@pytest.fixture(scope="module")
def built_html(tmp_path_factory):
    """The whole book built once, offline, with warnings as errors (the HTML folder)."""
    out_dir = tmp_path_factory.mktemp("book")
    out = subprocess.run(offline([JUPYTER_BOOK, "build", str(ROOT), "--path-output", str(out_dir), "-W", "-n",
                                  "--keep-going"]), capture_output=True, text=True, env=clean_env())
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out_dir / "_build" / "html"


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]


@pytest.mark.slow
def test_book_builds_offline_with_warnings_as_errors(built_html):
    assert (built_html / "index.html").is_file()
    for page in toc_pages():
        assert (built_html / f"{page}.html").is_file(), f"{page} was not rendered"
    for notebook in (ROOT / "notebooks").glob("*.ipynb"):
        page = (built_html / "notebooks" / f"{notebook.stem}.html").read_text()
        link = f"colab.research.google.com/github/sslsan-project/sslsan/blob/main/notebooks/{notebook.name}"
        assert link in page, f"{notebook.name}: Colab launch button missing or pointing elsewhere"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is missing in CI (`make test` installs Debian's chromium when run as root)")
    pytest.skip("headless Chromium not found: `sudo apt-get install chromium` to check the rendered pages")


def rendered_dom(browser: str, page) -> str:
    """The page's DOM after its scripts ran (a 5 s virtual time budget lets redirects and theme scripts finish)."""
    out = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.mark.slow
def test_pages_render_in_headless_chromium(built_html):
    """Every page renders in a real browser: its figures load (files exist, PNGs decode) and no cell shows an
    error; notebook pages that plot show their figures; pasted (glued) numbers are present."""
    import base64
    import re

    from PIL import Image

    browser = chromium()
    index = rendered_dom(browser, built_html / "index.html")
    assert "<h1" in index, "index.html did not lead to a rendered page"
    for page in toc_pages():
        path = built_html / f"{page}.html"
        dom = rendered_dom(browser, path)
        assert "<h1" in dom, f"{page}: no title rendered"
        for marker in ("Traceback (most recent call last)", 'class="output traceback"', "output stderr"):
            assert marker not in dom, f"{page}: the rendered page shows an error output ({marker})"
        images = re.findall(r'<img[^>]+src="([^"]+)"', dom)
        for src in images:
            if src.startswith("data:image/png;base64,"):
                data = base64.b64decode(src.split(",", 1)[1])
                assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{page}: an inline figure is not a PNG"
                continue
            if src.startswith(("http://", "https://", "data:")):
                continue
            target = (path.parent / src.split("#")[0].split("?")[0]).resolve()
            assert target.is_file() and target.stat().st_size > 0, f"{page}: figure {src} is missing"
            if target.suffix == ".png":
                with Image.open(target) as picture:
                    assert min(picture.size) > 10, f"{page}: figure {src} is empty"
        if page.startswith("notebooks/"):
            notebook = nbformat.read(ROOT / f"{page}.ipynb", as_version=4)
            plots = sum("image/png" in o.get("data", {}) for c in notebook.cells if c.cell_type == "code"
                        for o in c.outputs)
            shown = sum(1 for src in images if "_images/" in src or src.startswith("data:image/png"))
            assert shown >= plots, f"{page}: {plots} figures in the notebook, {shown} rendered"
        if page == "book/report":
            assert "/notebooks/05_evaluation.ipynb::" not in dom and "VERDICT" not in dom, \
                f"{page}: unresolved glue or an unfinished verdict"


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
