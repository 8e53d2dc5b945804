"""The house: each layer imports only the layers below it (module level and inside functions alike),
no import cycle between packages, no module over 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "hf_skeleton"

# lower rank = lower layer; a module may import modules of its own rank or below
RANK = {
    "errors": 0,
    "skeletons": 1, "data": 1, "video": 1, "embedded": 1,
    "viz": 2, "backbones": 2, "backbone_weights": 2, "tokenizer_reference": 2, "remote_code": 2, "modeling_utils": 2, "processing": 2, "rendering": 2, "dataset_tools": 2,
    "cards": 2,
    "hub": 3, "models": 3,
    "evaluation": 4, "pipelines": 4,
    "testing": 5, "testing_published": 5, "training": 5, "demo": 5,
    "cli": 6, "app": 6,  # the two front ends; neither imports the other's modules
}
GLUE = {"__init__", "_registration"}  # the lazy public API and the Auto-class registration see everything


def _package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> dict[str, set[str]]:
    """module -> the hf_skeleton modules it imports anywhere in its code."""
    edges: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        package = module if is_package else module.rsplit(".", 1)[0]
        found = edges.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target.startswith("hf_skeleton"):
                    found.add(target)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("hf_skeleton"))
    return edges


def test_every_package_has_a_layer():
    packages = {_package_of(m) for m in _imports()} - GLUE
    assert packages <= set(RANK), sorted(packages - set(RANK))


def test_layers_import_only_downward():
    upward = []
    for module, targets in _imports().items():
        source = _package_of(module)
        if source in GLUE:
            continue
        for target in targets:
            dest = _package_of(target)
            if dest not in GLUE and RANK[dest] > RANK[source]:
                upward.append(f"{module} -> {target}")
            elif dest == "__init__" and source != "cli":  # only the CLI reads the version from the package
                upward.append(f"{module} -> {target}")
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for module, targets in _imports().items():
        source = _package_of(module)
        if source in GLUE:
            continue
        graph.setdefault(source, set()).update(_package_of(t) for t in targets
                                               if _package_of(t) not in GLUE | {source})
    seen: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(graph.get(node, ())):
            assert seen.get(nxt) != 1, "cycle: " + " -> ".join(path + [nxt])
            if nxt not in seen:
                visit(nxt, path + [nxt])
        seen[node] = 2

    for package in sorted(graph):
        if package not in seen:
            visit(package, [package])


def test_no_module_over_500_lines():
    long = {str(p.relative_to(SRC)): n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > 500}
    assert not long, long
