"""The book's models, one module per family, in the manner of torchvision's ``models``.

Every model is plain PyTorch (``nn.Sequential`` stacks or small ``nn.Module`` blocks with an
explicit ``forward``), so ``summarize(model, ...)`` shows every layer and a chapter can swap any
block. Shapes in the comments are ``(N, C, H, W)``.

- :mod:`.common`: activation and normalization layers by name.
- :mod:`.plain`: :func:`plain_cnn`, conv3x3 blocks with no shortcuts, of any depth.
- :mod:`.lenet`: :func:`lenet5`, LeNet-5 for 28x28 inputs.
- :mod:`.small`: :func:`small_cnn`, the named-layer CNN that Part V inspects.
"""

from __future__ import annotations

from .common import ACTIVATIONS, NORMS, activation_layer, norm_layer
from .lenet import lenet5
from .plain import plain_cnn
from .small import small_cnn

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "activation_layer",
    "norm_layer",
    "plain_cnn",
    "lenet5",
    "small_cnn",
]
