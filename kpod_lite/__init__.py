"""kpod_lite: a tested, notebook-first re-implementation of KPOD (Feng et al., ICML 2024)."""

__version__ = "0.1.0"
