"""Self-contained model code for Hub users who do not install hf_skeleton.

transformers' ``trust_remote_code`` loader copies a module and the modules it imports *relatively
from the same folder*. Our models import across the package (``..rendering``, ``...errors``), so
:func:`write_remote_code` copies the import closure of a model class into the saved folder as flat
modules and rewrites every package-internal import to a same-folder one. ``config.json`` then
carries an ``auto_map`` pointing at those copies, and
``AutoModel.from_pretrained(folder, trust_remote_code=True)`` works in a process that never
imports hf_skeleton (see tests/test_remote_code.py).

A folder holds only what loading and running the model needs: the model's own modules, the skeleton
data model and the parameter-free rendering modules they import. Packaging tools the package itself
uses (this module, imported by ``save_pretrained``) are not copied; in a copy, an import from them
becomes plain assignments (literal constants keep their value, anything else is None), which is all
a model loaded from a folder needs: it saves itself through transformers, not through this module.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
from pathlib import Path

PACKAGE = "hf_skeleton"
PACKAGE_ROOT = Path(__file__).resolve().parent
# modules for the installed package only: never copied into a folder (see the module docstring)
NOT_COPIED = frozenset({f"{PACKAGE}.remote_code"})


def _module_file(module: str) -> Path | None:
    rel = module.split(".")[1:]
    base = PACKAGE_ROOT.joinpath(*rel)
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return None


def _module_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE_ROOT).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _target(node: ast.ImportFrom, module: str, is_package: bool) -> str | None:
    """The absolute hf_skeleton module an ImportFrom reads from, or None for other packages."""
    if node.level == 0:
        base = node.module or ""
        return base if base == PACKAGE or base.startswith(PACKAGE + ".") else None
    pkg = module.split(".") if is_package else module.split(".")[:-1]
    pkg = pkg[: len(pkg) - (node.level - 1)]
    return ".".join(pkg + ([node.module] if node.module else []))


def _submodules(node: ast.ImportFrom, base: str) -> dict[str, str]:
    """Imported names that are submodules of ``base`` (``from . import x``): name -> module."""
    out = {}
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        if _module_file(sub) is not None and _module_file(sub) != _module_file(base):
            out[alias.name] = sub
    return out


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """Absolute hf_skeleton modules an ImportFrom needs."""
    base = _target(node, module, is_package)
    if base is None:
        return []
    subs = _submodules(node, base)
    plain = [a for a in node.names if a.name not in subs]
    return ([base] if plain and _module_file(base) else []) + list(subs.values())


def _closure(root_modules: list[str]) -> dict[str, Path]:
    todo, seen = list(root_modules), {}
    while todo:
        module = todo.pop()
        if module in seen or module in NOT_COPIED:
            continue
        path = _module_file(module)
        if path is None:
            continue
        seen[module] = path
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                todo.extend(_resolve(node, module, path.name == "__init__.py"))
            elif isinstance(node, ast.Import) and any(
                    a.name == PACKAGE or a.name.startswith(PACKAGE + ".") for a in node.names):
                raise ValueError(f"{path}: use 'from ... import' for package modules in model code")
    return seen


def _flat_names(modules: dict[str, Path]) -> dict[str, str]:
    """Module -> flat file stem; the last path component, prefixed with its parents on a clash."""
    names: dict[str, str] = {}
    for depth in range(1, 6):
        candidates = {m: "_".join(m.split(".")[-depth:]) for m in modules if m not in names}
        counts: dict[str, int] = {}
        for stem in list(candidates.values()) + list(names.values()):
            counts[stem] = counts.get(stem, 0) + 1
        for module, stem in candidates.items():
            if counts[stem] == 1 and stem != PACKAGE:
                names[module] = stem
    for module in modules:
        names.setdefault(module, module.replace(".", "_"))
    return names


def _placeholders(node: ast.ImportFrom, base: str) -> list[str]:
    """Assignments that stand in for an import from a module that is not copied."""
    source = importlib.import_module(base)
    out = []
    for alias in node.names:
        value = getattr(source, alias.name, None)
        literal = value if isinstance(value, (str, int, float, bool)) else None
        out.append(f"{alias.asname or alias.name} = {literal!r}  # {base}.{alias.name}: not part of a saved folder")
    return out


def _rewrite(path: Path, module: str, flat: dict[str, str]) -> str:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines(keepends=True)
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = _target(node, module, path.name == "__init__.py")
        if base is None:
            continue
        first = lines[node.lineno - 1]
        indent = first[: len(first) - len(first.lstrip())]
        if base in NOT_COPIED:
            new = [f"{indent}{line}\n" for line in _placeholders(node, base)]
        else:
            subs = _submodules(node, base)
            names = [f"{a.name} as {a.asname}" if a.asname else a.name for a in node.names if a.name not in subs]
            new = [f"{indent}from .{flat[base]} import {', '.join(names)}\n"] if names else []
            new += [f"{indent}from . import {flat[subs[a.name]]} as {a.asname or a.name}\n"
                    for a in node.names if a.name in subs]
        lines[node.lineno - 1] = "".join(new)
        for index in range(node.lineno, node.end_lineno):  # continuation lines of a multi-line import
            lines[index] = ""
    header = f"# Copied from {module} by hf_skeleton.remote_code for trust_remote_code loading.\n"
    return header + "".join(lines)


def write_remote_code(folder: str | Path, classes: dict[str, type]) -> dict[str, str]:
    """Copy the code of ``classes`` into ``folder`` and return the ``auto_map`` that points at it.

    Args:
        folder: the save_pretrained folder.
        classes: Auto class name -> class, e.g. ``{"AutoConfig": DrActionConfig, "AutoModel": DrActionModel}``.
    """
    folder = Path(folder)
    roots = [cls.__module__ for cls in classes.values()]
    modules = _closure(roots)
    flat = _flat_names(modules)
    for module, path in modules.items():
        (folder / f"{flat[module]}.py").write_text(_rewrite(path, module, flat), encoding="utf-8")
    return {auto: f"{flat[cls.__module__]}.{cls.__name__}" for auto, cls in classes.items()}


def remote_code_available() -> bool:
    """Whether the package sources are on disk (not a zipped or compiled install)."""
    return importlib.util.find_spec(PACKAGE) is not None and (PACKAGE_ROOT / "__init__.py").is_file()
