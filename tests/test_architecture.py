"""The package's structure, checked from the source with ``ast`` so that it stays true.

- the import graph of ``sslsan`` has no circle (imports inside functions count too);
- nothing but the console entry (``sslsan.__main__``) imports ``sslsan.cli``;
- ``sslsan.metrics`` imports nothing of ours but its own modules;
- ``sslsan.data`` never imports the model, training or evaluation layers;
- argparse appears only in ``sslsan.cli``; every public name of ``sslsan`` resolves.
"""

import ast
from pathlib import Path

import pytest

import sslsan

PACKAGE = Path(sslsan.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(tree: ast.AST) -> set[str]:
    """Every ``sslsan...`` module or name an ``import`` anywhere in ``tree`` refers to."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sslsan") and not node.level:
            names |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names if alias.name.startswith("sslsan")}
    return names


def source_tree(path: Path) -> ast.AST:
    tree = ast.parse(path.read_text())
    # the TYPE_CHECKING block of sslsan/__init__ only names the public API for IDEs; it never runs
    for node in list(ast.walk(tree)):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if isinstance(block, list):
                setattr(node, field, [n for n in block if not (isinstance(n, ast.If)
                                                               and ast.unparse(n.test) == "TYPE_CHECKING")])
    return tree


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = {module_name(p): source_tree(p) for p in PACKAGE.rglob("*.py")}

    def owner(name: str) -> str:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name

    edges = {}
    for name, tree in modules.items():
        targets = {owner(n) for n in imported(tree)} - {"", name, "sslsan"}
        # a package's own submodules are below it, not beside it
        edges[name] = {t for t in targets if not t.startswith(name + ".")}
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_import_graph_has_no_circle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_circle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_only_the_console_entry_imports_the_cli(graph):
    users = {m for m, deps in graph.items() if any(d == "sslsan.cli" or d.startswith("sslsan.cli.") for d in deps)}
    assert users - {"sslsan.__main__"} <= {m for m in graph if m.startswith("sslsan.cli")}
    assert not {m for m in users if not m.startswith("sslsan.cli")} - {"sslsan.__main__"}


def test_metrics_imports_only_its_own_modules(graph):
    for module, deps in graph.items():
        if module == "sslsan.metrics" or module.startswith("sslsan.metrics."):
            assert all(d.startswith("sslsan.metrics") for d in deps), (module, deps)


def test_data_stays_below_models_training_and_evaluation(graph):
    upper = ("sslsan.models", "sslsan.methods", "sslsan.metrics", "sslsan.features", "sslsan.runs",
             "sslsan.train", "sslsan.pretrain", "sslsan.evaluate", "sslsan.experiments", "sslsan.viz",
             "sslsan.explore", "sslsan.book", "sslsan.reference_rows")
    for module, deps in graph.items():
        if module.startswith("sslsan.data"):
            assert not [d for d in deps if d.startswith(upper)], (module, deps)


def test_argparse_lives_only_in_the_cli():
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text())
        uses = any(isinstance(n, ast.Import) and any(a.name == "argparse" for a in n.names)
                   or isinstance(n, ast.ImportFrom) and n.module == "argparse" for n in ast.walk(tree))
        assert not uses or module_name(path).startswith("sslsan.cli"), path


def test_every_public_name_resolves():
    for name in sslsan.__all__:
        assert getattr(sslsan, name) is not None, name
    with pytest.raises(AttributeError):
        sslsan.no_such_name  # noqa: B018


def test_the_api_page_names_every_public_name(repo_root):
    page = (repo_root / "book" / "api.md").read_text()
    missing = [name for name, module in sslsan.API.items()
               if f"`{name}`" not in page and f"`sslsan.{name}`" not in page]
    assert not missing, f"book/api.md does not list {missing}"
