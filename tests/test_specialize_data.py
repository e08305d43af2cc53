"""Bad training data gets errors that name the fault and the way out."""

from __future__ import annotations

import json

import pytest

from smallfirst.errors import DataError
from smallfirst.specialize.data import LabelledData, load_labelled


def _csv(path, rows, header="text,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_reads_csv_tsv_and_jsonl_with_named_columns(tmp_path):
    rows = [f"hello {i},a" for i in range(4)] + [f"bye {i},b" for i in range(4)]
    d = load_labelled(_csv(tmp_path / "d.csv", rows))
    assert d.classes == ("a", "b") and len(d) == 8
    (tmp_path / "d.tsv").write_text("lab\tmsg\n" + "\n".join(f"{r[-1]}\t{r[:-2]}" for r in rows))
    assert load_labelled(tmp_path / "d.tsv", text_col="msg", label_col="lab").labels == d.labels
    (tmp_path / "d.jsonl").write_text("\n".join(json.dumps({"q": r[:-2], "y": r[-1]}) for r in rows))
    assert load_labelled(tmp_path / "d.jsonl", text_col="q", label_col="y").sha256 == d.sha256


def test_missing_label_column_is_named(tmp_path):
    with pytest.raises(DataError, match="no label column 'label'.*columns: text, category"):
        load_labelled(_csv(tmp_path / "d.csv", ["x,y"], header="text,category"))


def test_missing_text_column_is_named(tmp_path):
    with pytest.raises(DataError, match="no text column 'body'"):
        load_labelled(_csv(tmp_path / "d.csv", ["x,y"]), text_col="body")


def test_only_one_class_is_refused(tmp_path):
    with pytest.raises(DataError, match="only one class \\('a'\\)"):
        load_labelled(_csv(tmp_path / "d.csv", [f"t{i},a" for i in range(10)]))


def test_classes_with_too_few_examples_are_named(tmp_path):
    rows = [f"t{i},big" for i in range(10)] + ["u,rare", "v,rare", "w,tiny"] + [f"o{i},ok" for i in range(5)]
    with pytest.raises(DataError, match="2 classes .*'rare' \\(2\\), 'tiny' \\(1\\)") as exc:
        load_labelled(_csv(tmp_path / "d.csv", rows))
    assert "big" not in str(exc.value)


def test_empty_text_column_is_refused(tmp_path):
    with pytest.raises(DataError, match="text column .* is empty"):
        load_labelled(_csv(tmp_path / "d.csv", [f",{c}" for c in "aabbccdd"]))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_labelled(tmp_path / "nope.csv")


def test_data_hash_depends_on_labels():
    a = LabelledData(("x", "y"), ("1", "2"))
    b = LabelledData(("x", "y"), ("2", "1"))
    assert a.sha256 != b.sha256
