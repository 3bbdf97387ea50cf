"""Imports run one way: component -> configuration -> datasets -> customerio / output / concurrency. A cycle in
src/ fails here (read from the source with ast, so a cycle hidden behind a lazy import inside a function counts)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in SRC.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if target in modules and target != name:
                    graph[name].add(target)
        # A submodule imports its package's __init__ first.
        if "." in name:
            graph[name].add(name.rpartition(".")[0])
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def _import_edges_without_package_inits(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # A package's __init__ re-exports its submodules (datasets/__init__ imports every dataset to build REGISTRY);
    # the submodule -> own package edge is an artefact of Python's loading, not a dependency the code chose.
    return {name: {t for t in targets if not name.startswith(t + ".")} for name, targets in graph.items()}


def test_src_has_no_import_cycle():
    graph = _import_edges_without_package_inits(_graph())
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_imports_run_one_way_between_the_layers():
    graph = _graph()
    for name, targets in graph.items():
        top = name.split(".")[0]
        tops = {target.split(".")[0] for target in targets}
        if top in ("datasets", "customerio", "output", "concurrency", "progress", "memory"):
            assert "configuration" not in tops and "component" not in tops, name
        if top in ("customerio", "output"):
            assert "datasets" not in tops, name
    assert "configuration" not in {t.split(".")[0] for t in graph["datasets.settings"]}
    assert not {t for t in graph["datasets.settings"] if t.startswith("datasets.") and t != "datasets"}


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
