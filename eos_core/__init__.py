"""EoS Explorer's engine: the branching experiment of arXiv 2606.04212 and its diagnostics.

The folders follow the torch boundary: `science` trains (torch); `analysis` (reading results),
`runs` (store, queue, worker), `datasets`, `config` and `presets` are torch-free, so the dashboard
imports them; the worker and the CLI import torch lazily through `eos_core.science.experiment`.
"""

__version__ = "0.1.0"
