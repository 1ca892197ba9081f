"""stackseg: reproducible segmentation of multi-page TIFF stacks with DVC and Keras."""

__version__ = "0.1.0"
