"""The benchmarks run the product: they import their loaders, prompts, graders and evaluation from smallfirst,
import without side effects, and run end to end on tiny real slices of Banking77 and CUAD (real MiniLM
encoder, real SmolLM2 as the "general" model)."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import DATA, TEST_MODEL

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_benchmark_edits_sys_path():
    offenders = [p.name for p in BENCH.glob("*.py") if "sys.path" in p.read_text(encoding="utf-8")]
    assert offenders == []


@pytest.mark.parametrize("name", ["specialization", "general_baseline", "lora_niche"])
def test_benchmark_imports_without_side_effects(name, capsys, tmp_path):
    path_before = list(sys.path)
    module = _load(name)
    assert sys.path == path_before
    assert capsys.readouterr() == ("", "")
    assert list(tmp_path.iterdir()) == []  # the cwd (the test's tmp folder) is untouched
    assert callable(getattr(module, "main", None) or module.compare_general)


# -- tiny real slices in the upstream layout ------------------------------------------------------------------

B77_CLASSES = ("card_arrival", "exchange_rate", "lost_or_stolen_card", "top_up_failed")


def _banking77_slice(root: Path, train_per_class: int = 12, test_per_class: int = 4) -> None:
    src = DATA / "banking77"
    if not (src / "train.csv").exists():
        pytest.skip("Banking77 data not present")
    dest = root / "banking77"
    dest.mkdir(parents=True)
    (dest / "categories.json").write_text(json.dumps(list(B77_CLASSES)))
    for split, per in (("train", train_per_class), ("test", test_per_class)):
        seen = dict.fromkeys(B77_CLASSES, 0)
        with (src / f"{split}.csv").open(newline="") as fh, (dest / f"{split}.csv").open("w", newline="") as out:
            w = csv.DictWriter(out, fieldnames=["text", "category"])
            w.writeheader()
            for row in csv.DictReader(fh):
                if seen.get(row["category"], per) < per:
                    seen[row["category"]] += 1
                    w.writerow({"text": row["text"], "category": row["category"]})


def _cuad_slice(root: Path, kinds: tuple[str, ...] = ("CUAD_Anti-Assignment", "CUAD_Audit_Rights"),
                per_label: int = 8) -> None:
    src = DATA / "cuad"
    if not (src / kinds[0] / "test.tsv").exists():
        pytest.skip("CUAD data not present")
    for kind in kinds:
        dest = root / "cuad" / kind
        dest.mkdir(parents=True)
        (dest / "base_prompt.txt").write_text((src / kind / "base_prompt.txt").read_text())
        (dest / "train.tsv").write_text((src / kind / "train.tsv").read_text())
        with (src / kind / "test.tsv").open(newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        keep = [r for label in ("Yes", "No") for r in [r for r in rows if r["label"] == label][:per_label]]
        with (dest / "test.tsv").open("w", newline="") as out:
            w = csv.DictWriter(out, fieldnames=["text", "label"], delimiter="\t", extrasaction="ignore")
            w.writeheader()
            w.writerows(keep)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bench-data")
    _banking77_slice(root)
    _cuad_slice(root)
    return root


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    pytest.importorskip("onnxruntime")
    from smallfirst.embeddings.minilm import MiniLMEncoder

    mp = pytest.MonkeyPatch()
    mp.setenv("SMALLFIRST_EMBED_CACHE", str(tmp_path_factory.mktemp("embcache")))
    try:
        enc = MiniLMEncoder(threads=1)
    except Exception as exc:  # noqa: BLE001 - missing model packages skip, they do not fail
        mp.undo()
        pytest.skip(f"MiniLM not available: {exc}")
    yield enc
    mp.undo()


@pytest.fixture(scope="module")
def specialised(tiny_data, encoder):
    bench = _load("specialization")
    return bench, bench.banking77(tiny_data, encoder, latency_n=3), bench.cuad(tiny_data, encoder)


# -- the package functions the benchmarks now call --------------------------------------------------------------

def test_cuad_item_is_the_prompt_collect_sends(tiny_data):
    from smallfirst.tasks import sources

    folders = sources.cuad_types(tiny_data)
    assert [f.name for f in folders] == ["CUAD_Anti-Assignment", "CUAD_Audit_Rights"]
    built = {it.id: it for it in sources.cuad(tiny_data, 32, seed=0)}
    with (folders[1] / "test.tsv").open(newline="") as fh:
        row = list(csv.DictReader(fh, delimiter="\t"))[3]
    item = sources.cuad_item(folders[1], 3, row["text"], row["label"])
    assert built[item.id] == item
    assert item.messages[0]["content"].startswith(sources.cuad_question(folders[1]))
    assert item.messages[0]["content"].endswith(f"Clause: {row['text']}\n\nAnswer Yes or No.")


def test_banking77_messages_list_the_labels_or_use_the_tuned_instruction(tiny_data):
    from smallfirst.tasks import sources

    item = sources.banking77(tiny_data, 1, seed=0)[0]
    assert item.messages == sources.banking77_messages(item.text, B77_CLASSES)
    assert all(label in item.messages[0]["content"] for label in B77_CLASSES)
    tuned = sources.banking77_messages("where is my card?")
    assert tuned[0]["content"] == sources.BANKING77_TUNED_SYSTEM
    assert not any(label in tuned[0]["content"] for label in B77_CLASSES)


def test_stratified_split_partitions_and_keeps_two_per_class():
    from smallfirst.specialize.data import stratified_split

    labels = ["a"] * 9 + ["b"] * 4 + ["c"] * 2
    keep, hold = stratified_split(labels, 0.5, seed=0)
    assert sorted(np.concatenate([keep, hold]).tolist()) == list(range(len(labels)))
    kept = [labels[i] for i in keep]
    assert {c: kept.count(c) for c in "abc"} == {"a": 5, "b": 2, "c": 2}
    again = stratified_split(np.array(labels), 0.5, seed=0)
    assert np.array_equal(again[0], keep) and np.array_equal(again[1], hold)


# -- the benchmarks, end to end on the tiny slices --------------------------------------------------------------

def test_specialization_benchmark_reports_the_products_evaluation(specialised, tiny_data, encoder, capsys):
    bench, bank, _ = specialised
    from smallfirst.specialize.data import load_labelled
    from smallfirst.specialize.workflow import evaluate

    test = load_labelled(tiny_data / "banking77" / "test.csv", text_col="text", label_col="category")
    report = evaluate(bank["clf"], test, encoder)
    assert bank["test"] == test
    assert float(bank["correct"].mean()) == pytest.approx(report.accuracy)
    assert report.accuracy >= 0.75  # 4 intents, 12 examples each: a working classifier, not chance (0.25)


def test_specialization_benchmark_halves_cuad_with_the_products_split(specialised, tiny_data):
    _, _, cu = specialised
    from smallfirst.specialize.data import load_labelled, stratified_split

    assert len(cu["samples"]) == 2
    for folder, (clf, ev, rows) in cu["samples"].items():
        test = load_labelled(folder / "test.tsv", min_per_class=1)
        _, hold = stratified_split(test.labels, 0.5, seed=0)
        assert list(rows) == list(hold)
        assert ev == test.subset(hold)
        assert clf.classes == ("No", "Yes")


def test_general_baseline_prompts_grades_and_prices_like_the_product(specialised, smollm2_path, capsys):
    _, bank, cu = specialised
    general = _load("general_baseline")
    capsys.readouterr()
    general.compare_general(TEST_MODEL, 2, bank, cu)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 6
    assert out[0].startswith(f"intents ({TEST_MODEL}, zero-shot) general model accuracy ")
    assert "(n=2)" in out[0] and "(n=2)" in out[3]
    assert out[1].count("$") == 2 and "ratio 1/" in out[1]  # both sides priced by the ledger
    assert out[3].startswith(f"clauses ({TEST_MODEL}, the clause type's question) general model accuracy ")
    assert "pipeline with real escalation" in out[5]
