"""The science (imports torch): data, models, curvature, per-example quantities, the branching experiment."""
