"""The import contract: layers point one way. Every `import`/`from … import` of the package (at any depth,
lazy ones inside functions included) is read with ast and checked against what its layer may import.

    leaf (bars, timeframes, symbols) -> client -> storage -> rules -> settings -> defs -> cli
    sandbox beside the client (the leaf modules only); environment, bench and faults below cli.

rules/ is a pure library: it may not import storage (nor Dagster), so it can be tested and reused alone.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "marketdata_pipeline"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

LEAF = {"bars", "timeframes", "symbols"}
# Layer (first part of the module path below the package) -> the layers it may import, besides its own.
ALLOWED: dict[str, set[str]] = {
    "bars": set(),
    "timeframes": set(),
    "symbols": set(),
    "sandbox": LEAF,  # it serves Polygon's API, so it shares the bar schema and the page limit
    "client": LEAF,
    "storage": LEAF | {"client"},
    "rules": LEAF,
    "settings": LEAF | {"client", "rules"},
    "environment": LEAF | {"client", "storage", "rules", "settings"},
    # Without a configured database, the read path starts the embedded one `marketdata run` uses.
    "read": LEAF | {"client", "storage", "rules", "settings", "environment"},
    "quant": LEAF | {"rules"},
    "defs": LEAF | {"client", "storage", "rules", "settings", "quant"},
    "definitions": LEAF | {"client", "storage", "rules", "settings", "quant", "defs"},
    "bench": LEAF | {"client", "storage", "rules", "settings", "environment", "defs", "sandbox", "quant", "read"},
    "faults": LEAF | {"client", "storage", "rules", "settings", "environment", "defs", "sandbox", "bench"},
    "cli": LEAF | {"client", "storage", "rules", "settings", "environment", "defs", "sandbox", "bench", "faults",
                   "definitions", "read"},
    "__init__": LEAF | {"read", "storage", "settings"},
}
# Third-party modules a layer must not need: the lower layers do not know Dagster exists.
FORBIDDEN_THIRD_PARTY = {"client": {"dagster", "sqlalchemy", "psycopg"}, "rules": {"dagster"}, "bars": {"dagster"}}
# Modules of a layer allowed one exception, with the reason.
EXCEPTIONS = {
    # The IO manager and the database resource are storage's Dagster face (LAYOUT.md puts them in storage/).
    ("storage", "dagster"): {"storage/io_manager.py", "storage/resource.py"},
}


def layer_of(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package_parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts[:-1]]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = ".".join(package_parts[: len(package_parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
                # `from . import x` imports submodules: check each.
                found += [(node.lineno, f"{module}.{a.name}") for a in node.names] if not node.module else []
                found.append((node.lineno, module))
            elif node.module:
                found.append((node.lineno, node.module))
                if node.module == PACKAGE:  # `from marketdata_pipeline import x`
                    found += [(node.lineno, f"{PACKAGE}.{a.name}") for a in node.names]
    return found


def violations(root: Path = ROOT) -> list[str]:
    problems = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        own = relative.parts[0].removesuffix(".py")
        allowed = ALLOWED.get(own)
        if allowed is None:
            problems.append(f"{relative}: layer {own!r} is not in the contract (add it to ALLOWED)")
            continue
        for line, module in imports(path, root):
            top = module.split(".")[0]
            if top == PACKAGE and module != PACKAGE:
                target = layer_of(module)
                if target != own and target not in allowed:
                    problems.append(f"{relative}:{line}: {own} may not import {module} (layer {target})")
            elif top in FORBIDDEN_THIRD_PARTY.get(own, set()) and str(relative) not in EXCEPTIONS.get((own, top), set()):
                problems.append(f"{relative}:{line}: {own} may not import {top}")
            if own == "storage" and top == "dagster" and str(relative) not in EXCEPTIONS[("storage", "dagster")]:
                problems.append(f"{relative}:{line}: storage may use dagster only in {EXCEPTIONS[('storage', 'dagster')]}")
    return problems


def test_no_module_imports_upward():
    assert violations() == []


def test_the_contract_catches_an_upward_import(tmp_path):
    """The check can fail: a client module importing storage (the cycle this contract exists to prevent)."""
    (tmp_path / "client").mkdir()
    (tmp_path / "client" / "budget.py").write_text(
        "def f():\n    from marketdata_pipeline.storage.database import engine_for\n"
    )
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "quality.py").write_text("import dagster as dg\nfrom ..defs import resources\n")
    assert violations(tmp_path) == [
        "client/budget.py:2: client may not import marketdata_pipeline.storage.database (layer storage)",
        "rules/quality.py:1: rules may not import dagster",
        "rules/quality.py:2: rules may not import marketdata_pipeline.defs (layer defs)",
    ]


@pytest.mark.parametrize(
    "module",
    ["marketdata_pipeline.storage.bars", "marketdata_pipeline.storage.io_manager", "marketdata_pipeline.storage.request_budget"],
)
def test_importing_storage_leaves_logging_alone(module):
    """The client's log redaction is installed when a client is built, not as a side effect of an import."""
    import subprocess
    import sys

    code = (
        f"import logging, {module}\n"
        "names = ('marketdata_pipeline.client', 'httpx', 'httpcore.http11')\n"
        "assert not any(logging.getLogger(n).filters for n in names), 'filters installed on import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT.parent)
