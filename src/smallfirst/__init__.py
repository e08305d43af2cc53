"""smallfirst: answer every request with the smallest model that does the job, and measure whether it pays.

Importing this package is light on purpose: no torch, no llama.cpp, no network and no API key. Heavy
dependencies load inside the feature that needs them.
"""

__version__ = "0.1.0"
