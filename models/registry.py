"""Name -> builder registry for every architecture, with its :class:`ModelSpec`.

Builders are keyword-only functions registered with :func:`register_model`; names are spelled
as torchvision spells them. Registering a name twice, or asking for an unknown one, is an error;
the error suggests the closest registered name (:func:`check_model_name`, :func:`close_names`).

Example::

    python -c "import models; print(models.list_models()); m = models.get_model('resnet18', num_classes=10)"
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TypeVar

from torch import nn

from models.spec import ModelSpec

Builder = TypeVar("Builder", bound=Callable[..., nn.Module])

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_SPECS: dict[str, ModelSpec] = {}


class UnknownModelError(KeyError):
    """Raised for a name that is not registered.

    The message suggests the closest registered name (``did you mean resnet50?``), or lists the valid
    names when none is close.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.suggestions = close_names(name)
        super().__init__(name)

    def __str__(self) -> str:
        if self.suggestions:
            return f"unknown model {self.name!r}; did you mean {' or '.join(self.suggestions)}?"
        return f"unknown model {self.name!r}; valid names: {', '.join(list_models())}"


def close_names(name: str, limit: int = 1) -> list[str]:
    """The registered names closest to ``name`` (difflib), best first; empty when none is close."""
    return difflib.get_close_matches(name.strip().lower(), list_models(), n=limit, cutoff=0.6)


def check_model_name(name: str) -> str:
    """``name`` itself when it is registered; raises :class:`UnknownModelError` with a suggestion otherwise."""
    if name not in _BUILDERS:
        raise UnknownModelError(name)
    return name


def register_model(spec: ModelSpec) -> Callable[[Builder], Builder]:
    """Decorator registering a keyword-only builder under ``spec.name``."""

    def decorator(builder: Builder) -> Builder:
        if spec.name in _BUILDERS:
            raise ValueError(f"model {spec.name!r} is already registered")
        if builder.__name__ != spec.name:
            raise ValueError(f"builder {builder.__name__!r} registered under another name {spec.name!r}")
        _BUILDERS[spec.name] = builder
        _SPECS[spec.name] = spec
        return builder

    return decorator


def list_models() -> list[str]:
    """All registered names, sorted."""
    return sorted(_BUILDERS)


def get_spec(name: str) -> ModelSpec:
    """The :class:`ModelSpec` of a registered model."""
    try:
        return _SPECS[name]
    except KeyError:
        raise UnknownModelError(name) from None


def get_model(name: str, *, num_classes: int = 1000, **kwargs: object) -> nn.Module:
    """Build a registered model with freshly initialised weights.

    ``kwargs`` go to the builder (e.g. ``aux_logits=False`` for ``inception_v3``).
    """
    if name not in _BUILDERS:
        raise UnknownModelError(name)
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    return _BUILDERS[name](num_classes=num_classes, **kwargs)
