"""``POST /v1/feedback``: a client grades an answer it got, so learning learns from it.

The body is ``{"request_id": ..., "correct": true}`` or ``{"request_id": ..., "score": 0.8}``, optionally with
``"gold"`` (the right answer), which grades every tier's answer of a shadowed request. The id is the response's
``smallfirst.request_id`` (header ``x-smallfirst-request-id``). A request the log does not hold, or that another key
made, is a 404; a score outside 0..1, both or neither of score and correct, a 400: all in the OpenAI error shape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

from smallfirst.server.wire import ErrorResponse

if TYPE_CHECKING:
    from smallfirst.server.app import Gateway


class FeedbackRequest(BaseModel):
    """Feedback on one answer: ``correct`` or ``score`` (0 wrong .. 1 right), and ``gold`` when known."""

    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=64)
    correct: bool | None = None
    score: float | None = None
    gold: str | None = Field(default=None, max_length=10_000)


class FeedbackResponse(BaseModel):
    """What the feedback did: the request's recorded ``quality``, and its outcome row's state (``graded``,
    ``pending``; None when the request was not shadowed)."""

    object: Literal["smallfirst.feedback"] = "smallfirst.feedback"
    request_id: str
    quality: float | None
    outcome: str | None


def add_route(app: FastAPI, gw: Gateway) -> None:
    """Register ``POST /v1/feedback`` on ``app``."""
    errors: dict[int | str, dict[str, object]] = {s: {"model": ErrorResponse} for s in (400, 401, 404)}

    @app.post("/v1/feedback", response_model=FeedbackResponse, tags=["smallfirst"], responses=errors,
              summary="Grade an answer: correct or a score, optionally the gold answer")
    async def post_feedback(body: FeedbackRequest, request: Request) -> FeedbackResponse:
        admission = await gw.gate.check(request.headers.get("authorization"))
        from smallfirst.learning.loop import feedback

        if gw.learning is not None:
            result = await gw.learning.afeedback(body.request_id, key_id=admission.key_id, score=body.score,
                                                 correct=body.correct, gold=body.gold)
        else:
            import asyncio

            await asyncio.to_thread(gw.service.flush_log, 5.0)
            result = await asyncio.to_thread(feedback, gw.service.engine, body.request_id, key_id=admission.key_id,
                                             score=body.score, correct=body.correct, gold=body.gold)
        return FeedbackResponse(request_id=result.request_id, quality=result.quality, outcome=result.outcome)
