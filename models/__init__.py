"""PyTorch definitions of the classic ImageNet CNNs, state-dict compatible with torchvision.

Importing the package registers every architecture; use :func:`list_models`,
:func:`get_model` and :func:`get_spec`.

Example::

    python -c "import models; print(models.list_models()); print(models.get_spec('resnet50').gmacs)"
"""

from models import densenet, efficientnet_lite, inception, resnet, vgg  # noqa: F401  (registers the builders)
from models.registry import UnknownModelError, get_model, get_spec, list_models, register_model
from models.spec import ModelSpec, PretrainedWeights
from workbench.labels import LABEL_SETS, load_labels

__all__ = [
    "LABEL_SETS",
    "ModelSpec",
    "PretrainedWeights",
    "UnknownModelError",
    "get_model",
    "get_spec",
    "list_models",
    "load_labels",
    "register_model",
]
