"""Save and load policies: one JSON file holding the router name, parameters, fitted state, threshold,
target and model names, so ``smallfirst ask --model auto`` and the gateway serve what evaluation chose.

The fitted state (scikit-learn heads, arrays) is pickled inside the JSON with its sha256; load only
policy files you wrote or trust, as with any pickle.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

from smallfirst.errors import ConfigError
from smallfirst.routing.cascade import Cascade
from smallfirst.routing.factories import make_router
from smallfirst.routing.policy import LadderPolicy, ThresholdPolicy

__all__ = ["save_policy", "load_policy", "Policy"]

Policy = ThresholdPolicy | LadderPolicy | Cascade
_FORMAT = 1


def _router_blob(router: Any) -> dict[str, Any]:
    state = pickle.dumps(router.get_state(), protocol=pickle.HIGHEST_PROTOCOL)
    return {"router": router.name, "params": router.get_params(), "models_seen": list(router.models),
            "state": base64.b64encode(state).decode("ascii"),
            "state_sha256": hashlib.sha256(state).hexdigest()}


def _router_from(doc: dict[str, Any], path: Path) -> Any:
    state = base64.b64decode(doc["state"])
    if hashlib.sha256(state).hexdigest() != doc["state_sha256"]:
        raise ConfigError(f"policy {path}: fitted state is corrupt (sha256 mismatch)", hint="fit it again")
    router = make_router(doc["router"], **doc["params"])
    router.set_state(pickle.loads(state))  # noqa: S301  (see module docstring)
    router.models = tuple(doc["models_seen"])
    router.fitted = True
    return router


def save_policy(policy: Policy, path: str | Path) -> Path:
    """Write ``policy`` (threshold, ladder or cascade, with its router's fitted state) to ``path`` atomically and
    return the path. Raises ConfigError for another kind of policy."""
    p = Path(path)
    doc: dict[str, Any] = {"format": _FORMAT, "name": policy.name, "target": getattr(policy, "target", None)}
    if isinstance(policy, ThresholdPolicy):
        doc.update(kind="threshold", threshold=policy.threshold, models=list(policy.models),
                   **_router_blob(policy.router))
    elif isinstance(policy, LadderPolicy):
        doc.update(kind="ladder", models=list(policy.models), costs=list(policy.costs),
                   cost_weight=policy.cost_weight, **_router_blob(policy.router))
    elif isinstance(policy, Cascade):
        doc.update(kind="cascade", models=[policy.small, policy.large], threshold=policy.threshold,
                   signal=policy.signal, samples=policy.samples)
        if policy.router is not None:
            doc.update(_router_blob(policy.router))
    else:
        raise ConfigError(f"cannot save a {type(policy).__name__} as a policy")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh)
    os.replace(tmp, p)
    return p


def load_policy(path: str | Path, *, settings: Any = None) -> Policy:
    """``settings`` is accepted for the service's call; model names come from the file."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"policy file {p} does not exist",
                          hint="create one with `smallfirst route fit --out FILE`")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
        kind = doc["kind"]
        if doc.get("format") != _FORMAT:
            raise ConfigError(f"policy {p} has format {doc.get('format')}, expected {_FORMAT}",
                              hint="fit it again")
        if kind == "threshold":
            return ThresholdPolicy(_router_from(doc, p), float(doc["threshold"]), tuple(doc["models"]),
                                   name=doc.get("name", "auto"), target=doc.get("target"))
        if kind == "ladder":
            return LadderPolicy(_router_from(doc, p), tuple(doc["models"]), tuple(doc["costs"]),
                                float(doc["cost_weight"]), name=doc.get("name", "auto"),
                                target=doc.get("target"))
        if kind == "cascade":
            router = _router_from(doc, p) if "router" in doc else None
            small, large = doc["models"]
            return Cascade(small, large, float(doc["threshold"]), doc["signal"],
                           name=doc.get("name", "cascade"), samples=int(doc.get("samples", 2)), router=router,
                           target=doc.get("target"))
    except (KeyError, ValueError, TypeError) as exc:
        raise ConfigError(f"policy file {p} is malformed ({exc})", hint="fit it again") from None
    raise ConfigError(f"policy {p} has unknown kind {kind!r}", hint="expected threshold, ladder or cascade")
