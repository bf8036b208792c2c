"""GLiNER (arXiv 2311.08526) in a few hundred lines: a zero-shot NER model that matches spans to
natural-language entity types in the latent space of a bidirectional encoder."""

from .config import GLiNERConfig
from .model import GLiNER

__all__ = ["GLiNER", "GLiNERConfig"]
__version__ = "0.1.0"
