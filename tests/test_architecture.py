"""The package's import graph: no cycles, each layer imports only from the layers above it.

Reads every module of ``src/mrekit`` with :mod:`ast` (nothing is imported), so it sees
module-level and function-level imports alike. The layers are those of
``docs/architecture.md``: the whole number is the layer, the decimal orders the modules
inside one (``formats`` reads with ``files``; ``datasets`` reads with ``formats``).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mrekit"

#: Module (or package) -> layer; a module may import only from layers with a smaller number.
LAYERS: dict[str, float] = {
    "mrekit.errors": 1.0,
    "mrekit.schema": 1.1,
    "mrekit.files": 1.2,
    "mrekit.outputs": 1.2,
    "mrekit.config": 1.2,
    "mrekit.alignment": 2.0,
    "mrekit.tags": 2.0,
    "mrekit.formats": 2.1,
    "mrekit.metrics": 2.1,
    "mrekit.stats": 2.1,
    "mrekit.datasets": 2.2,
    "mrekit.runtime": 3.0,
    "mrekit.integrity": 3.0,
    "mrekit.modelcard": 3.0,
    "mrekit.pretrained": 3.5,
    "mrekit.predictor": 4.0,
    "mrekit.conditioning": 4.5,
    "mrekit.trainer": 5.0,
    "mrekit.encoder": 6.0,
    "mrekit.generative": 6.0,
    "mrekit.study": 7.0,
    "mrekit.fewshot": 7.0,
    "mrekit.server": 7.0,
    "mrekit.annotate": 7.0,
    "mrekit.cli": 8.0,
    "mrekit.__main__": 8.5,
    "mrekit": 9.0,  # the package facade re-exports the public API (lazily)
}
#: mrekit modules that need an optional extra: the only ones another module may import inside a function.
OPTIONAL_EXTRAS = {
    "mrekit.server": "fastapi, uvicorn (mrekit[server])",
    "mrekit.formats.spacy": "spacy (mrekit[spacy])",
    "mrekit.annotate.ray_engine": "ray (mrekit[ray])",
}
ENGINES = ("mrekit.encoder", "mrekit.generative")


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in SRC.rglob("*.py")}


def imports_of(name: str) -> list[tuple[str, int, bool]]:
    """``(imported mrekit module, line, at module level)`` for every import in ``name``."""
    path = MODULES[name]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    top_level = {id(node) for node in tree.body}
    top_level |= {id(n) for node in tree.body if isinstance(node, ast.If | ast.Try) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(
                    package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                )
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == "mrekit" or target.startswith("mrekit."):
                if _type_checking_only(tree, node):
                    continue
                found.append((_resolve(target), node.lineno, id(node) in top_level))
    return found


def _resolve(target: str) -> str:
    while target not in MODULES and "." in target:
        target = target.rpartition(".")[0]
    return target


def _type_checking_only(tree: ast.Module, node: ast.AST) -> bool:
    for block in tree.body:
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test):
            if any(n is node for n in ast.walk(block)):
                return True
    return False


def layer_of(name: str) -> int:
    while name not in LAYERS:
        name = name.rpartition(".")[0]
    return LAYERS[name]


GRAPH = {name: imports_of(name) for name in MODULES}


def test_every_module_has_a_layer():
    missing = []
    for name in MODULES:
        probe = name
        while probe and probe not in LAYERS:
            probe = probe.rpartition(".")[0]
        if not probe:
            missing.append(name)
    assert missing == []


def test_no_import_cycles():
    """Tarjan's strongly connected components over module- and function-level imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w, _, _ in GRAPH[v]:
            if w == v or w == "mrekit":
                continue  # the facade is imported by nobody inside the package
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
                cycles.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    assert cycles == []


def test_each_layer_imports_only_from_the_layers_above():
    wrong = [
        f"{name}:{line} imports {target} (layer {layer_of(target)} >= {layer_of(name)})"
        for name, edges in GRAPH.items()
        for target, line, _ in edges
        if target != name
        and not target.startswith(name + ".")
        and not name.startswith(target + ".")
        and layer_of(target) >= layer_of(name)
        and not _same_package(name, target)
    ]
    assert wrong == []


def _same_package(a: str, b: str) -> bool:
    """Modules of one package (``mrekit.encoder.*``) may import each other (acyclically)."""
    top = {p for p in LAYERS if p.count(".") == 1}
    pa = next((p for p in top if a == p or a.startswith(p + ".")), None)
    pb = next((p for p in top if b == p or b.startswith(p + ".")), None)
    return pa is not None and pa == pb


def test_the_engines_never_import_each_other():
    crossing = [
        f"{name}:{line} imports {target}"
        for name, edges in GRAPH.items()
        for target, line, _ in edges
        for mine, other in (ENGINES, ENGINES[::-1])
        if name.startswith(mine) and target.startswith(other)
    ]
    assert crossing == []


def test_no_function_level_imports_of_mrekit_modules():
    late = [
        f"{name}:{line} imports {target} inside a function"
        for name, edges in GRAPH.items()
        for target, line, top in edges
        if not top and target != name and not any(target == m or target.startswith(m + ".") for m in OPTIONAL_EXTRAS)
    ]
    assert late == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_readable(name):
    lines = MODULES[name].read_text(encoding="utf-8").count("\n")
    assert lines <= 520, f"{name} has {lines} lines; split it by what its parts hold"
