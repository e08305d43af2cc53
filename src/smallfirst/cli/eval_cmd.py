"""`smallfirst eval` (routers over outcome data, cross-fitted) and `smallfirst route fit` (a policy file)."""

from __future__ import annotations

from pathlib import Path

import typer

from smallfirst.cli.output import console

route_app = typer.Typer(help="Fit routing policies that `ask --model auto` and the gateway serve.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add `smallfirst eval` (routers on outcome data) and the `smallfirst route` group to the CLI ``app``
    (``cli.main`` calls each command module's ``register``)."""
    app.command("eval")(eval_command)
    app.add_typer(route_app, name="route")


def eval_command(
    outcomes: str = typer.Option("routellm-mmlu", "--outcomes",
                                 help="routellm-mmlu, routellm-gsm8k (`smallfirst data pull routellm`), a shipped "
                                      "set (local-ladder, cascade-pair) or a JSONL/CSV file."),
    router: list[str] = typer.Option(None, "--router", "-r",
                                     help="Spec LABEL=NAME:key=value,...; repeatable (default: random and the robust "
                                          "families the learner chooses from; `goal` adds the README's routing "
                                          "table). `cascade` reads the small model's recorded confidence."),
    test: str = typer.Option(None, "--test", help="Fit on --outcomes, evaluate on this set (transfer)."),
    folds: int = typer.Option(5, help="Cross-fitting folds."),
    seed: int = typer.Option(0, help="Fold seed."),
    seeds: int = typer.Option(3, min=1, help="Fold seeds per router: its APGR and CPT(50%) spread over them is shown "
                                              "beside the figure (1: no spread)."),
    latency: bool = typer.Option(True, help="Measure decision latency (batch 1) and throughput (batch 64)."),
    data_dir: Path = typer.Option(None, help="Folder holding routellm/ (default: the installed data set)."),
    out: Path = typer.Option(Path("reports/eval"), "--out", "-o", help="Folder for Markdown, CSV and PNG."),
) -> None:
    """Evaluate routers on outcome data: APGR, CPT, AIQ, cost cut at 95% quality; tables and plots."""
    from rich.progress import Progress

    from smallfirst.evaluate import summary
    from smallfirst.evaluate.choose import LEARNING_ROUTERS, pick, robust_apgr
    from smallfirst.evaluate.crossfit import oracle_results
    from smallfirst.evaluate.loaders import load_outcomes
    from smallfirst.evaluate.pairs import check_pair
    from smallfirst.evaluate.run import GOAL_ROUTERS, evaluate, parse_spec

    names: list[str] = []
    for r in router or ["random=random", *LEARNING_ROUTERS]:
        names += GOAL_ROUTERS if r == "goal" else [r]
    specs = [parse_spec(s) for s in dict.fromkeys(names)]
    train = load_outcomes(outcomes, data_dir=data_dir)
    held = load_outcomes(test, data_dir=data_dir) if test else None
    for data, role in ((train, "--outcomes"), (held, "--test")):
        if data is None:
            continue
        pair = check_pair(data)
        if not pair.ok:
            console.print(f"{role} {outcomes if role == '--outcomes' else test}: {pair.message}", markup=False,
                          highlight=False, soft_wrap=True)
            for name, q, c in ((pair.weak, pair.weak_quality, pair.weak_cost),
                               (pair.strong, pair.strong_quality, pair.strong_cost)):
                console.print(f"  {name}: mean quality {q:.3f}" + ("" if c is None else f", mean cost ${c:.6f}"),
                              markup=False, highlight=False, soft_wrap=True)
            return
    with Progress(console=console, transient=True) as bar:
        task = bar.add_task("routers", total=len(specs))

        def _step(label: str) -> None:
            bar.update(task, description=f"evaluating {label}", completed=[s.label for s in specs].index(label))

        results = evaluate(specs, train, test=held, k=folds, seed=seed, latency=latency, seeds=seeds, progress=_step)
    best = pick(results)
    results = results + oracle_results(held if held is not None else train)
    table = summary.markdown_table(results)
    console.print(table, markup=False, highlight=False)
    if best is not None:
        spread = f" ± {best.apgr_sd:.3f} over {best.seeds} fold seeds" if best.apgr_sd is not None else ""
        console.print(f"picked: {best.name} (APGR {best.apgr:.3f}{spread}; the highest APGR minus its spread, "
                      f"{robust_apgr(best):.3f}: what the gateway's learner would refit here)", markup=False,
                      highlight=False, soft_wrap=True)
    stem = Path(outcomes).stem + (f"-to-{Path(test).stem}" if test else "")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(table, encoding="utf-8")
    summary.write_csv(results, out / f"{stem}.csv")
    summary.plot_share(results, out / f"{stem}-share.png", f"{stem}: quality vs strong-call share")
    summary.plot_cost(results, out / f"{stem}-cost.png", f"{stem}: quality vs cost")
    console.print(f"wrote {out}/{stem}.md, .csv, -share.png, -cost.png")


@route_app.command("fit")
def route_fit(
    router: str = typer.Option("logistic:features=static+task,C=0.3", "--router",
                               help="Router spec NAME:key=value, or cascade (a log-probability cascade read off the "
                                    "outcomes' recorded confidence)."),
    outcomes: str = typer.Option(..., "--outcomes", help="routellm-mmlu, routellm-gsm8k, a shipped set "
                                                          "(local-ladder, cascade-pair) or a JSONL/CSV file."),
    target: str = typer.Option("share=0.3", "--target", help="share=0.3, quality=0.95 or budget=2.5 (USD/1k)."),
    models: str = typer.Option(None, "--models", help="Serving names WEAK,STRONG (default: the outcome models)."),
    costs: str = typer.Option(None, "--costs", help="WEAK_USD,STRONG_USD per request, for a budget target."),
    folds: int = typer.Option(5, help="Calibrate on cross-fitted scores with this many folds."),
    data_dir: Path = typer.Option(None, help="Folder holding routellm/ (default: the installed data set)."),
    out: Path = typer.Option(Path("policy.json"), "--out", "-o", help="Policy file to write."),
) -> None:
    """Fit a router, calibrate its threshold to a target on held-out scores, and save the policy."""
    from smallfirst.evaluate.crossfit import cross_fit_scores
    from smallfirst.evaluate.loaders import load_outcomes
    from smallfirst.evaluate.run import parse_spec
    from smallfirst.routing.calibrate import calibrate, parse_target
    from smallfirst.routing.cascade import Cascade, escalation_scores, threshold_for
    from smallfirst.routing.policy import ThresholdPolicy
    from smallfirst.routing.policy_store import save_policy

    spec = parse_spec(router)
    data = load_outcomes(outcomes, data_dir=data_dir)
    cost_pair = tuple(float(x) for x in costs.split(",")) if costs else None
    goal = parse_target(target, cost_pair)  # type: ignore[arg-type]
    names = tuple(models.split(",")) if models else (data.models[0], data.models[-1])
    if spec.cascade:
        cal = calibrate(escalation_scores(data), data, goal, cascade=True)
        keep = threshold_for(cal.threshold)
        save_policy(Cascade(names[0], names[-1], keep, "logprob", name="auto", target=str(goal)), out)
        console.print(f"{out}: cascade keeps {names[0]}'s answer when its mean token log-probability >= {keep:.4f} "
                      f"-> escalated share {cal.share:.1%}, quality {cal.quality:.3f} ({goal})")
        return
    scores = cross_fit_scores(spec.make, data, k=folds, use_tasks=spec.use_tasks)
    cal = calibrate(scores, data, goal)
    fitted = spec.make().fit(data)
    save_policy(ThresholdPolicy(fitted, cal.threshold, names, target=str(goal)), out)
    console.print(f"{out}: threshold {cal.threshold:.4f} -> strong share {cal.share:.1%}, quality {cal.quality:.3f}"
                  f" ({goal})")
