"""Evaluation: the outcome format and loaders, metrics, cross-fitting and plots."""
