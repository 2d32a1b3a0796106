"""Guards for the rules in docs/architecture.md that code review alone would let slip."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest
from django.apps import apps

SRC = Path(__file__).resolve().parents[1] / "src" / "tierdesk"
OUR_APPS = [cfg for cfg in apps.get_app_configs() if cfg.name.startswith("tierdesk.")]

# Writes belong in services; handlers that parse and render must not touch the ORM directly.
# (``@router.delete(`` declares a DELETE endpoint of django-ninja; it writes nothing.)
ORM_WRITE = re.compile(
    r"(?<!router)\.(save|delete|bulk_create|bulk_update|update_or_create|get_or_create)\(|"
    r"\.objects\.create\(|\.update\("
)
HANDLER_MODULES = sorted({*SRC.glob("*/api.py"), *SRC.glob("*/views.py"), *SRC.glob("*/*_views.py")})


@pytest.mark.parametrize("path", HANDLER_MODULES, ids=str)
def test_handlers_do_not_write_to_the_database(path: Path) -> None:
    offending = [
        f"{path.name}:{number}: {line.strip()}"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if ORM_WRITE.search(line)
    ]
    assert not offending, "ORM writes outside services:\n" + "\n".join(offending)


@pytest.mark.parametrize("config", OUR_APPS, ids=lambda c: c.label)
def test_every_model_explains_its_domain(config) -> None:  # type: ignore[no-untyped-def]
    for model in config.get_models():
        doc = model.__doc__ or ""
        # Django fills in "Model(field, ...)" when a class has no docstring of its own.
        assert doc and not doc.startswith(f"{model.__name__}("), f"{model.__name__} needs a docstring"


SERVICE_MODULES = sorted(SRC.glob("*/services.py")) + sorted(SRC.glob("*/services/*.py"))


@pytest.mark.parametrize("path", SERVICE_MODULES, ids=str)
def test_every_public_service_is_documented_and_takes_an_actor(path: Path) -> None:
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
            continue
        assert ast.get_docstring(node), f"{path.parent.name}.services.{node.name} needs a docstring"
        decorators = {ast.unparse(d) for d in node.decorator_list}
        if "transaction.atomic" in decorators:
            kwonly = {arg.arg for arg in node.args.kwonlyargs}
            assert "actor" in kwonly, f"{node.name} must take a keyword-only actor"


def test_status_is_written_in_one_place() -> None:
    """Only ``_change_status`` assigns ``ticket.status``, so the transition table cannot be bypassed."""
    import importlib
    import pkgutil

    from tierdesk.tickets import services

    writers = []
    for info in pkgutil.iter_modules(services.__path__, prefix=f"{services.__name__}."):
        module = importlib.import_module(info.name)
        for name, func in inspect.getmembers(module, inspect.isfunction):
            if func.__module__ == module.__name__ and re.search(
                r"\bticket\.status\s*=(?!=)", inspect.getsource(func)
            ):
                writers.append(name)
    assert writers == ["_change_status"]
