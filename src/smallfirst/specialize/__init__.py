"""Specialised small models for one niche: a small encoder plus a trained head, saved as a versioned
artefact and registered as a model tier that routing can use.

Heavy parts (onnxruntime, torch) load inside the functions that need them.
"""

from smallfirst.specialize.data import LabelledData, load_labelled, validate_labelled

__all__ = ["LabelledData", "load_labelled", "validate_labelled"]
