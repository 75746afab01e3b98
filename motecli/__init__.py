"""mote: MoTE (mixture of temporal experts) on CLIP for video recognition."""

__version__ = "0.1.0"
