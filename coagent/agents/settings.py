"""Agent settings from constructor arguments, then class attributes, then defaults.

::

    class Translator(StreamChatAgent):
        system = "Translate Chinese to English."     # a class attribute is a setting

    new(Translator)                                   # system from the class attribute
    new(Translator, system="Translate to French.")    # an argument wins over it
    Translator.system = "..."                         # before start: every new session sees it

An agent's ``__init__`` declares its settings with :data:`UNSET` defaults and
resolves each with :func:`setting`. A class attribute that is a property (the
original Coagent's agents exposed ``system`` that way) is read through the
instance and left in place.
"""

from __future__ import annotations

import inspect
from typing import Any, Final

__all__ = ["UNSET", "setting"]


class _Unset:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: "Not given": the default of every setting argument.
UNSET: Final[Any] = _Unset()


def setting(instance: Any, name: str, arg: Any, default: Any, *, base: type) -> Any:
    """The value of setting ``name`` for ``instance``, stored on it (unless a property owns it).

    ``arg`` (the constructor argument) wins unless it is :data:`UNSET`; then a class
    attribute that a subclass of ``base`` defines; then ``default``.
    """
    owner = type(instance)
    static = inspect.getattr_static(owner, name, UNSET)
    is_property = isinstance(static, property)
    if arg is not UNSET:
        value = arg
    elif static is not UNSET and _defined_below(owner, base, name):
        value = getattr(instance, name) if is_property else static
    else:
        value = default
    if is_property:
        if arg is not UNSET and static.fset is None:
            raise TypeError(
                f"{owner.__name__}.{name} is a read-only property; it cannot also be passed"
                f" as an argument"
            )
        if static.fset is not None:
            static.fset(instance, value)
        return value
    setattr(instance, name, value)
    return value


def _defined_below(owner: type, base: type, name: str) -> bool:
    """Whether a class between ``owner`` and ``base`` (exclusive) defines ``name``."""
    for klass in owner.__mro__:
        if klass is base:
            return False
        if name in klass.__dict__:
            return True
    return False
