"""The package's public API is imported on first use: the pure domain loads alone."""

from __future__ import annotations

import subprocess
import sys

import kinko


def test_importing_the_domain_loads_no_database_or_chain_library() -> None:
    code = ("import sys, kinko.domain.ledger, kinko.domain.screening; "
            "print(sorted(m for m in ('sqlalchemy', 'web3', 'fastapi', 'eth_account') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout.strip()
    assert out == "[]"


def test_every_public_name_resolves_and_nothing_else_does() -> None:
    for name in kinko.__all__:
        assert getattr(kinko, name) is not None, name
    assert sorted(dir(kinko)) == sorted(kinko.__all__)
    try:
        kinko.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:
        raise AssertionError("an unknown name resolved")


def test_no_module_imports_itself_in_a_circle() -> None:
    """Circles make a module's meaning depend on import order; none is left (type-checking
    imports and imports inside functions count too)."""
    import grimp

    graph = grimp.build_graph("kinko")
    circles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            if graph.chain_exists(importer=imported, imported=module):
                circles.add(tuple(sorted((module, imported))))
    assert sorted(circles) == []


def test_every_error_class_is_in_the_one_tree_with_its_http_status() -> None:
    """Errors are declared once, in kinko.errors, each with the answer the API gives."""
    import importlib
    import pkgutil

    from kinko import errors

    for module in pkgutil.walk_packages(kinko.__path__, "kinko."):
        if module.name != "kinko.__main__" and ".migrations" not in module.name:
            importlib.import_module(module.name)
    found, todo = [], [errors.KinkoError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    public = [c for c in found if not c.__name__.startswith("_")]
    assert {c.__module__ for c in public} == {"kinko.errors"}, \
        sorted(f"{c.__module__}.{c.__name__}" for c in public if c.__module__ != "kinko.errors")
    # and ValueRefused, the reason (a ValueError) an error of the tree nests
    assert sorted(c.__name__ for c in public) == sorted(set(errors.__all__) - {"ValueRefused"})
    assert issubclass(errors.ValueRefused, ValueError)
    for cls in public:
        assert 400 <= cls.http_status < 600, cls
    assert errors.EnvironmentProblem.http_status == 503
    assert errors.Overdraft.http_status == 422 and errors.NotFound.http_status == 404
