"""The book's models, one module per family, in the manner of torchvision's ``models``.

Every model is plain PyTorch (``nn.Sequential`` stacks or small ``nn.Module`` blocks with an
explicit ``forward``), so ``summarize(model, ...)`` shows every layer and a chapter can swap any
block. Shapes in the comments are ``(N, C, H, W)``. The ImageNet-sized models load torchvision's
state dicts, which is how the chapters check them.

- :mod:`.common`: activation and normalization layers by name; random batch-norm statistics
  for checks against a reference model.
- :mod:`.plain`: :func:`plain_cnn`, conv3x3 blocks with no shortcuts, of any depth.
- :mod:`.lenet`: :func:`lenet5`, LeNet-5 for 28x28 inputs.
- :mod:`.small`: :func:`small_cnn`, the named-layer CNN that Part V inspects.
- :mod:`.alexnet`: AlexNet, the paper's 227-pixel network and torchvision's variant.
- :mod:`.vgg`: VGG configurations A-E from one table.
- :mod:`.inception`: the Inception module and GoogLeNet.
- :mod:`.resnet`: basic and bottleneck blocks (grouped and wide too), ResNet-18/34/50 and the
  small residual or plain networks of the degradation experiment.
- :mod:`.wide_resnet`: the pre-activation block of Wide ResNets, WRN-d-k.
- :mod:`.densenet`: dense layers, dense blocks and transitions.
- :mod:`.mobilenet`: depthwise-separable blocks, MobileNet v1 and the inverted residual.
- :mod:`.convnext`: the ConvNeXt block, its stem and downsampling layers, ConvNeXt-T.
"""

from __future__ import annotations

from .alexnet import alexnet
from .common import ACTIVATIONS, NORMS, activation_layer, norm_layer, randomize_batch_norm
from .convnext import ConvNeXtBlock, LayerNorm2d, convnext, convnext28, convnext_tiny
from .densenet import DenseBlock, DenseLayer, Transition, densenet28
from .inception import GoogLeNet, Inception, googlenet
from .lenet import lenet5
from .mobilenet import DepthwiseSeparable, InvertedResidual, mobilenet_v1
from .plain import plain_cnn
from .resnet import BasicBlock, Bottleneck, ResNet, cifar_resnet, resnet18, resnet34, resnet50
from .small import small_cnn
from .vgg import VGG, VGG_CONFIGS, vgg
from .wide_resnet import WideBasicBlock, wide_resnet

__all__ = [
    "ACTIVATIONS",
    "NORMS",
    "activation_layer",
    "norm_layer",
    "randomize_batch_norm",
    "plain_cnn",
    "lenet5",
    "small_cnn",
    "alexnet",
    "VGG",
    "VGG_CONFIGS",
    "vgg",
    "Inception",
    "GoogLeNet",
    "googlenet",
    "BasicBlock",
    "Bottleneck",
    "ResNet",
    "cifar_resnet",
    "resnet18",
    "resnet34",
    "resnet50",
    "WideBasicBlock",
    "wide_resnet",
    "DenseLayer",
    "DenseBlock",
    "Transition",
    "densenet28",
    "DepthwiseSeparable",
    "InvertedResidual",
    "mobilenet_v1",
    "LayerNorm2d",
    "ConvNeXtBlock",
    "convnext",
    "convnext_tiny",
    "convnext28",
]
