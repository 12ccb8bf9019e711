"""Name -> builder registry for every architecture, with its :class:`ModelSpec`.

Builders are keyword-only functions registered with :func:`register_model`; names are spelled
as torchvision spells them. Registering a name twice, or asking for an unknown one, is an error.

Example::

    python -c "import models; print(models.list_models()); m = models.get_model('resnet18', num_classes=10)"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

from models.spec import ModelSpec

Builder = TypeVar("Builder", bound=Callable[..., nn.Module])

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}
_SPECS: dict[str, ModelSpec] = {}


class UnknownModelError(KeyError):
    """Raised for a name that is not registered; the message lists the valid names."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)

    def __str__(self) -> str:
        return f"unknown model {self.name!r}; valid names: {', '.join(list_models())}"


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
