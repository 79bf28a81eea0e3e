"""The house rules a reviewer checks by reading, checked by the import graph instead (issue 20).

An import circle means two modules cannot be read, tested or replaced apart: whichever one a
newcomer opens first, the other has to be understood too. grimp builds the graph from the source,
function-level imports included (a circle hidden inside a function is still a circle).
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("pipeline", "parsers", "tests")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, cache_dir=None)  # no cache: a stale one hides a new import


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_circle_finder_finds_a_circle_and_no_false_one():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


@pytest.mark.parametrize("package", ["pipeline", "parsers"])
def test_the_product_has_no_import_circle(graph: grimp.ImportGraph, package: str):
    modules = {m for m in graph.modules if m == package or m.startswith(package + ".")}
    edges = {m: {n for n in graph.find_modules_directly_imported_by(m) if n in modules} for m in modules}
    assert circles(edges) == []


def test_the_product_never_imports_the_tests(graph: grimp.ImportGraph):
    """Test support lives with the tests (the replica): the product runs without them."""
    product = {m for m in graph.modules if m.split(".")[0] in ("pipeline", "parsers")}
    leaks = sorted(
        (m, n) for m in product for n in graph.find_modules_directly_imported_by(m) if n.split(".")[0] == "tests"
    )
    assert leaks == []
