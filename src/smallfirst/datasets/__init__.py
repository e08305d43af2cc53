"""Data sets as artefacts, like models: a catalogue of the public data sets smallfirst uses, each with its
upstream source, licence, files and sha256, pulled into the cache (``smallfirst data pull``); and the small
slices the main job needs offline, shipped inside the package under ``bundled/``."""
