"""Static checks of the environment files (conda itself cannot run here)."""

import re
import tomllib

import yaml

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)")


def read_pins(path):
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            match = PIN.match(line)
            assert match, f"{path.name}: {line!r} is not an exact '==' pin"
            pins[match.group(1).lower().replace("_", "-")] = match.group(2)
    return pins


def test_requirements_lock_pins_everything_and_agrees_with_requirements_in(repo_root):
    direct = read_pins(repo_root / "requirements.in")
    lock = read_pins(repo_root / "requirements.txt")
    for name, version in direct.items():
        assert lock.get(name) == version, f"requirements.txt pins {name}=={lock.get(name)}, requirements.in {version}"
    # the torch triple that installs and runs together (torchaudio stops at 2.11 on PyPI)
    assert (lock["torch"], lock["torchvision"], lock["torchaudio"]) == ("2.11.0", "0.26.0", "2.11.0")
    assert lock["jupyter-book"].startswith("1."), "Jupyter Book 2.x cannot build offline"
    for needed in ("jupyter", "ipywidgets", "seaborn", "papermill", "nbval", "pytest", "soundfile"):
        assert needed in direct


def test_package_metadata_uses_lower_bounds_only(repo_root):
    meta = tomllib.loads((repo_root / "pyproject.toml").read_text())["project"]
    deps = list(meta["dependencies"]) + [d for group in meta["optional-dependencies"].values() for d in group]
    for dep in deps:
        assert "==" not in dep, f"{dep}: exact pins in package metadata would re-pin torch on Colab"
    torch_like = [d for d in meta["dependencies"] if d.startswith(("torch", "numpy"))]
    assert all("<" not in d for d in torch_like), torch_like
    assert meta["requires-python"] == ">=3.10"
    assert meta["scripts"]["sslsan"] == "sslsan.cli:main"


def test_environment_yml_reuses_the_pip_lock(repo_root):
    env = yaml.safe_load((repo_root / "environment.yml").read_text())
    assert env["name"] == "sslsan"
    deps = env["dependencies"]
    assert "python=3.11" in deps and "pip" in deps
    pip_section = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    assert pip_section == ["-r requirements.txt"]
    assert (repo_root / "requirements.txt").is_file()


def test_readme_commands_are_what_ci_runs(repo_root):
    readme = (repo_root / "README.md").read_text()
    assert "make book" in readme and "make test" in readme
    ci = (repo_root / ".ci" / "run").read_text()
    assert re.search(r"^\s*make test\s*$", ci, re.M), ".ci/run must call the README's test command"
