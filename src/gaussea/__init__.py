"""gaussea: multi-modal entity alignment between knowledge graphs with Gaussian embeddings."""

__version__ = "0.1.0"
