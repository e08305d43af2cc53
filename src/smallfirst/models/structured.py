"""Structured output for backends that generate free text (llama.cpp): JSON mode, JSON Schema and tool calls.

``response_format`` and a forced tool call become a GBNF grammar that llama.cpp's sampler enforces token by
token (llama-cpp-python's own JSON grammar and JSON-Schema converter, from llama.cpp's
``json-schema-to-grammar``). Tool calls use the model's chat template: the template renders the offered tools
and earlier calls, and the model writes each call as ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``
(the Hermes convention Qwen2.5's template teaches), which :func:`parse_tool_calls` reads back. Every reply is
checked against what the request asked for (:func:`check_reply`): a reply that fails its schema is an error,
never a 200.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from smallfirst.errors import InvalidReplyError, UnsupportedParameterError
from smallfirst.models.completion import Message, ToolCall

__all__ = ["check_reply", "grammar_text", "parse_tool_calls", "template_messages", "wants_structure"]

_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
_OPEN = "<tool_call>"


def wants_structure(params: dict[str, Any]) -> bool:
    """Whether the request constrains the reply: a JSON ``response_format`` or offered tools."""
    return bool(params.get("response_format") or params.get("tools"))


def grammar_text(params: dict[str, Any]) -> str | None:
    """The GBNF grammar the reply must follow, or None: JSON for ``json_object``, the schema's grammar for
    ``json_schema``, a ``<tool_call>`` block for ``tool_choice`` "required" or a named function. Raises
    UnsupportedParameterError for a schema llama.cpp's converter cannot express, or for a JSON format combined
    with tools the model may call."""
    fmt = params.get("response_format")
    tools = params.get("tools") or []
    choice = params.get("tool_choice", "auto")
    if tools and choice != "none":
        if fmt:
            raise UnsupportedParameterError(
                "response_format together with tools is not supported on local models",
                param="response_format", hint="send one of them, or tool_choice='none'")
        if choice == "auto":
            return None
        names = [t["function"]["name"] for t in tools]
        if isinstance(choice, dict):
            names = [choice["function"]["name"]]
        schemas = [t["function"].get("parameters") or {"type": "object"} for t in tools
                   if t["function"]["name"] in names]
        multiple = bool(params.get("parallel_tool_calls", True)) and choice == "required"
        return _tool_grammar(json.dumps(names), json.dumps(schemas), multiple)
    if not fmt:
        return None
    if fmt["type"] == "json_object":
        from llama_cpp.llama_grammar import JSON_GBNF

        return JSON_GBNF
    return _schema_grammar(json.dumps(fmt["json_schema"]["schema"], sort_keys=True))


@lru_cache(maxsize=256)
def _schema_grammar(schema: str) -> str:
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(schema)
    except Exception as exc:  # noqa: BLE001 - the converter raises bare Exceptions and ValueErrors
        raise UnsupportedParameterError(
            f"the response schema cannot be enforced on a local model ({exc})",
            param="response_format.json_schema.schema",
            hint="simplify the schema (llama.cpp's converter handles objects, arrays, enums, const, patterns)",
        ) from None


@lru_cache(maxsize=256)
def _tool_grammar(names: str, schemas: str, multiple: bool) -> str:
    options = [{"type": "object", "properties": {"name": {"const": n}, "arguments": s},
                "required": ["name", "arguments"], "additionalProperties": False}
               for n, s in zip(json.loads(names), json.loads(schemas), strict=True)]
    call = options[0] if len(options) == 1 else {"oneOf": options}
    rules = _schema_grammar(json.dumps(call, sort_keys=True))
    rules = re.sub(r"^root ::=", "call ::=", rules, count=1, flags=re.MULTILINE)
    block = '"<tool_call>\\n" call "\\n</tool_call>"'
    root = f"root ::= {block} (\"\\n\" {block})*" if multiple else f"root ::= {block}"
    return root + "\n" + rules


def template_messages(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The turns as a chat template reads them: a call's ``arguments`` parsed into an object (templates write
    them with ``tojson``; JSON text would be quoted twice)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        turn: dict[str, Any] = dict(m)
        if m.get("tool_calls"):
            calls = []
            for call in m["tool_calls"]:
                fn = dict(call["function"])
                with contextlib.suppress(TypeError, ValueError):
                    fn["arguments"] = json.loads(fn["arguments"])
                calls.append({**call, "function": fn})
            turn["tool_calls"] = calls
        out.append(turn)
    return out


def parse_tool_calls(text: str, tools: Sequence[dict[str, Any]]) -> tuple[str, tuple[ToolCall, ...]]:
    """Split a reply into its text and the tool calls it ends with: ``<tool_call>`` blocks, or a reply that is
    nothing but one call's JSON (``{"name": ..., "arguments": {...}}``, possibly fenced), which small models
    write when they skip the tags. Raises InvalidReplyError for a ``<tool_call>`` block that is not such JSON
    or names a function the request did not offer."""
    offered = {t["function"]["name"] for t in tools}
    start = text.find(_OPEN)
    if start < 0:
        bare = _bare_call(text, offered)
        return (text, ()) if bare is None else ("", (bare,))
    calls = []
    for raw in _CALL.findall(text[start:]):
        try:
            data = json.loads(raw)
            name, arguments = data["name"], data.get("arguments", {})
        except (ValueError, KeyError, TypeError):
            raise InvalidReplyError(f"the model wrote a tool call that is not valid JSON: {raw[:120]!r}",
                                    hint="retry, or use a larger model for tool calls") from None
        if name not in offered:
            raise InvalidReplyError(f"the model called {name!r}, which the request did not offer",
                                    hint=f"offered: {', '.join(sorted(offered))}")
        calls.append(_call(name, arguments))
    if not calls:
        return text, ()
    return text[:start].rstrip(), tuple(calls)


def _bare_call(text: str, offered: set[str]) -> ToolCall | None:
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`").removeprefix("json").strip()
    if not body.startswith("{"):
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or set(data) - {"name", "arguments"} or data.get("name") not in offered:
        return None
    return _call(data["name"], data.get("arguments", {}))


def _call(name: str, arguments: Any) -> ToolCall:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return ToolCall(id=f"call_{uuid.uuid4().hex[:24]}", name=name, arguments=text)


def check_reply(text: str, params: dict[str, Any], finish_reason: str) -> None:
    """Raise InvalidReplyError unless ``text`` satisfies the request's ``response_format``: a JSON object for
    ``json_object``, an instance of the schema (JSON Schema draft 2020-12, the ``jsonschema`` library) for
    ``json_schema``. A reply cut at ``max_tokens`` (``finish_reason`` "length") is the request's 400."""
    fmt = params.get("response_format")
    if not fmt:
        return
    cut = finish_reason == "length"
    hint = "raise max_tokens" if cut else "retry, or use a larger model"
    try:
        value = json.loads(text)
    except ValueError:
        where = "was cut at max_tokens before its JSON was complete" if cut else "is not valid JSON"
        raise InvalidReplyError(f"the reply {where}: {text[:120]!r}", hint=hint, cut_short=cut) from None
    if fmt["type"] == "json_object":
        if not isinstance(value, dict):
            raise InvalidReplyError(f"the reply is JSON but not an object: {text[:120]!r}", hint=hint)
        return
    from jsonschema import Draft202012Validator

    error = next(iter(Draft202012Validator(fmt["json_schema"]["schema"]).iter_errors(value)), None)
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path) or "the top level"
        raise InvalidReplyError(f"the reply fails the response schema at {path}: {error.message[:200]}", hint=hint)
