"""The route of one answer, as the ``smallfirst`` body object and as ``x-smallfirst-*`` response headers.

A plain dict with ``RouteInfo``'s fields: the non-streaming body is written straight to JSON, and the tests
hold the responses to the documented schema (``RouteInfo`` in ``wire.py``)."""

from __future__ import annotations

from typing import Any

from smallfirst.costs.records import usd_text
from smallfirst.service import Answer


def route_info(answer: Answer) -> dict[str, Any]:
    """The ``smallfirst`` object of a response: request id, answering model, the routing decision (policy,
    reason, score, threshold, models tried) and cost, baseline and saving as decimal USD strings."""
    d, c = answer.decision, answer.cost
    return {
        "request_id": answer.request_id,
        "model": answer.model,
        "policy": d.policy,
        "reason": d.reason,
        "score": d.score,
        "threshold": d.threshold,
        "attempted": list(d.attempted),
        "cost_usd": usd_text(c.amount),
        "baseline_usd": usd_text(c.baseline),
        "saving_usd": usd_text(c.saving),
        "baseline_model": c.baseline_model,
        "price_source": c.source,
    }


def _header_safe(text: str, limit: int = 300) -> str:
    # Header values are latin-1 on the wire and a CR/LF would split the response.
    flat = " ".join(text.split())
    return flat.encode("ascii", "backslashreplace").decode("ascii")[:limit]


def route_headers(info: dict[str, Any]) -> dict[str, str]:
    """The ``x-smallfirst-*`` response headers of a :func:`route_info` dict, made header-safe (ASCII, one line,
    at most 300 characters); score and threshold only when the policy gave them."""
    headers = {
        "x-smallfirst-request-id": info["request_id"],
        "x-smallfirst-model": _header_safe(info["model"]),
        "x-smallfirst-policy": _header_safe(info["policy"]),
        "x-smallfirst-reason": _header_safe(info["reason"]),
        "x-smallfirst-cost-usd": info["cost_usd"],
        "x-smallfirst-baseline-usd": info["baseline_usd"],
        "x-smallfirst-saving-usd": info["saving_usd"],
    }
    if info["score"] is not None:
        headers["x-smallfirst-score"] = f"{info['score']:.6g}"
    if info["threshold"] is not None:
        headers["x-smallfirst-threshold"] = f"{info['threshold']:.6g}"
    return headers
