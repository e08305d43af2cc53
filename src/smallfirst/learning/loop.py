"""Learning attached to a running service: the one hook between the request path and everything learning does.

:meth:`Learning.attach` adds a hook to ``Service.answered``. For each answered request to the learning-managed
policy (``learning.policy``, ``auto``) the hook only draws (``learning.shadow``) and, when drawn, starts a task; the
user's answer never waits for it. The task asks the other tier the same request through the service (logged with
source ``shadow``: learning cost, priced like any request), keeps both answers as an outcome row, grades it (gold in
the request, else the judge, logged with source ``judge``; feedback can grade it later), and then lets the learner
refit (every ``learning.refit_every`` graded rows), promote, guard and roll back (``learning.learner``). A promoted
version is served at once under the policy's name, and written to ``<home>/learning/serving.json`` so the CLI's
``--model auto`` serves it too.

Failures of a shadow call, the judge or a refit are logged (logger ``smallfirst.learning``) and kept in the outcome
row's note; they never reach the request that triggered them.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smallfirst.errors import DataError, SmallfirstError
from smallfirst.learning.grader import by_feedback, by_gold
from smallfirst.learning.judge import JudgeError, judge_messages, parse_verdicts
from smallfirst.learning.learner import GuardCheck, Learner, Refit, baseline_policy
from smallfirst.learning.shadow import ShadowSampler
from smallfirst.models.completion import Message, prompt_text
from smallfirst.routing.defaults import with_specialists
from smallfirst.routing.policy import Policy
from smallfirst.service import Answer, RequestContext, Served, Service
from smallfirst.store.learning_log import (
    OutcomeRecord,
    add_outcome,
    count_outcomes,
    graded_outcomes,
    learning_spend,
    outcome_for_request,
    serving_version,
    set_outcome,
    versions,
)

__all__ = ["FeedbackResult", "Learning", "UnknownRequestError"]

log = logging.getLogger("smallfirst.learning")


class UnknownRequestError(SmallfirstError):
    """Feedback names a request this log does not hold, or one another key made."""

    status = 404
    kind = "not_found_error"
    code = "unknown_request"


@dataclass(frozen=True, slots=True)
class FeedbackResult:
    """What one piece of feedback did: the request's quality as recorded, and its outcome row's state (None when the
    request was not shadowed)."""

    request_id: str
    quality: float | None
    outcome: str | None


def check_feedback(score: float | None, correct: bool | None, gold: str | None) -> float | None:
    """The quality feedback gives the served answer: ``score`` (0..1) or ``correct`` (1 or 0); None with gold only.
    Raises DataError for both or neither, or a score out of range."""
    if score is not None and correct is not None:
        raise DataError("feedback gives `score` or `correct`, not both", param="score",
                        hint="send {\"request_id\": ..., \"correct\": true} or {\"request_id\": ..., \"score\": 0.8}")
    if score is None and correct is None and gold is None:
        raise DataError("feedback needs `score` (0 to 1), `correct` (true or false) or `gold` (the right answer)",
                        param="score", hint="e.g. {\"request_id\": ..., \"correct\": false, \"gold\": \"B\"}")
    if score is not None and not 0.0 <= float(score) <= 1.0:
        raise DataError(f"score {score} is out of range", param="score",
                        hint="give a score from 0 (wrong) to 1 (right), or correct: true/false")
    if correct is not None:
        return 1.0 if correct else 0.0
    return None if score is None else float(score)


class Learning:
    """Learning for one :class:`~smallfirst.service.Service` (its settings' ``[learning]`` and ``[routing]``)."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.settings = service.settings
        self.cfg = service.settings.learning
        self.small, self.large = self.settings.routing.small, self.settings.routing.large
        judge = self.cfg.judge.strip()
        self.judge = None if judge.lower() in ("", "none") else (self.large if judge == "large" else judge)
        self.learner = Learner(self.settings, service.engine)
        self.sampler = ShadowSampler(self.cfg)
        self.serving_id: int | None = None
        #: the policy learning serves, before the configured specialists are put in front of it
        self.serving: Policy = baseline_policy(self.settings)
        self.refits = self.promotions = self.rollbacks = 0
        #: recent refit, guard and grading events, newest last (what `learn status` and the log show)
        self.events: deque[str] = deque(maxlen=50)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refitting = False
        self._graded_at_refit = 0
        self._graded = 0
        #: graded rows served by the serving version, newest last (what the guard reads), and how many arrived
        #: since the guard last looked
        self._window: deque[OutcomeRecord] = deque(maxlen=self.cfg.guard_window)
        self._since_look = 0

    # -- wiring -------------------------------------------------------------------------------------------

    def attach(self) -> Learning:
        """Hook into the service, and serve the version the log says is serving (if any). Returns self."""
        engine = self.service.engine
        current = serving_version(engine, self.cfg.policy)
        if current is not None and current.document:
            self._serve(self._load(current.document), current.id)
        else:
            self._serve(baseline_policy(self.settings), None)
        done = versions(engine)
        self._graded_at_refit = done[-1].n_outcomes if done else 0
        self._graded = count_outcomes(engine)["graded"]
        midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        self.sampler.spent = learning_spend(engine, since=midnight)[1]
        self.service.answered.append(self._on_answered)
        return self

    def _serve(self, policy: Policy, version_id: int | None) -> None:
        # the configured specialists (routing.specialists) stay in front of whatever learning serves
        self.serving = policy
        self.service.policies[self.cfg.policy] = with_specialists(policy, self.settings)
        if version_id != self.serving_id:
            self._window.clear()
            self._since_look = 0
            if version_id is not None:
                self._window.extend(reversed(graded_outcomes(self.service.engine, policy_version=version_id,
                                                             newest_first=True, limit=self.cfg.guard_window)))
        self.serving_id = version_id
        self._write_serving(policy if version_id is not None else None)

    def _load(self, document: str) -> Policy:
        from smallfirst.routing.policy_store import load_policy

        folder = self.settings.home / "learning"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            path = Path(tmp) / "policy.json"
            path.write_text(document, encoding="utf-8")
            return load_policy(path, settings=self.settings)

    def _write_serving(self, policy: Policy | None) -> None:
        """``<home>/learning/serving.json``: the serving version's policy, or no file for the baseline."""
        from smallfirst.routing.policy_store import save_policy

        path = self.settings.home / "learning" / "serving.json"
        if policy is None:
            path.unlink(missing_ok=True)
            return
        save_policy(policy, path)  # type: ignore[arg-type]

    # -- the hook -----------------------------------------------------------------------------------------

    def _on_answered(self, served: Served) -> None:
        """Draw, and maybe start the shadow task; never raises into the request path."""
        try:
            if served.requested != self.cfg.policy or served.ctx.source in ("shadow", "judge"):
                return
            if served.answer.model not in (self.small, self.large) or self.small == self.large:
                return
            gradable = served.ctx.gold is not None or self.judge is not None or self.cfg.shadow_ungraded
            if not gradable:
                return
            p = self.sampler.pick(learned=self.serving_id is not None)
            if p is None:
                return
            task = asyncio.get_running_loop().create_task(self._shadow(served, p, self.serving_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        except Exception:  # noqa: BLE001 - learning must never fail a request
            log.exception("learning: could not start a shadow answer")

    async def drain(self) -> None:
        """Wait until every shadow, grading and refit task started so far (and those they start) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def drain_sync(self) -> None:
        """:meth:`drain` for synchronous callers of the service's own loop."""
        self.service._run(self.drain())

    # -- shadow, keep, grade --------------------------------------------------------------------------------

    async def _shadow(self, served: Served, p: float, version: int | None) -> None:
        try:
            await self._shadow_inner(served, p, version)
        except Exception:  # noqa: BLE001 - logged; the request was answered long ago
            log.exception("learning: shadowing request %s failed", served.answer.request_id)

    async def _shadow_inner(self, served: Served, p: float, version: int | None) -> None:
        answer = served.answer
        rid = answer.request_id
        other = self.large if answer.model == self.small else self.small
        ctx = RequestContext(source="shadow", task=served.ctx.task, tag=f"learn:{rid}"[:100])
        results = {answer.model: _result(answer)}
        row = OutcomeRecord(request_id=rid, created_at=datetime.now(UTC), status="pending",
                            prompt=_prompt(served.messages), served_model=answer.model, results=results,
                            task=served.ctx.task, gold=served.ctx.gold, key_id=served.ctx.key_id,
                            policy_version=version, sampled_p=p)
        try:
            shadow = await self.service.aanswer(list(served.messages), other, ctx=ctx, **served.params)
        except SmallfirstError as exc:
            note = f"shadow answer from {other} failed: {exc}"
            log.warning("learning: %s (request %s)", note, rid)
            await asyncio.to_thread(add_outcome, self.service.engine, replace(row, status="skipped", note=note))
            return
        results[other] = _result(shadow)
        self.sampler.spend(shadow.cost.amount)
        answers = {m: str(r.get("answer") or "") for m, r in results.items()}
        if served.ctx.gold is not None:
            grades = by_gold(served.ctx.task, answers, served.ctx.gold)
            graded = {m: {**r, "quality": grades[m]} for m, r in results.items()}
            row = replace(row, results=graded, status="graded", graded_by="gold", graded_at=datetime.now(UTC))
            await asyncio.to_thread(add_outcome, self.service.engine, row)
            await self._after_graded(row)
            return
        if self.judge is None:
            row = replace(row, note="awaiting feedback (no gold in the request, no judge configured)")
        row_id = await asyncio.to_thread(add_outcome, self.service.engine, row)
        if self.judge is not None:
            await self._judge(replace(row, id=row_id), served.messages, answers, rid)

    async def _judge(self, row: OutcomeRecord, messages: Sequence[Message], answers: dict[str, str], rid: str) -> None:
        order = list(answers)
        assert self.judge is not None and row.id is not None
        ctx = RequestContext(source="judge", task=row.task, tag=f"learn:{rid}"[:100])
        try:
            verdict = await self.service.aanswer(judge_messages(messages, [answers[m] for m in order]), self.judge,
                                                 ctx=ctx, max_tokens=8 * len(order) + 8, temperature=0.0)
            self.sampler.spend(verdict.cost.amount)
            grades = parse_verdicts(verdict.completion.text, len(order))
        except (JudgeError, SmallfirstError) as exc:
            note = f"judge {self.judge} could not grade: {exc}"
            log.warning("learning: %s (request %s); the row stays pending for feedback", note, rid)
            self.events.append(note)
            await asyncio.to_thread(set_outcome, self.service.engine, row.id, note=note)
            return
        graded = {m: {**r, "quality": g} for (m, r), g in zip(row.results.items(), grades, strict=True)}
        row = replace(row, results=graded, status="graded", graded_by="judge", graded_at=datetime.now(UTC))
        await asyncio.to_thread(set_outcome, self.service.engine, row.id, results=graded, status="graded",
                                graded_by="judge", graded_at=row.graded_at)
        await self._after_graded(row)

    # -- refit, guard, rollback -------------------------------------------------------------------------------

    async def _after_graded(self, row: OutcomeRecord | None = None) -> None:
        """Count a newly graded row; let the guard look at it (when it was served by the serving version) and start
        a refit when one is due. ``row`` None: graded elsewhere (feedback); it counts, the guard reads the log."""
        self._graded += 1
        if self.serving_id is not None:
            if row is None:
                check = await asyncio.to_thread(self.learner.guard, self.serving_id)
            else:
                check = None
                if row.policy_version == self.serving_id:
                    self._window.append(row)
                    self._since_look += 1
                    if self._since_look >= max(1, self.cfg.guard_window // 10):
                        self._since_look = 0
                        check = self.learner.guard(self.serving_id, list(self._window))
            if check is not None and check.rolled_back:
                await self._rolled_back(check)
        due = self._graded >= self.cfg.min_outcomes and self._graded - self._graded_at_refit >= self.cfg.refit_every
        if due and not self._refitting:
            self._refitting = True
            self._graded_at_refit = self._graded
            task = asyncio.get_running_loop().create_task(self._refit())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _refit(self) -> None:
        try:
            serving = self.serving
            result: Refit = await asyncio.to_thread(self.learner.refit, serving, self.serving_id)
            self.refits += 1
            self.events.append(f"v{result.version_id}: {result.reason}")
            if result.promoted:
                self.promotions += 1
                doc = versions(self.service.engine, ids=[result.version_id])[0].document
                assert doc is not None
                self._serve(await asyncio.to_thread(self._load, doc), result.version_id)
        except SmallfirstError as exc:
            self.events.append(f"refit skipped: {exc}")
            log.warning("learning: refit skipped: %s", exc)
        except Exception:  # noqa: BLE001 - a refit that fails leaves the serving policy in place
            log.exception("learning: refit failed; the serving policy stays")
        finally:
            self._refitting = False

    async def _rolled_back(self, check: GuardCheck) -> None:
        self.rollbacks += 1
        self.events.append(check.reason)
        restored = await asyncio.to_thread(self.learner.rollback, check.version_id, check.reason)
        if restored is None or not restored.document:
            self._serve(baseline_policy(self.settings), None)
        else:
            self._serve(await asyncio.to_thread(self._load, restored.document), restored.id)

    def rollback(self, reason: str = "rolled back by hand") -> int | None:
        """Roll the serving version back now (``smallfirst learn rollback``); returns the version serving after,
        None for the baseline. Raises DataError when no learned version serves."""
        if self.serving_id is None:
            raise DataError("no learned policy version is serving: the large tier already answers every request",
                            hint="see `smallfirst learn history`")
        restored = self.learner.rollback(self.serving_id, reason)
        self.rollbacks += 1
        self.events.append(f"v{self.serving_id}: {reason}")
        if restored is None or not restored.document:
            self._serve(baseline_policy(self.settings), None)
            return None
        self._serve(self._load(restored.document), restored.id)
        return restored.id

    def promote(self, policy: Policy, reason: str, router: str = "given") -> int:
        """Serve ``policy`` as a new version now, without a refit (tests and what-if runs use it to put a chosen
        policy, good or bad, under the guard). Returns the version's id."""
        from smallfirst.store.learning_log import VersionRecord, add_version, set_version

        now = datetime.now(UTC)
        doc = self._document(policy)
        vid = add_version(self.service.engine, VersionRecord(
            created_at=now, status="serving", policy=self.cfg.policy, router=router, target=self.cfg.target,
            n_outcomes=0, last_outcome_id=0, data_sha256="", reason=f"promoted by hand: {reason}",
            replaced=self.serving_id, document=doc))
        if self.serving_id is not None:
            set_version(self.service.engine, self.serving_id, status="retired", ended_at=now)
        self._serve(policy, vid)
        return vid

    def _document(self, policy: Policy) -> str:
        from smallfirst.routing.policy_store import save_policy

        folder = self.settings.home / "learning"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder) as tmp:
            return save_policy(policy, Path(tmp) / "p.json").read_text(encoding="utf-8")  # type: ignore[arg-type]

    # -- feedback ---------------------------------------------------------------------------------------------

    def feedback(self, request_id: str, *, key_id: str | None = None, score: float | None = None,
                 correct: bool | None = None, gold: str | None = None) -> FeedbackResult:
        """Grade a served request (see :func:`feedback`). Synchronous: the gateway runs it on a worker thread."""
        return feedback(self.service.engine, request_id, key_id=key_id, score=score, correct=correct, gold=gold)

    async def afeedback(self, request_id: str, *, key_id: str | None = None, score: float | None = None,
                        correct: bool | None = None, gold: str | None = None) -> FeedbackResult:
        """:meth:`feedback` off the event loop; an outcome row it completes counts towards the next refit and the
        guard, as one graded by gold in the request does."""
        def run() -> FeedbackResult:
            self.service.flush_log(5.0)  # a request answered a moment ago may still be on its way to the log
            return self.feedback(request_id, key_id=key_id, score=score, correct=correct, gold=gold)

        result = await asyncio.to_thread(run)
        if result.outcome == "graded":
            await self._after_graded(None)
        return result


def feedback(engine: Any, request_id: str, *, key_id: str | None = None, score: float | None = None,
             correct: bool | None = None, gold: str | None = None, any_key: bool = False) -> FeedbackResult:
    """Record feedback on request ``request_id`` made with ``key_id`` (``any_key``: whoever made it; the operator's
    CLI): the request's quality in the log, and, when it was shadowed, its outcome row graded (by ``gold`` when
    given, else by the score where it decides). Raises UnknownRequestError for an id the log does not hold or another
    key made, DataError for bad feedback (both or neither of score and correct, a score out of 0..1, a request that
    failed)."""
    from smallfirst.store.requests import get_request, set_quality

    quality = check_feedback(score, correct, gold)
    request = get_request(engine, request_id)
    if request is None or (not any_key and request.key_id is not None and request.key_id != key_id):
        raise UnknownRequestError(f"no request {request_id!r} to give feedback on",
                                  hint="use the id of one of your own requests: the response's smallfirst.request_id "
                                       "(header x-smallfirst-request-id)", param="request_id")
    if request.status != "ok":
        raise DataError(f"request {request_id} failed ({request.error}); there is no answer to grade",
                        param="request_id", hint="give feedback on answered requests only")
    row = outcome_for_request(engine, request_id)
    if row is not None and row.id is not None:
        answers = {m: str(r.get("answer") or "") for m, r in row.results.items()}
        if gold is not None:
            grades: dict[str, float | None] = dict(by_gold(row.task, answers, gold))
            by = "gold"
        else:
            assert quality is not None
            grades = by_feedback(row.task, answers, row.served_model, quality)
            by = "feedback"
        merged = {m: {**r, "quality": grades.get(m) if grades.get(m) is not None else r.get("quality")}
                  for m, r in row.results.items()}
        complete = all(r.get("quality") is not None for r in merged.values())
        values: dict[str, Any] = {"results": merged}
        if gold is not None:
            values["gold"] = gold
        if complete:
            values.update(status="graded", graded_by=by, graded_at=datetime.now(UTC), note=None)
        else:
            values["note"] = "feedback graded the served answer; the other tier's awaits gold or the judge"
        set_outcome(engine, row.id, **values)
        if quality is None:
            quality = merged[row.served_model]["quality"]
    elif quality is None:
        assert gold is not None
        # not shadowed: grade the served answer alone against gold, when the log kept its text
        if request.response is None:
            raise DataError(f"request {request_id} kept no answer text to grade against gold",
                            hint="send score or correct instead (log_content is off)")
        quality = by_gold(request.task, {"served": request.response}, gold)["served"]
    if quality is not None:
        set_quality(engine, request_id, quality)
    after = outcome_for_request(engine, request_id)
    return FeedbackResult(request_id, quality, None if after is None else after.status)


def _result(answer: Answer) -> dict[str, Any]:
    c = answer.completion
    return {"quality": None, "prompt_tokens": c.usage.prompt_tokens, "completion_tokens": c.usage.completion_tokens,
            "latency_s": round(c.wall_seconds, 6), "cost_usd": str(answer.cost.amount), "answer": c.text}


def _prompt(messages: Sequence[Message]) -> str:
    return prompt_text(messages)
