import subprocess

import sslsan
from sslsan.cli import main

from conftest import PYTHON, clean_env


def test_version_and_help_through_python_m(repo_root):
    out = subprocess.run([PYTHON, "-m", "sslsan", "--version"], capture_output=True, text=True, cwd=repo_root)
    assert out.returncode == 0 and out.stdout.strip() == f"sslsan {sslsan.__version__}"
    out = subprocess.run([PYTHON, "-m", "sslsan", "--help"], capture_output=True, text=True, cwd=repo_root)
    assert out.returncode == 0 and "book" in out.stdout


def test_console_script_is_installed(repo_root):
    script = repo_root / ".venv" / "bin" / "sslsan"
    out = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and sslsan.__version__ in out.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 0
    assert "usage: sslsan" in capsys.readouterr().out


def test_unknown_command_is_a_usage_error(capsys):
    try:
        main(["no-such-command"])
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError("an unknown command must exit with status 2")
    assert "invalid choice" in capsys.readouterr().err


def test_book_refuses_to_write_smoke_outputs(repo_root):
    env = clean_env(SSLSAN_SMOKE="1")
    out = subprocess.run([PYTHON, "-m", "sslsan", "book", "--list"], capture_output=True, text=True, cwd=repo_root,
                         env=env)
    assert out.returncode == 2
    assert "SSLSAN_SMOKE" in out.stderr and "Traceback" not in out.stderr
