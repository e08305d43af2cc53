"""`smallfirst learn status|history|rollback` and `smallfirst feedback`: what the gateway learned from its traffic."""

from __future__ import annotations

import typer

from smallfirst.cli.output import console
from smallfirst.config import load_settings

learn_app = typer.Typer(help="What the gateway learned from its traffic: status, policy history, rollback.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(learn_app, name="learn")
    app.command("feedback")(feedback)


def _engine():  # noqa: ANN202 - a SQLAlchemy engine
    from smallfirst.store.db import get_engine

    return get_engine(load_settings().db_url)


@learn_app.command("status")
def status() -> None:
    """What is learned and serving, outcome rows, learning cost, the saving, and when learning pays for itself."""
    from smallfirst.learning.status import learning_status, render

    settings = load_settings()
    for line in render(learning_status(settings, _engine())):
        console.print(line, markup=False, highlight=False)


@learn_app.command("history")
def history(limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many recent versions to show.")) -> None:
    """Every policy version fitted: when, on which data (rows, sha256), its metrics, and what became of it."""
    from smallfirst.store.learning_log import versions

    rows = versions(_engine())[-limit:]
    if not rows:
        console.print("no policy version fitted yet: the large tier answers every request", markup=False)
        return
    for v in rows:
        m = v.metrics
        metric = "" if m.get("challenger") is None else (
            f"; {m.get('metric', 'metric')} {m['challenger']:.3f} ± {m.get('spread') or 0:.3f} against the serving "
            f"policy's {m.get('serving') or 0:.3f}")
        ended = f", ended {v.ended_at:%Y-%m-%d %H:%M:%S}" if v.ended_at else ""
        console.print(f"v{v.id} [{v.status}] {v.created_at:%Y-%m-%d %H:%M:%S} UTC{ended}: {v.router}, {v.n_outcomes} "
                      f"outcomes (data sha256 {v.data_sha256[:12] or '-'}){metric}\n    {v.reason}",
                      markup=False, highlight=False, soft_wrap=True)


@learn_app.command("rollback")
def rollback(reason: str = typer.Option("rolled back by hand (smallfirst learn rollback)", help="Why, for the "
                                        "history.")) -> None:
    """Stop serving the learned version: the one it replaced serves again (the large tier, at first). A running
    gateway picks the change up within half a minute."""
    from smallfirst.errors import DataError
    from smallfirst.learning.learner import Learner
    from smallfirst.routing.policy_store import load_policy, save_policy
    from smallfirst.store.learning_log import serving_version

    settings = load_settings()
    engine = _engine()
    current = serving_version(engine, settings.learning.policy)
    if current is None or current.id is None:
        raise DataError("no learned policy version is serving: the large tier already answers every request",
                        hint="see `smallfirst learn history`")
    restored = Learner(settings, engine).rollback(current.id, reason)
    serving = settings.home / "learning" / "serving.json"
    if restored is None or not restored.document:
        serving.unlink(missing_ok=True)
        console.print(f"rolled back v{current.id}: {settings.routing.large} answers every request again",
                      markup=False)
        return
    tmp = serving.with_name("restored.json")
    tmp.write_text(restored.document, encoding="utf-8")
    save_policy(load_policy(tmp), serving)
    tmp.unlink()
    console.print(f"rolled back v{current.id}: v{restored.id} ({restored.router}) serves again", markup=False)


def feedback(request_id: str = typer.Argument(..., help="The request's id (`smallfirst log`, or the response's "
                                                        "smallfirst.request_id)."),
             correct: bool = typer.Option(None, "--correct/--wrong", help="Was the answer right?"),
             score: float = typer.Option(None, help="Or a score from 0 (wrong) to 1 (right)."),
             gold: str = typer.Option(None, help="The right answer, when you know it (grades every tier's answer).")
             ) -> None:
    """Grade an answer the gateway gave, so learning learns from it (as POST /v1/feedback does)."""
    from smallfirst.learning.loop import feedback as give

    result = give(_engine(), request_id, score=score, correct=correct, gold=gold, any_key=True)
    q = "ungraded" if result.quality is None else f"quality {result.quality:g}"
    where = "not shadowed" if result.outcome is None else f"outcome row {result.outcome}"
    console.print(f"{request_id}: {q}; {where}", markup=False)
