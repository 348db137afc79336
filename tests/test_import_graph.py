"""No import cycle between the modules of ``src/remedy``.

The graph is built from the source with `ast`, not by importing: every ``import`` and
``from ... import`` counts, at module level and inside functions (a lazy import still ties
two modules together), except those under ``if TYPE_CHECKING:``, which never run. ``from
pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``.
Relative imports are resolved against the importing module's package. Importing a
submodule runs every package ``__init__`` above it, so those are edges too (except the
importer's own packages, already running): two packages whose ``__init__`` modules reach
into each other are a cycle even when no two leaf modules are.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

Graph = Mapping[str, frozenset[str]]


def module_names(src: Path) -> dict[str, Path]:
    """Every module under `src` by dotted name (a package by its ``__init__.py``)."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import under `node`, at any depth, except the bodies of ``if TYPE_CHECKING:``."""
    if isinstance(node, ast.If) and _type_checking(node.test):
        for child in node.orelse:
            yield from _import_nodes(child)
        return
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    for child in ast.iter_child_nodes(node):
        yield from _import_nodes(child)


def imports_of(name: str, path: Path, modules: Mapping[str, Path]) -> frozenset[str]:
    """The modules of `modules` that module `name` (source at `path`) imports."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join([*parent, *([node.module] if node.module else [])])
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            out.add(submodule if submodule in modules else base)
    # Python runs each package __init__ above an imported module first; the importer's own
    # packages are already running, so they are no edge.
    own = {name.rsplit(".", i)[0] for i in range(name.count(".") + 1)}
    for target in list(out):
        parts = target.split(".")
        out.update(".".join(parts[:i]) for i in range(1, len(parts)))
    return frozenset(m for m in out if m in modules and m not in own)


def import_graph(src: Path) -> dict[str, frozenset[str]]:
    modules = module_names(src)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: Graph) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None; depth-first, in sorted order (stable)."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path = [start]
        on_path = {start}
        stack = [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                finished = path.pop()
                on_path.discard(finished)
                done.add(finished)
                continue
            if nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_src_remedy_has_no_import_cycle() -> None:
    graph = import_graph(SRC)
    assert "remedy.policy" in graph and "remedy.actions" in graph  # the walk found the code
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def _reaches(graph: Graph, start: str) -> set[str]:
    """Every module `start` imports, directly or through others."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_ledger_s_words_and_times_are_read_downward() -> None:
    """The ledger's vocabulary (actors, a contained entry's question) and its times sit
    beside its state machine: the ledger reaches nothing above it, and the layers that
    read them (pipeline, occurrences, notifiers, views, deadlines) do not reach up into
    the approvals' decisions or into each other for them."""
    graph = import_graph(SRC)
    above_ledger = ("remedy.approvals", "remedy.pipeline", "remedy.notify", "remedy.views")
    for name in [m for m in graph if m.startswith("remedy.ledger")]:
        upward = sorted(m for m in _reaches(graph, name) if m.startswith(above_ledger))
        assert upward == [], f"{name} reaches up to {upward}"
    readers = [
        m
        for m in graph
        if m in ("remedy.pipeline", "remedy.occurrences")
        or m.startswith(("remedy.notify.", "remedy.views."))
    ]
    for name in readers:
        assert "remedy.approvals.decide" not in graph[name], name
    assert "remedy.pipeline" not in graph["remedy.views.report"]
    assert "remedy.pipeline" not in graph["remedy.views.history"]
    assert not any(m.startswith("remedy.views") for m in graph["remedy.approvals.deadlines"])


# --- the graph builder itself, on small packages --------------------------------------------


_FUNCTION_LEVEL = {
    "p/__init__.py": "",
    "p/a.py": "from p import b\n",
    "p/b.py": "def f():\n    from p.a import x\n",
}
_TYPE_CHECKING = {
    "p/__init__.py": "",
    "p/a.py": "import p.b\n",
    "p/b.py": (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from p import a\nelse:\n    import p.c\n"
    ),
    "p/c.py": "",
}
_FROM_PACKAGE = {
    "p/__init__.py": "from p.q import thing\n",
    "p/q/__init__.py": "thing = 1\n",
    "p/q/r.py": "from p.q import thing\nfrom .. import s\nfrom . import __init__\n",
    "p/s.py": "",
}

_PACKAGE_INITS = {
    "x/__init__.py": "from y.b import thing\n",
    "x/a.py": "",
    "y/__init__.py": "from x import a\n",
    "y/b.py": "thing = 1\n",
}


@pytest.mark.parametrize(
    ("files", "edges", "cycle"),
    [
        # A function-level import is an edge.
        (_FUNCTION_LEVEL, {"p.b": {"p.a"}}, ["p.a", "p.b", "p.a"]),
        # An import under TYPE_CHECKING is not; its else branch is.
        (_TYPE_CHECKING, {"p.b": {"p.c"}}, None),
        # `from pkg import name` is pkg.name if that is a module, else pkg; relative too.
        (_FROM_PACKAGE, {"p": {"p.q"}, "p.q.r": {"p.s"}}, None),
        # Two packages whose __init__ modules reach into each other's submodules.
        (_PACKAGE_INITS, {"x": {"y", "y.b"}, "y": {"x", "x.a"}}, ["x", "y", "x"]),
    ],
    ids=["function-level", "type-checking", "from-package", "package-inits"],
)
def test_graph_of_a_small_package(
    tmp_path: Path,
    files: Mapping[str, str],
    edges: Mapping[str, set[str]],
    cycle: list[str] | None,
) -> None:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    graph = import_graph(tmp_path)
    assert {name: graph[name] for name in edges} == edges
    assert find_cycle(graph) == cycle


@pytest.mark.parametrize(
    ("edges", "cycle"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b", "c"}, "b": {"c"}, "c": set()}, None),
        ({"a": {"b"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
    ],
)
def test_find_cycle(edges: dict[str, set[str]], cycle: list[str] | None) -> None:
    assert find_cycle({k: frozenset(v) for k, v in edges.items()}) == cycle
