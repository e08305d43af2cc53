"""The text-to-SQL prompt, the repair turn, and the SQL taken back out of a model's answer.

The system message holds the instruction and the schema text, identical for every question on one database, so a
local model keeps its tokens in the KV cache and pays for them once; retrieved examples follow as earlier
user/assistant turns, then the question. A repair continues the same conversation: the model's answer, then a
user turn with what the database said about it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from smallfirst.models.completion import Message

__all__ = ["SolvedQuestion", "extract_sql", "question_messages", "repair_messages", "system_message"]

_DIALECT_NAMES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}

_SYSTEM = """You write {dialect} queries for a sales team. Answer the user's question about the database below \
with one SELECT statement, in a ```sql block, and nothing else. Return only the columns the question asks for.

{schema}"""

_REPAIR = """That query did not work: {problem}
Write a corrected query, in a ```sql block."""


@dataclass(frozen=True, slots=True)
class SolvedQuestion:
    """A question with SQL known to answer it: a few-shot example."""

    question: str
    sql: str


def system_message(schema_text: str, dialect: str = "sqlite") -> Message:
    """The instruction and the schema: the prefix every question on this database shares."""
    return {"role": "system", "content": _SYSTEM.format(dialect=_DIALECT_NAMES.get(dialect, dialect),
                                                        schema=schema_text)}


def question_messages(system: Message, question: str, examples: Sequence[SolvedQuestion] = ()) -> list[Message]:
    """The chat for one question: the system message, each example as a question and its SQL answer, the question."""
    messages: list[Message] = [system]
    for ex in examples:
        messages.append({"role": "user", "content": ex.question})
        messages.append({"role": "assistant", "content": f"```sql\n{ex.sql}\n```"})
    messages.append({"role": "user", "content": question})
    return messages


def repair_messages(previous: Sequence[Message], answer: str, problem: str) -> list[Message]:
    """``previous`` (the chat that produced ``answer``) continued with that answer and what went wrong."""
    return [*previous, {"role": "assistant", "content": answer},
            {"role": "user", "content": _REPAIR.format(problem=problem)}]


_FENCED_SQL = re.compile(r"```[ \t]*sql[ \t]*\n(.*?)(?:```|\Z)", re.S | re.I)
_FENCED = re.compile(r"```[ \t]*[A-Za-z]*[ \t]*\n(.*?)(?:```|\Z)", re.S)
_BARE = re.compile(r"\b(SELECT|WITH)\b.*", re.S | re.I)


def extract_sql(text: str) -> str | None:
    """The SQL in a model's answer: the first ```sql block, else the first fenced block, else the text from the first
    SELECT or WITH; cut at the first top-level semicolon's end. None when the answer holds no SQL."""
    for pattern in (_FENCED_SQL, _FENCED, _BARE):
        m = pattern.search(text)
        if m:
            sql = (m.group(1) if pattern is not _BARE else m.group(0)).strip()
            sql = _first_statement(sql)
            if sql:
                return sql
    return None


def _first_statement(sql: str) -> str:
    """Up to the first semicolon outside quotes, so prose after a bare query is dropped; the guard still sees
    anything after it only if it is SQL inside the same fenced block."""
    quote: str | None = None
    for i, ch in enumerate(sql):
        if quote:
            if ch == quote:
                quote = None
        elif ch in ("'", '"', "`"):
            quote = ch
        elif ch == ";":
            rest = sql[i + 1:].strip()
            # another statement in the same answer must reach the guard, which refuses it; prose need not
            if rest and re.match(r"(SELECT|WITH|INSERT|UPDATE|DELETE|DROP|CREATE|ALTER|ATTACH|DETACH|PRAGMA|"
                                 r"REPLACE|VACUUM)\b", rest, re.I):
                return sql.strip()
            return sql[:i].strip()
    return sql.strip()
