"""The code's floors hold: no import cycle among fidec's modules, function-local imports included. (The floors
themselves are the layers contract of ``.importlinter``, checked by ``lint-imports`` in scripts/test.sh.)"""

from __future__ import annotations

import grimp

from fidec.errors import FidecError


def _strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """Tarjan's algorithm over fidec's modules; only components of two or more modules are returned."""
    modules = sorted(m for m in graph.modules if m.startswith("fidec"))
    edges = {m: sorted(x for x in graph.find_modules_directly_imported_by(m) if x.startswith("fidec")) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for m in modules:
        if m not in index:
            visit(m)
    return found


def _graph() -> grimp.ImportGraph:
    # grimp reads every import statement, those inside functions included
    return grimp.build_graph("fidec", cache_dir=None)


def test_cycle_finder_sees_a_function_local_cycle(tmp_path, monkeypatch):
    """The check itself: a cycle closed only by an import inside a function is found."""
    pkg = tmp_path / "cyclepkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "low.py").write_text("def f():\n    from cyclepkg import high\n    return high\n")
    (pkg / "high.py").write_text("from cyclepkg import low\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    graph = grimp.build_graph("cyclepkg", cache_dir=None)
    graph_fidec = grimp.ImportGraph()
    for m in graph.modules:
        graph_fidec.add_module(m.replace("cyclepkg", "fidec"))
    for m in graph.modules:
        for x in graph.find_modules_directly_imported_by(m):
            graph_fidec.add_import(importer=m.replace("cyclepkg", "fidec"), imported=x.replace("cyclepkg", "fidec"))
    assert _strongly_connected(graph_fidec) == [["fidec.high", "fidec.low"]]


def test_no_import_cycles():
    cycles = _strongly_connected(_graph())
    assert not cycles, "import cycles among fidec's modules: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_errors_is_the_ground_floor():
    """fidec.errors imports nothing of fidec: every floor may raise its errors."""
    assert FidecError.__module__ == "fidec.errors"
    assert not [m for m in _graph().find_modules_directly_imported_by("fidec.errors") if m.startswith("fidec")]
