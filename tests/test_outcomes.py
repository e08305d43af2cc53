import json

import numpy as np
import pytest

from smallfirst import outcomes as oc
from smallfirst.errors import DataError
from smallfirst.evaluate.loaders import load_outcomes, load_routellm_gsm8k, load_routellm_mmlu
from tests.conftest import DATA

needs_data = pytest.mark.skipif(not (DATA / "routellm").is_dir(), reason="shared data not present")


@needs_data
def test_mmlu_loader_drops_contaminated_prompts_by_eval_prompt():
    full = load_routellm_mmlu(exclude_contaminated=False)
    clean = load_routellm_mmlu()
    assert len(full) == 14042 and len(clean) == 14037
    contaminated = {json.loads(line)["eval_prompt"]
                    for line in (DATA / "routellm/mmlu_contaminated_prompts.jsonl").open()}
    assert not contaminated & set(clean.prompts)
    assert clean.models[0].startswith("mistralai/") and clean.tasks[0].startswith("mmlu/")
    assert not clean.graded and set(np.unique(clean.quality)) == {0.0, 1.0}


@needs_data
def test_gsm8k_loader_and_named_sets():
    g = load_routellm_gsm8k()
    assert len(g) == 1307 and g.quality.shape == (1307, 2)
    assert len(load_outcomes("routellm-gsm8k")) == 1307


def test_unknown_set_names_the_known_ones():
    with pytest.raises(DataError, match="routellm-mmlu"):
        load_outcomes("no-such-set")


def test_csv_missing_prompt_column(tmp_path):
    p = tmp_path / "o.csv"
    p.write_text("id,question,a,b\n1,x,1,0\n")
    with pytest.raises(DataError, match="missing column 'prompt'"):
        oc.load(p)


def test_unknown_model_is_named(tmp_path):
    p = tmp_path / "o.jsonl"
    p.write_text(json.dumps({"prompt": "x", "results": {"a": 1, "zz": 0}}) + "\n")
    with pytest.raises(DataError, match="unknown models \\['zz'\\]"):
        oc.load(p, models=["a", "b"])


def test_mixed_score_types_are_refused(tmp_path):
    p = tmp_path / "o.jsonl"
    p.write_text(json.dumps({"prompt": "x", "results": {"a": {"quality": True}, "b": {"quality": 7}}}) + "\n")
    with pytest.raises(DataError, match="mixes binary and graded"):
        oc.load(p)


def test_empty_dataset_is_refused(tmp_path):
    p = tmp_path / "o.jsonl"
    p.write_text("")
    with pytest.raises(DataError, match="empty"):
        oc.load(p)


def test_graded_scores_round_trip(tmp_path):
    recs = [{"id": "1", "prompt": "x", "results": {"a": {"quality": 3}, "b": {"quality": 9, "cost_usd": 0.01}}},
            {"id": "2", "prompt": "y", "results": {"a": {"quality": 5}, "b": {"quality": 8}}}]
    o = oc.from_records(recs)
    assert o.graded and o.quality.tolist() == [[3, 9], [5, 8]]
    back = oc.load(oc.save(o, tmp_path / "o.jsonl"))
    assert back.quality.tolist() == o.quality.tolist() and back.cost_usd[0, 1] == pytest.approx(0.01)


def test_a_gzipped_outcome_file_loads_like_the_plain_one(tmp_path):
    """The loader reads JSONL compressed with gzip (``.gz``), as the replay backend does, through one reader;
    a line that is not JSON is named by file and line in both."""
    import gzip

    recs = [{"id": str(i), "prompt": f"p{i}", "results": {"a": {"quality": i % 2}, "b": {"quality": 1}}}
            for i in range(6)]
    text = "".join(json.dumps(r) + "\n" for r in recs)
    plain, packed = tmp_path / "o.jsonl", tmp_path / "o.jsonl.gz"
    plain.write_text(text)
    packed.write_bytes(gzip.compress(text.encode()))
    a, b = oc.load(plain), oc.load(packed)
    assert a.prompts == b.prompts and a.quality.tolist() == b.quality.tolist() and a.models == b.models
    broken = tmp_path / "broken.jsonl.gz"
    broken.write_bytes(gzip.compress((text + "{not json\n").encode()))
    with pytest.raises(DataError, match=r"broken.jsonl.gz:7: not valid JSON"):
        oc.load(broken)
