"""dlcourse: the helper package of an executable textbook on convolutional neural networks.

Modules, one idea each:

- ``device``: where code runs (CUDA, then Apple MPS, then CPU) and how to make runs repeatable.
- ``data``: Fashion-MNIST, scikit-learn digits, sample photos, the ImageNet-pretrained
  EfficientNet-Lite0 and the ImageNet class names, all offline-first.
- ``train``: the one training loop every chapter uses.
- ``layers``: from-scratch layers checked against PyTorch.
- ``plot``: image grids and training curves in one style.
"""

__version__ = "0.1.0"
