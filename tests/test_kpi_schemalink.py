"""Schema linking on the shipped Northwind: the tables a question needs, joined, and a prompt that shows only
them."""

from __future__ import annotations

import asyncio

import pytest

from smallfirst.kpi.fewshot import ExampleIndex
from smallfirst.kpi.northwind import shipped_database
from smallfirst.kpi.questions import load_questions, northwind_notes, training_examples
from smallfirst.kpi.schema_text import describe
from smallfirst.kpi.schemalink import SchemaLinker, sql_tables
from smallfirst.kpi.sqlpipeline import PipelineConfig, SqlPipeline
from smallfirst.kpi.sqlprompt import SolvedQuestion
from smallfirst.models.completion import Completion, Usage


@pytest.fixture(scope="module")
def linker() -> SchemaLinker:
    return SchemaLinker(shipped_database())


def test_words_values_and_joins_link_tables(linker: SchemaLinker) -> None:
    assert linker.link("Average freight per shipper?") == ["Orders", "Shippers"]
    beverages = linker.link("Which employee sold the most Beverages?")
    assert {"Employees", "Categories", "Products", "Order Details", "Orders"} <= set(beverages)
    assert "Suppliers" not in beverages
    assert "Customers" in linker.link("How many customers do we have in Spain?")


def test_retrieved_examples_bring_their_tables(linker: SchemaLinker) -> None:
    shot = SolvedQuestion("How much did we sell?", 'SELECT SUM(d.Quantity) FROM "Order Details" d')
    assert linker.link("What was turnover in 2017?", [shot]) == ["Order Details"]
    assert sql_tables('WITH t AS (SELECT * FROM Orders) SELECT * FROM t JOIN "Order Details" d') == {
        "Orders", "Order Details"}


def test_a_question_that_links_nothing_sees_the_whole_schema(linker: SchemaLinker) -> None:
    assert linker.link("What was turnover in 2017?") == list(linker.tables)


def test_linking_keeps_every_table_the_gold_sql_needs_on_the_test_split(linker: SchemaLinker) -> None:
    index = ExampleIndex(training_examples())
    full = len(describe(shipped_database(), notes=northwind_notes()))
    sizes = []
    for q in load_questions("test"):
        linked = linker.link(q.question, index.nearest(q.question, 3))
        assert sql_tables(q.sql) <= set(linked), q.id
        sizes.append(len(describe(shipped_database(), notes=northwind_notes(), only=set(linked))) / full)
    assert sum(sizes) / len(sizes) < 0.7


def test_a_linking_model_gets_a_prompt_with_only_the_linked_tables() -> None:
    seen = []

    async def call(model: str, messages: list, params: dict) -> Completion:
        seen.append(messages[0]["content"])
        return Completion(model=model, text="SELECT AVG(Freight) FROM Orders", finish_reason="stop",
                          usage=Usage(10, 5), wall_seconds=0.1, ttft_seconds=0.1)

    db = shipped_database()
    pipeline = SqlPipeline(db, describe(db, notes=northwind_notes()), PipelineConfig(("m",), link=True, examples=0),
                           call, notes=northwind_notes())
    answer = asyncio.run(pipeline.run("Average freight per shipper?"))
    assert answer.answered
    assert "CREATE TABLE Shippers" in seen[0] and "CREATE TABLE Customers" not in seen[0]
    assert "Revenue (sales) is after discounts" in seen[0]
