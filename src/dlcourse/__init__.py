"""dlcourse: the helper package of an executable textbook on convolutional neural networks.

Modules, one idea each:

- ``device``: where code runs (CUDA, then Apple MPS, then CPU) and how to make runs repeatable.
- ``data``: Fashion-MNIST, scikit-learn digits, sample photos, the ImageNet-pretrained
  EfficientNet-Lite0 and the ImageNet class names, all offline-first.
- ``train``: the one training loop every chapter uses.
- ``layers``: from-scratch layers (convolution, pooling, their backward passes) checked against
  PyTorch.
- ``arithmetic``: sizes, parameter counts, costs and receptive fields of conv nets (plain Python).
- ``summary``: a layer table of any model: output shapes, parameters, activations, MACs.
- ``initialization``: weight-initialization schemes and the activation/gradient statistics
  experiments; ``models``: the networks of the book, one module per family, from LeNet-5 to
  ConvNeXt, and the small models the chapters train.
- ``lrn``: local response normalization as AlexNet defined it; ``distributed``: a real
  two-process data-parallel training run (``DistributedDataParallel``) and its one-process twin.
- ``compare``: torchvision's architectures with their documented numbers beside our counts;
  ``compress``: magnitude pruning, batch-norm folding of a whole model, int8 quantization.
- ``augment``: batch augmentation for the training loop (crop and flip, Mixup, CutMix, CowMask);
  ``transfer``: heads, freezing and per-group learning rates for reusing a trained network.
- ``features``: activations, top-activating patches and embeddings of a trained model;
  ``attribution``: saliency maps from scratch (occlusion, gradients, guided backprop, CAM,
  Grad-CAM) and their sanity checks; ``robustness``: exact transformations, corruptions and
  stability metrics.
- ``plot``: image grids and training curves in one style; ``widgets``: interactive figures,
  each with a static view for the website; ``quiz``: self-check questions with feedback.
- ``timing``: fair wall-clock comparisons; ``checkpoint``: atomic, hash-checked files.
"""

__version__ = "0.1.0"
