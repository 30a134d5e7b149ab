"""Torch-free analysis of a stored Result: Δℓ, aggregation over seeds, the decomposition, the claims."""
