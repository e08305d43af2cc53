"""Execution grading, the shipped question set and the shipped database (built again from the upstream SQL)."""

from __future__ import annotations

import pytest

from smallfirst.kpi.execgrade import grade_sql, is_ranking, results_match
from smallfirst.kpi.northwind import build_northwind, content_digest, northwind_path, shipped_database
from smallfirst.kpi.questions import load_questions
from smallfirst.kpi.sqlprompt import extract_sql
from smallfirst.tasks import grading
from smallfirst.tasks.sources import kpi
from tests.conftest import DATA

REVENUE_2017 = ("SELECT SUM(d.UnitPrice * d.Quantity * (1 - d.Discount)) FROM Orders o JOIN \"Order Details\" d "
                "ON d.OrderID = o.OrderID WHERE strftime('%Y', o.OrderDate) = '2017'")


def test_rows_match_in_any_order_unless_the_gold_is_a_ranking() -> None:
    gold = [("USA", 10.0), ("Germany", 8.0)]
    assert results_match([("Germany", 8.0), ("USA", 10.0)], gold)
    assert not results_match([("Germany", 8.0), ("USA", 10.0)], gold, ordered=True)
    assert results_match([("USA", 10.0), ("Germany", 8.0)], gold, ordered=True)
    assert not results_match([("USA", 10.0)], gold)


def test_an_answer_may_add_columns_but_not_drop_them() -> None:
    assert results_match([(3, "Chai", 120.5)], [("Chai",)])
    assert results_match([(120.5, "Chai")], [("Chai", 120.5)])
    assert not results_match([("Chai",)], [("Chai", 120.5)])
    # each gold column needs its own answer column, rows aligned across them
    assert not results_match([("a", 1), ("b", 2)], [("a", 2), ("b", 1)])


def test_numbers_match_within_the_stated_tolerance_and_shares_in_either_scale() -> None:
    assert results_match([(617085.20,)], [(617085.2035,)])      # rounded to cents
    assert results_match([(617000.0,)], [(617085.2035,)])       # within 0.1%
    assert not results_match([(610000.0,)], [(617085.2035,)])
    assert results_match([(0.1684,)], [(16.841159763766726,)])  # a fraction for a percentage
    assert results_match([("04",)], [(4,)])                     # numeric text
    assert results_match([(" beverages ",)], [("Beverages",)])
    assert not results_match([(None,)], [(0,)])
    assert results_match([], [])


def test_rankings_are_recognised_from_the_gold_query() -> None:
    assert is_ranking("SELECT ProductName FROM Products ORDER BY UnitPrice DESC LIMIT 3")
    assert not is_ranking("SELECT Country, COUNT(*) FROM Customers GROUP BY Country ORDER BY 2")
    assert not is_ranking("SELECT x FROM (SELECT a AS x FROM t ORDER BY a LIMIT 3)")


def test_grading_runs_both_queries_on_the_database() -> None:
    db = shipped_database()
    assert grade_sql(REVENUE_2017, REVENUE_2017, db) == 1.0
    assert grade_sql(REVENUE_2017.replace("2017", "2016"), REVENUE_2017, db) == 0.0
    assert grade_sql("SELECT ROUND(SUM(UnitPrice * Quantity * (1 - Discount)), 2) AS revenue, '2017' AS year "
                     "FROM \"Order Details\" WHERE OrderID IN (SELECT OrderID FROM Orders WHERE OrderDate LIKE "
                     "'2017%')", REVENUE_2017, db) == 1.0
    assert grade_sql("SELECT Revenue FROM Orders", REVENUE_2017, db) == 0.0
    assert grade_sql("DROP TABLE Orders", REVENUE_2017, db) == 0.0
    assert grade_sql(None, REVENUE_2017, db) == 0.0


def test_task_kpi_is_graded_by_execution_from_a_models_answer() -> None:
    answer = f"Here you go:\n```sql\n{REVENUE_2017};\n```\nThis sums net sales."
    assert grading.extract("kpi", answer) == REVENUE_2017
    assert grading.grade("kpi", answer, REVENUE_2017) == 1.0
    assert grading.grade("kpi", answer.replace("2017", "2018"), REVENUE_2017) == 0.0
    assert grading.grade("kpi", "I cannot answer that.", REVENUE_2017) == 0.0


def test_kpi_task_items_come_from_the_test_split_with_the_schema_in_the_prompt() -> None:
    items = kpi()
    assert len(items) == len(load_questions("test")) and all(it.task == "kpi" for it in items)
    first = items[0]
    assert first.messages[0]["role"] == "system" and 'CREATE TABLE "Order Details"' in first.messages[0]["content"]
    assert first.messages[-1]["content"] == first.text and first.gold
    assert len(kpi(n=5, seed=1)) == 5


def test_sql_is_taken_out_of_fenced_or_bare_answers() -> None:
    assert extract_sql("```sql\nSELECT 1\n```") == "SELECT 1"
    assert extract_sql("```\nSELECT 2;\n```") == "SELECT 2"
    assert extract_sql("The query is SELECT 3; it counts.") == "SELECT 3"
    assert extract_sql("```sql\nSELECT 4; DROP TABLE Orders\n```") == "SELECT 4; DROP TABLE Orders"  # for the guard
    assert extract_sql("```sql\nSELECT ';' AS x") == "SELECT ';' AS x"  # cut short by max_tokens
    assert extract_sql("No idea.") is None


def test_the_question_set_is_large_split_by_template_and_every_gold_query_answers() -> None:
    questions = load_questions()
    assert len(questions) >= 200 and len({q.id for q in questions}) == len(questions)
    train = {q.template for q in questions if q.split == "train"}
    test = {q.template for q in questions if q.split == "test"}
    assert train and test and not train & test
    db = shipped_database()
    for q in questions:
        rows = db.execute(q.sql).rows
        assert rows and any(v is not None for row in rows for v in row), q.id


@pytest.mark.skipif(not (DATA / "northwind" / "create.sql").exists(), reason="needs ../shared/data/northwind")
def test_building_from_the_upstream_sql_gives_the_shipped_database(tmp_path) -> None:
    out = build_northwind(DATA / "northwind" / "create.sql", DATA / "northwind" / "update.sql", tmp_path / "nw.db")
    assert content_digest(out) == content_digest(northwind_path())
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_failed_build_leaves_no_file_behind(tmp_path) -> None:
    bad = tmp_path / "create.sql"
    bad.write_text("CREATE TABLE x (a);\nTHIS IS NOT SQL;")
    (tmp_path / "update.sql").write_text("")
    with pytest.raises(Exception, match="rejected"):
        build_northwind(bad, tmp_path / "update.sql", tmp_path / "out.db")
    assert not (tmp_path / "out.db").exists() and not list(tmp_path.glob(".out.db.*"))
