"""Figures you can move: every widget of the book, on top of the computing modules.

Each widget has a pure ``render``/``draw`` function that returns a matplotlib figure (tested,
and shown as a static figure on the website, which has no kernel) and a function that wraps it
in ipywidgets controls for Jupyter and Colab. The computing modules never import this package.

- :mod:`dlcourse.widgets.conv_arithmetic`: output size, padding, stride and dilation drawn.
- :mod:`dlcourse.widgets.initialization`: activation statistics of a deep net per init scheme.
- :mod:`dlcourse.widgets.augment`: a grid of augmented samples of a photo.
- :mod:`dlcourse.widgets.attribution`: a saliency map for a photo, method and class.
- :mod:`dlcourse.widgets.static`: the static view a widget shows on the website.
"""

from dlcourse.widgets.attribution import (
    ATTRIBUTION_DEFAULTS,
    ATTRIBUTION_METHODS,
    ATTRIBUTION_PHOTOS,
    AttributionExplorer,
    attribution_widget,
    draw_attribution,
    render_attribution,
)
from dlcourse.widgets.augment import (
    AUG_DEFAULTS,
    augment_samples,
    augment_widget,
    build_transform,
    render_augment,
)
from dlcourse.widgets.conv_arithmetic import (
    INPUT,
    PAD,
    SLIDER_RANGES,
    ZERO,
    ConvLayout,
    conv_arithmetic_widget,
    draw_conv_arithmetic,
    layout,
    render,
)
from dlcourse.widgets.initialization import (
    INIT_BINS,
    INIT_CHOICES,
    INIT_DEFAULTS,
    INIT_HIST_RANGE,
    INIT_KEEP,
    draw_init_experiment,
    init_widget,
    render_init,
)

__all__ = [
    "INPUT",
    "ZERO",
    "PAD",
    "ConvLayout",
    "layout",
    "draw_conv_arithmetic",
    "render",
    "SLIDER_RANGES",
    "conv_arithmetic_widget",
    "INIT_BINS",
    "INIT_KEEP",
    "INIT_CHOICES",
    "INIT_DEFAULTS",
    "INIT_HIST_RANGE",
    "draw_init_experiment",
    "render_init",
    "init_widget",
    "AUG_DEFAULTS",
    "build_transform",
    "augment_samples",
    "render_augment",
    "augment_widget",
    "ATTRIBUTION_PHOTOS",
    "ATTRIBUTION_METHODS",
    "ATTRIBUTION_DEFAULTS",
    "AttributionExplorer",
    "draw_attribution",
    "render_attribution",
    "attribution_widget",
]
