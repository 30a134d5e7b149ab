"""EoS Explorer's engine: the branching experiment of arXiv 2606.04212 and its diagnostics.

Submodules that the dashboard imports (config, results, store) are torch-free; everything that
trains imports torch lazily through `eos_core.science.experiment`.
"""
__version__ = "0.1.0"
