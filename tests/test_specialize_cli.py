"""`smallfirst specialize` end to end on a Banking77 slice: trains, evaluates, prints, registers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

CLASSES = ("card_arrival", "exchange_rate", "lost_or_stolen_card")


def _write(path: Path, split: str, per_class: int) -> Path:
    src = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "banking77" / f"{split}.csv"
    if not src.exists():
        pytest.skip("Banking77 data not present")
    seen = dict.fromkeys(CLASSES, 0)
    with src.open(newline="") as fh, path.open("w", newline="") as out:
        w = csv.writer(out, delimiter="\t")
        w.writerow(["intent", "message"])
        for row in csv.DictReader(fh):
            if row["category"] in seen and seen[row["category"]] < per_class:
                seen[row["category"]] += 1
                w.writerow([row["category"], row["text"]])
    return path


def _app() -> typer.Typer:
    from smallfirst.cli.specialize_cmd import register

    app = typer.Typer()
    register(app)
    app.command("noop")(lambda: None)  # a lone command would become the app itself
    return app


def test_specialize_trains_evaluates_and_registers(tmp_path, monkeypatch):
    pytest.importorskip("onnxruntime")
    monkeypatch.setenv("SMALLFIRST_EMBED_CACHE", str(tmp_path / "emb"))
    train = _write(tmp_path / "train.tsv", "train", 30)
    ev = _write(tmp_path / "test.tsv", "test", 10)
    args = ["specialize", "--task", "bank3", "--train", str(train), "--eval", str(ev),
            "--text-col", "message", "--label-col", "intent"]
    result = CliRunner().invoke(_app(), args)
    assert result.exit_code == 0, result.output
    assert "eval accuracy" in result.output
    from smallfirst.config import Settings

    manifest = Settings().home / "specialized" / "bank3" / "tier.json"
    body = json.loads(manifest.read_text())
    assert body["backend"] == "classifier" and Path(body["artifact"]).is_dir()


def test_specialize_with_missing_label_column_fails_before_training(tmp_path):
    from smallfirst.errors import DataError

    train = _write(tmp_path / "train.tsv", "train", 5)
    args = ["specialize", "--task", "x", "--train", str(train), "--text-col", "message"]
    result = CliRunner().invoke(_app(), args)
    assert isinstance(result.exception, DataError)
    assert "no label column 'label'" in str(result.exception)
