"""The package's import graph: no cycle, no upward import, `testing` never imported by the core."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "auditlib"

# Lower layers never import higher ones; one layer's packages may import each other as long
# as no cycle forms (checked separately).
LAYERS: dict[str, float] = {
    "": 0,  # the shared core: errors, files, yamlio, requirements, certs, dn, registry...
    "checkpoints": 1,
    "evidence": 1,
    "tls": 1,
    "traces": 1,
    "testing": 1.5,
    "audit": 2,
    "report": 3,
    "sign": 3,
    "batch": 4,
    "demo": 5,
    "cli": 6,
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, runtime_only: bool) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    skip: set[int] = set()
    if runtime_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                skip.update(id(n) for n in ast.walk(node))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("auditlib"):
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("auditlib"))
    return found


def _graph(runtime_only: bool) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {
        name: {m for m in _imports(path, runtime_only) if m in modules and m != name}
        for name, path in modules.items()
    }


def _layer(module: str) -> tuple[str, float]:
    if module == "auditlib.__main__":  # `python -m auditlib`: the entry point, above the CLI
        return "__main__", 7
    parts = module.split(".")
    package = parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""
    return package, LAYERS[package]


def test_every_subpackage_has_a_layer() -> None:
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages - {"_templates", "_notebooks", "_data"} <= set(LAYERS)


def test_no_upward_import() -> None:
    upward = []
    for module, imported in _graph(runtime_only=False).items():
        package, rank = _layer(module)
        for target in imported:
            target_package, target_rank = _layer(target)
            if target_package != package and target_rank > rank:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_core_never_imports_testing() -> None:
    offenders = [
        f"{module} -> {target}"
        for module, imported in _graph(runtime_only=False).items()
        if _layer(module)[0] not in ("testing", "demo", "cli")
        for target in imported
        if _layer(target)[0] == "testing"
    ]
    assert offenders == []


def test_no_import_cycle() -> None:
    graph = _graph(runtime_only=True)
    # A package's __init__ importing its own modules is the package's API, not a cycle.
    for module in graph:
        if (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists():
            graph[module] = set()
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt) :], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_every_error_class_is_under_the_one_root() -> None:
    import importlib
    import inspect

    from auditlib.errors import AuditlibError

    strays = []
    for path in PACKAGE.rglob("*.py"):
        name = _module_name(path)
        if name == "auditlib.__main__":
            continue
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, Exception)  # not KeyboardInterrupt-like signals
                and value.__module__ == name
                and not issubclass(value, AuditlibError)
            ):
                strays.append(f"{name}.{attr}")
    assert strays == []
