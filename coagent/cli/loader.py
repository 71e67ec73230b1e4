"""Finding the ``AgentSpec``s a node should serve, from a module or a file."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from coagent.supervision.spec import AgentSpec

__all__ = ["load_specs", "SpecLoadError"]


class SpecLoadError(Exception):
    """The target could not be imported or holds no agent specs."""


def _import(target: str) -> Any:
    path = Path(target)
    if target.endswith(".py") or path.is_file():
        if not path.is_file():
            raise SpecLoadError(f"no such file: {target}")
        directory = str(path.resolve().parent)
        if directory not in sys.path:
            # Appended, not prepended: a file named like a library (nats.py, msgspec.py)
            # beside the agents must not shadow the library itself.
            sys.path.append(directory)
        name = path.stem
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise SpecLoadError(f"cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    if "." not in sys.path and "" not in sys.path:
        sys.path.insert(0, "")
    return importlib.import_module(target)


def _specs_in(value: Any) -> list[AgentSpec]:
    if isinstance(value, AgentSpec):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, AgentSpec) for v in value):
        return list(value)
    if callable(value):
        return _specs_in(value())
    raise SpecLoadError(f"{value!r} is not an AgentSpec or a list of them")


def load_specs(target: str) -> list[AgentSpec]:
    """``module``, ``path/to/file.py``, optionally ``:attr`` (a spec, a list, or a function)."""
    module_part, _, attr = target.partition(":")
    if len(module_part) == 1 and attr and attr[:1] in "\\/":  # a Windows drive letter
        module_part, _, attr = target[2:].partition(":")
        module_part = target[:2] + module_part
    try:
        module = _import(module_part)
    except SpecLoadError:
        raise
    except Exception as exc:
        raise SpecLoadError(f"importing {module_part} failed: {type(exc).__name__}: {exc}") from exc
    if attr:
        try:
            value = getattr(module, attr)
        except AttributeError:
            raise SpecLoadError(f"{module_part} has no attribute {attr!r}") from None
        specs = _specs_in(value)
    else:
        specs = [v for v in vars(module).values() if isinstance(v, AgentSpec)]
    if not specs:
        raise SpecLoadError(f"no AgentSpec found in {target}")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise SpecLoadError(f"two specs share a name in {target}: {names}")
    return specs
