"""Keep secrets out of logs, errors and the database.

Two nets: the literal values of every environment variable a config names as holding a key, and patterns
that look like bearer tokens or provider keys. Applied to every error text before it is stored or shown.
"""

from __future__ import annotations

import os
import re

_PATTERNS = [
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]{8,}"),
    re.compile(r"\b(sk|sf|pk|rk)-[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?i)(api[_-]?key[\"'=:\s]+)[A-Za-z0-9._\-]{8,}"),
]
_SECRET_ENV: set[str] = set()


def register_secret_env(name: str | None) -> None:
    """Remember that environment variable ``name`` holds a secret (a backend's ``api_key_env``), so ``redact``
    removes its value wherever it appears. None or "" is ignored; the registry lives for the process."""
    if name:
        _SECRET_ENV.add(name)


def redact(text: str | None) -> str | None:
    """``text`` with every secret replaced by ``[redacted]``: the value (4 characters or more) of each registered
    environment variable, then bearer tokens, ``sk-``/``sf-``/``pk-``/``rk-`` keys and ``api_key=...``
    assignments of 8 characters or more. None and "" come back unchanged."""
    if not text:
        return text
    for name in _SECRET_ENV:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "[redacted]")
    for pat in _PATTERNS:
        text = pat.sub(lambda m: (m.group(1) if m.groups() and m.group(1) and not m.group(1).isalnum()
                                  else "") + "[redacted]", text)
    return text
