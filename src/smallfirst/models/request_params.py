"""The request parameters a Model receives, and the rule that a backend refuses what it cannot honour.

The gateway turns an OpenAI request into messages and a dict of these parameters (``server/wire.py``); the CLI
and the demo pass a few of them directly. Each backend declares the names it honours, and
:func:`refuse_unsupported` raises a 400 naming the first one it does not, so no parameter is accepted and
ignored on any path. ``docs/openai-fields.md`` is the table of what each backend does with each field.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from smallfirst.errors import UnsupportedParameterError
from smallfirst.models.completion import Message

__all__ = ["IDENTITY", "SAMPLING", "refuse_unsupported"]

#: sampling parameters, OpenAI's meanings: max_tokens (completion tokens), temperature (0-2), top_p, stop (up to
#: four strings), seed, presence and frequency penalties (-2..2), logit_bias (token id -> -100..100), logprobs
#: (bool) and top_logprobs (0-20 alternatives per token)
SAMPLING = frozenset({"max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty",
                      "logit_bias", "logprobs", "top_logprobs"})
#: who asked, for the log and for endpoints that use it; they never change an answer
IDENTITY = frozenset({"user", "safety_identifier"})
#: structured output: response_format (json_object or json_schema) and tools, tool_choice, parallel_tool_calls
STRUCTURE = frozenset({"response_format", "tools", "tool_choice", "parallel_tool_calls"})
#: what only hosted endpoints act on
ENDPOINT_ONLY = frozenset({"reasoning_effort", "verbosity", "service_tier", "prompt_cache_key"})


def refuse_unsupported(model: str, params: dict[str, Any], honoured: Collection[str],
                       messages: Sequence[Message] = (), *, names: bool = True) -> None:
    """Raise UnsupportedParameterError (HTTP 400, ``param`` the field) for the first parameter in ``params``
    that is not in ``honoured``, or (``names=False``) for a participant ``name`` on a message, which the
    backend has no way to show its model. A ``service_tier`` of "auto" or "default" is honoured by any backend."""
    for key, value in params.items():
        if key in honoured or value is None:
            continue
        if key == "service_tier" and value in ("auto", "default"):
            continue
        raise UnsupportedParameterError(
            f"{model} cannot honour {key}={value!r}",
            param=key,
            hint="leave it out, or ask a model that supports it (docs/openai-fields.md lists which do)",
        )
    if not names:
        for i, m in enumerate(messages):
            if m.get("name") and m.get("role") != "tool":
                raise UnsupportedParameterError(
                    f"messages[{i}] has a participant name, which {model}'s chat template cannot show",
                    param=f"messages.{i}.name",
                    hint="leave name out, or put it in the content",
                )
