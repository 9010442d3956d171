"""One error tree (errors.py): every exception the package defines descends from RoutewayError, so a caller can
tell Routeway's own failures from a bug's, and the tree in errors.py's docstring names them all."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import routeway
from routeway import errors


def _defined_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(routeway.__path__, "routeway."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_the_package_defines_is_in_the_one_tree() -> None:
    defined = _defined_exceptions()
    assert len(defined) > 30  # the walk found the package's errors
    outside = sorted(name for name, kind in defined.items() if not issubclass(kind, errors.RoutewayError))
    assert outside == []


def test_the_internal_exceptions_are_named_in_the_trees_docstring() -> None:
    internal = [kind for kind in _defined_exceptions().values() if not issubclass(kind, errors.GatewayError)]
    assert internal  # RoutewayError, ConflictError, the upstream failures, ...
    missing = sorted(kind.__name__ for kind in internal if kind.__name__ not in (errors.__doc__ or ""))
    assert missing == []
