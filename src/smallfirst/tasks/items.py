"""The workload format: JSONL, one item per line.

    {"id": "banking77-17", "task": "banking77", "gold": "card_arrival",
     "messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}]}

``prompt`` may replace ``messages`` for a single user turn. ``gold`` is optional: items without it are
served and priced but not graded. ``task`` is free text; the graders know banking77, cuad, gsm8k and mmlu,
and any other task is graded by exact match when it has a gold answer.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from smallfirst.errors import DataError
from smallfirst.models.completion import Message


@dataclass(frozen=True, slots=True)
class TaskItem:
    """One workload item: an id unique in its file, the task (a family, optionally ``family/subtask``), the chat
    messages sent to a model, the gold answer when known, and the bare input text when it differs from the last
    message."""

    id: str
    task: str
    messages: tuple[Message, ...]
    gold: str | None = None
    #: the bare input, e.g. the customer message without instructions: what classifiers and routers read
    text: str | None = None

    @property
    def prompt(self) -> str:
        """What a router or classifier reads: ``text`` when set, else the last message's content."""
        return self.text if self.text is not None else str(self.messages[-1]["content"])

    def to_json(self) -> dict:
        """The item as one line of the workload format (``gold`` and ``text`` only when set)."""
        out: dict = {"id": self.id, "task": self.task, "messages": list(self.messages)}
        if self.gold is not None:
            out["gold"] = self.gold
        if self.text is not None:
            out["text"] = self.text
        return out


def load_items(path: str | Path) -> list[TaskItem]:
    """Read a JSONL workload (the format above). An item without ``id`` gets ``<file stem>-<line>``, without
    ``task`` "general". Raises DataError naming the file and line for a missing file, invalid JSON, an item
    without messages or prompt, a duplicate id, or a file with no items."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"workload file {p} does not exist",
                        hint="give a JSONL workload (docs/formats.md), or leave --workload out for the shipped one")
    items: list[TaskItem] = []
    seen: set[str] = set()
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{p}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict):
                raise DataError(f"{p}:{lineno}: each line must be a JSON object")
            if "messages" in rec:
                msgs = rec["messages"]
                if not isinstance(msgs, list) or not msgs or not all(
                        isinstance(m, dict) and "role" in m and "content" in m for m in msgs):
                    raise DataError(f"{p}:{lineno}: 'messages' must be a non-empty list of {{role, content}}")
                messages = tuple(msgs)
            elif isinstance(rec.get("prompt"), str) and rec["prompt"].strip():
                messages = ({"role": "user", "content": rec["prompt"]},)
            else:
                raise DataError(f"{p}:{lineno}: an item needs 'messages' or a non-empty 'prompt'")
            item_id = str(rec.get("id", f"{p.stem}-{lineno}"))
            if item_id in seen:
                raise DataError(f"{p}:{lineno}: duplicate id {item_id!r}")
            seen.add(item_id)
            gold = rec.get("gold")
            items.append(TaskItem(id=item_id, task=str(rec.get("task") or "general"), messages=messages,
                                  gold=None if gold is None else str(gold), text=rec.get("text")))
    if not items:
        raise DataError(f"workload file {p} has no items")
    return items


def save_items(items: Sequence[TaskItem], path: str | Path) -> Path:
    """Write ``items`` as a JSONL workload atomically (a temporary file, then rename); returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(p.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for item in items:
            fh.write(json.dumps(item.to_json(), ensure_ascii=False) + "\n")
    tmp.replace(p)
    return p
