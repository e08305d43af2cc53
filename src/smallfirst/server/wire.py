"""The OpenAI wire formats, field for field, as pydantic models: the OpenAPI schema comes from them, and
the official ``openai`` client parses what they serialise.

Every field of OpenAI's chat and completions request schemas is declared here and either honoured or refused
with a 400 naming it; none is accepted and ignored (``docs/openai-fields.md`` is the table, and a conformance
test walks it). Unknown fields are refused as OpenAI refuses them ("Unrecognized request argument"), and types
are strict: ``"stream": "yes"`` is a 400, not true. Whether a field is honoured can depend on the model that
answers: the request becomes a list of :class:`~smallfirst.models.completion.Message` and a dict of parameters,
and each backend refuses the parameters it cannot honour (``models/request_params.py``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smallfirst.errors import UnsupportedParameterError
from smallfirst.models.completion import Message

__all__ = [
    "ChatCompletionRequest",
    "CompletionRequest",
    "ErrorResponse",
    "Health",
    "ModelCard",
    "ModelList",
    "RouteInfo",
]

#: the widest model name the request log stores (``store/tables.py``)
MAX_MODEL_NAME = 200


class _Wire(BaseModel):
    """A request object: unknown fields are refused and types are strict, as OpenAI's API does."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _refuse(param: str, message: str, hint: str) -> UnsupportedParameterError:
    return UnsupportedParameterError(message, param=param, hint=hint)


# -- messages ----------------------------------------------------------------------------------------------


class ContentPart(_Wire):
    """One part of a message's content. Text (and an assistant's refusal text) reach the model; images, audio
    and files are refused: smallfirst's local models read text only."""

    type: Literal["text", "image_url", "input_audio", "file", "refusal"]
    text: str | None = None
    refusal: str | None = None
    image_url: dict[str, Any] | None = None
    input_audio: dict[str, Any] | None = None
    file: dict[str, Any] | None = None


class FunctionCall(_Wire):
    """The function of a tool call: its name and its arguments as JSON text."""

    name: str = Field(min_length=1, max_length=256)
    arguments: str


class ToolCallIn(_Wire):
    """A tool call of an earlier assistant turn, as the client sends it back."""

    id: str = Field(min_length=1, max_length=256)
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Wire):
    """One turn. ``developer`` is OpenAI's newer name for ``system`` and reaches the model as a system turn; an
    assistant turn may carry ``tool_calls`` (with or without content), and a ``tool`` turn answers one of them
    by ``tool_call_id``. The deprecated ``function`` role and ``function_call`` are refused with the way to
    tools; ``audio`` is refused."""

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = Field(default=None, max_length=256)
    tool_calls: list[ToolCallIn] | None = None
    tool_call_id: str | None = Field(default=None, max_length=256)
    refusal: str | None = None
    function_call: dict[str, Any] | None = None
    audio: dict[str, Any] | None = None

    def text(self, index: int) -> str:
        """The turn's text: the string, or the text (and refusal) parts joined. Raises
        UnsupportedParameterError for an image, audio or file part."""
        if self.content is None or isinstance(self.content, str):
            return self.content or self.refusal or ""
        parts = []
        for part in self.content:
            if part.type == "text":
                parts.append(part.text or "")
            elif part.type == "refusal":
                parts.append(part.refusal or "")
            else:
                raise _refuse(f"messages.{index}.content",
                              f"messages[{index}] has a {part.type!r} content part; smallfirst's models read text only",
                              "send text parts only")
        return "".join(parts)

    def to_message(self, index: int) -> Message:
        """This turn as the models receive it. Raises UnsupportedParameterError for what no model here reads."""
        where = f"messages.{index}"
        if self.role == "function" or self.function_call is not None:
            raise _refuse(where if self.role == "function" else f"{where}.function_call",
                          f"messages[{index}] uses the deprecated function-calling shape",
                          "send tools and tool_calls instead (role 'tool' answers a call by tool_call_id)")
        if self.audio is not None:
            raise _refuse(f"{where}.audio", f"messages[{index}] refers to an audio reply",
                          "smallfirst's models read and write text only")
        if self.tool_calls and self.role != "assistant":
            raise _refuse(f"{where}.tool_calls", f"messages[{index}] is a {self.role} turn with tool_calls",
                          "only assistant turns carry tool_calls")
        if self.role == "tool" and not self.tool_call_id:
            raise _refuse(f"{where}.tool_call_id", f"messages[{index}] is a tool turn without tool_call_id",
                          "name the tool call it answers")
        message = Message(role="system" if self.role == "developer" else self.role, content=self.text(index))
        if self.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function",
                 "function": {"name": c.function.name, "arguments": c.function.arguments}}
                for c in self.tool_calls
            ]
        if self.tool_call_id:
            message["tool_call_id"] = self.tool_call_id
        if self.name:
            message["name"] = self.name
        return message


# -- shared request fields ---------------------------------------------------------------------------------


class SmallfirstExtra(BaseModel):
    """The request's own ``smallfirst`` object: what smallfirst may learn from. ``gold`` is the right answer when the
    caller knows it; shadowed requests are graded by it (``smallfirst.learning``). Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")
    gold: str | None = Field(default=None, max_length=10_000)


class StreamOptions(_Wire):
    """``include_usage`` adds a last chunk with the usage; stream obfuscation is not implemented, so
    ``include_obfuscation: true`` is refused."""

    include_usage: bool | None = None
    include_obfuscation: bool | None = None


class _Sampling(_Wire):
    model: str = Field(min_length=1, max_length=MAX_MODEL_NAME)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = Field(default=None, max_length=4)
    seed: int | None = Field(default=None, ge=-(2**63), le=2**63 - 1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, Annotated[float, Field(ge=-100, le=100)]] | None = Field(default=None, max_length=300)
    user: str | None = Field(default=None, max_length=256)
    smallfirst: SmallfirstExtra | None = None

    def _common(self) -> dict[str, Any]:
        if self.n not in (None, 1):
            raise _refuse("n", f"n={self.n}: smallfirst returns one choice per request",
                          "send n=1 and repeat the request for more samples")
        if self.stream_options is not None:
            if not self.stream:
                raise _refuse("stream_options", "stream_options is only allowed with stream=true",
                              "leave it out, or set stream=true")
            if self.stream_options.include_obfuscation:
                raise _refuse("stream_options.include_obfuscation", "stream obfuscation is not implemented",
                              "send include_obfuscation=false or leave it out")
        if self.logit_bias:
            for token in self.logit_bias:
                if not token.isdigit():
                    raise _refuse("logit_bias", f"logit_bias key {token!r} is not a token id",
                                  "key logit_bias by token ids (as decimal strings) of the model's tokenizer")
        out: dict[str, Any] = {}
        for name in ("temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty", "user"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.logit_bias:
            out["logit_bias"] = dict(self.logit_bias)
        return out

    @property
    def gold(self) -> str | None:
        """The gold answer the request carries in its ``smallfirst`` object, if any."""
        return self.smallfirst.gold if self.smallfirst is not None else None

    @property
    def include_usage(self) -> bool:
        """Whether a streamed answer ends with a usage chunk."""
        return bool(self.stream_options and self.stream_options.include_usage)


# -- chat completions --------------------------------------------------------------------------------------


class JSONSchemaFormat(_Wire):
    """A JSON Schema the reply must satisfy (OpenAI's Structured Outputs)."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    strict: bool | None = None

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True)


class TextFormat(_Wire):
    """``response_format: {"type": "text"}``: free text, the default."""

    type: Literal["text"]


class JSONObjectFormat(_Wire):
    """``response_format: {"type": "json_object"}``: the reply is one JSON object (a llama.cpp grammar on
    local models; checked on every reply)."""

    type: Literal["json_object"]


class JSONSchemaResponseFormat(_Wire):
    """``response_format: {"type": "json_schema", "json_schema": {...}}``: the reply is an instance of the
    schema (JSON Schema draft 2020-12), enforced by a grammar on local models and checked on every reply."""

    type: Literal["json_schema"]
    json_schema: JSONSchemaFormat


ResponseFormat = Annotated[TextFormat | JSONObjectFormat | JSONSchemaResponseFormat, Field(discriminator="type")]


class FunctionDefinition(_Wire):
    """A function the model may call: name, description and its parameters as a JSON Schema."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Wire):
    """A tool on offer. Only function tools exist in the chat API's local reading; ``custom`` tools are refused."""

    type: Literal["function", "custom"]
    function: FunctionDefinition | None = None
    custom: dict[str, Any] | None = None


class NamedFunction(_Wire):
    """The function a named ``tool_choice`` forces: its ``name`` (1-64 characters)."""

    name: str = Field(min_length=1, max_length=64)


class NamedToolChoice(_Wire):
    """``{"type": "function", "function": {"name": ...}}``: call that function."""

    type: Literal["function", "custom", "allowed_tools"]
    function: NamedFunction | None = None
    custom: dict[str, Any] | None = None
    allowed_tools: dict[str, Any] | None = None


class ChatCompletionRequest(_Sampling):
    """``POST /v1/chat/completions``. ``to_messages`` and ``params`` turn it into what the service takes, or
    raise UnsupportedParameterError naming the field that cannot be honoured."""

    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list[Tool] | None = Field(default=None, max_length=128)
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    verbosity: Literal["low", "medium", "high"] | None = None
    service_tier: Literal["auto", "default", "flex", "scale", "priority"] | None = None
    prompt_cache_key: str | None = Field(default=None, max_length=256)
    safety_identifier: str | None = Field(default=None, max_length=256)
    modalities: list[Literal["text", "audio"]] | None = None
    store: bool | None = None
    metadata: dict[str, str] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    functions: list[dict[str, Any]] | None = None
    function_call: str | dict[str, Any] | None = None

    def to_messages(self) -> list[Message]:
        """The turns as the models receive them (``developer`` as ``system``)."""
        return [m.to_message(i) for i, m in enumerate(self.messages)]

    def params(self) -> dict[str, Any]:
        """The parameters the service and the models take. Raises UnsupportedParameterError naming the field
        for what no backend here honours."""
        self._refuse_unsupported()
        out = self._common()
        max_tokens = self.max_completion_tokens or self.max_tokens
        if max_tokens is not None:
            out["max_tokens"] = max_tokens
        if self.top_logprobs is not None and not self.logprobs:
            raise _refuse("top_logprobs", "top_logprobs needs logprobs=true", "set logprobs=true, or leave it out")
        if self.logprobs:
            out["logprobs"] = True
            if self.top_logprobs:
                out["top_logprobs"] = self.top_logprobs
        if self.response_format is not None and self.response_format.type != "text":
            out["response_format"] = _response_format(self.response_format)
        tools = self._tools()
        if tools:
            out["tools"] = tools
            out["tool_choice"] = self._tool_choice(tools)
            if self.parallel_tool_calls is not None:
                out["parallel_tool_calls"] = self.parallel_tool_calls
        elif self.tool_choice not in (None, "none", "auto"):
            raise _refuse("tool_choice", f"tool_choice {self._choice_name()!r} without tools",
                          "offer the tools in 'tools', or leave tool_choice out")
        elif self.parallel_tool_calls is not None:
            raise _refuse("parallel_tool_calls", "parallel_tool_calls without tools", "leave it out")
        for name in ("reasoning_effort", "verbosity", "service_tier", "prompt_cache_key", "safety_identifier"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def _refuse_unsupported(self) -> None:
        if self.modalities is not None and "audio" in self.modalities:
            raise _refuse("modalities", "audio output is not supported", "ask for modalities=['text']")
        if self.audio is not None:
            raise _refuse("audio", "audio output is not supported", "leave 'audio' out")
        if self.store:
            raise _refuse("store", "store=true asks OpenAI to keep the completion for its dashboard; smallfirst "
                          "keeps every request in its own log", "leave 'store' out (the request log has the request)")
        if self.metadata:
            raise _refuse("metadata", "metadata tags stored completions, which smallfirst does not keep",
                          "tag requests with the x-smallfirst-tag header instead")
        if self.prediction is not None:
            raise _refuse("prediction", "predicted outputs are not supported", "leave 'prediction' out")
        if self.web_search_options is not None:
            raise _refuse("web_search_options", "web search is not supported", "leave 'web_search_options' out")
        if self.functions is not None or self.function_call is not None:
            raise _refuse("functions" if self.functions is not None else "function_call",
                          "the deprecated functions API is not supported", "send tools and tool_choice instead")

    def _tools(self) -> list[dict[str, Any]]:
        out = []
        for i, tool in enumerate(self.tools or ()):
            if tool.type != "function" or tool.function is None:
                raise _refuse(f"tools.{i}", f"tools[{i}] is a {tool.type!r} tool; smallfirst offers function tools",
                              "send {'type': 'function', 'function': {...}}")
            spec: dict[str, Any] = {"name": tool.function.name}
            if tool.function.description is not None:
                spec["description"] = tool.function.description
            spec["parameters"] = tool.function.parameters or {"type": "object", "properties": {}}
            if tool.function.strict is not None:
                spec["strict"] = tool.function.strict
            out.append({"type": "function", "function": spec})
        return out

    def _choice_name(self) -> str:
        choice = self.tool_choice
        if isinstance(choice, NamedToolChoice):
            return choice.function.name if choice.function else choice.type
        return str(choice)

    def _tool_choice(self, tools: list[dict[str, Any]]) -> str | dict[str, Any]:
        choice = self.tool_choice
        if choice is None:
            return "auto"
        if isinstance(choice, str):
            return choice
        if choice.type != "function" or choice.function is None:
            raise _refuse("tool_choice", f"tool_choice of type {choice.type!r} is not supported",
                          "send 'auto', 'none', 'required' or {'type': 'function', 'function': {'name': ...}}")
        names = [t["function"]["name"] for t in tools]
        if choice.function.name not in names:
            raise _refuse("tool_choice", f"tool_choice names {choice.function.name!r}, which is not among the tools",
                          f"offered: {', '.join(names)}")
        return {"type": "function", "function": {"name": choice.function.name}}


def _response_format(fmt: JSONObjectFormat | JSONSchemaResponseFormat) -> dict[str, Any]:
    if isinstance(fmt, JSONObjectFormat):
        return {"type": "json_object"}
    schema = fmt.json_schema.schema_ or {}
    try:
        json.dumps(schema)
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        Draft202012Validator.check_schema(schema)
    except (TypeError, ValueError, SchemaError) as exc:
        raise _refuse("response_format.json_schema.schema",
                      f"the response schema is not a valid JSON Schema: {str(exc).splitlines()[0][:200]}",
                      "check it against JSON Schema draft 2020-12") from None
    spec: dict[str, Any] = {"name": fmt.json_schema.name, "schema": schema}
    if fmt.json_schema.strict is not None:
        spec["strict"] = fmt.json_schema.strict
    if fmt.json_schema.description is not None:
        spec["description"] = fmt.json_schema.description
    return {"type": "json_schema", "json_schema": spec}


# -- text completions --------------------------------------------------------------------------------------


class CompletionRequest(_Sampling):
    """``POST /v1/completions``: the prompt is sent as one user turn. ``echo`` prepends the prompt to the answer;
    ``logprobs`` (0-5) gives the legacy per-token shape; ``suffix`` and ``best_of`` > 1 are refused."""

    prompt: str | list[str] = Field(default="")
    max_tokens: int | None = Field(default=16, ge=1, le=1_000_000)
    echo: bool | None = False
    suffix: str | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    best_of: int | None = Field(default=None, ge=1, le=20)

    def to_messages(self) -> list[Message]:
        """The prompt as one user turn. Raises UnsupportedParameterError for more than one prompt."""
        return [Message(role="user", content=self.prompt_text)]

    @property
    def prompt_text(self) -> str:
        """The one prompt of the request."""
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                raise _refuse("prompt", f"{len(self.prompt)} prompts in one request; smallfirst answers one",
                              "send one prompt per request")
            return self.prompt[0]
        return self.prompt

    def params(self) -> dict[str, Any]:
        """The parameters the service and the models take; raises UnsupportedParameterError naming the field."""
        if self.suffix:
            raise _refuse("suffix", "suffix (fill in the middle) is not supported", "leave suffix out")
        if self.best_of not in (None, 1):
            raise _refuse("best_of", f"best_of={self.best_of}: smallfirst generates one candidate", "send best_of=1")
        if self.echo and self.logprobs is not None:
            raise _refuse("echo", "echo with logprobs would need the prompt's log-probabilities, which are not "
                          "computed", "leave out echo or logprobs")
        out = self._common()
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        if self.logprobs is not None:
            out["logprobs"] = True
            if self.logprobs:
                out["top_logprobs"] = self.logprobs
        return out


# -- responses ---------------------------------------------------------------------------------------------


class PromptTokensDetails(BaseModel):
    """OpenAI's ``usage.prompt_tokens_details``: how many prompt tokens were read from the provider's prompt
    cache (priced at its cached rate) and how many were audio. Both are part of ``prompt_tokens``."""

    cached_tokens: int = 0
    audio_tokens: int = 0


class CompletionTokensDetails(BaseModel):
    """OpenAI's ``usage.completion_tokens_details``: reasoning and audio tokens, both part of
    ``completion_tokens``."""

    reasoning_tokens: int = 0
    audio_tokens: int = 0


class Usage(BaseModel):
    """Tokens the request consumed, as the answering backend counted them; ``total_tokens`` is their sum. The
    details appear when the upstream reported any."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class TopLogprob(BaseModel):
    """One candidate token: its text, natural-log probability (<= 0) and UTF-8 bytes."""

    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(TopLogprob):
    """One generated token with the ``top_logprobs`` most likely candidates at its step (most likely first)."""

    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(BaseModel):
    """A choice's ``logprobs``: one entry per generated token of ``content`` (``refusal`` is never filled)."""

    content: list[TokenLogprob] | None = None
    refusal: list[TokenLogprob] | None = None


class RouteInfo(BaseModel):
    """What smallfirst adds to every response: who answered, why, and what it cost against the baseline.
    Money is a decimal string in US dollars, so no float rounding creeps in."""

    request_id: str
    model: str
    policy: str
    reason: str
    score: float | None = None
    threshold: float | None = None
    attempted: list[str] = Field(default_factory=list)
    cost_usd: str
    baseline_usd: str
    saving_usd: str
    baseline_model: str
    price_source: str
    cached: bool = False


class ToolCallFunction(BaseModel):
    """The function a tool call names, with its ``arguments`` as JSON text."""

    name: str
    arguments: str


class ToolCallOut(BaseModel):
    """One tool call in an assistant message: its ``id`` (for the ``tool`` turn that answers it) and function."""

    id: str
    type: Literal["function"] = "function"
    function: ToolCallFunction


class AssistantMessage(BaseModel):
    """The answer's message: its text (None when it is only tool calls) and the ``tool_calls`` it makes."""

    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None
    tool_calls: list[ToolCallOut] | None = None


class Choice(BaseModel):
    """The one choice of a chat completion; ``finish_reason`` is "stop", "length" or "tool_calls"."""

    index: int = 0
    message: AssistantMessage
    finish_reason: str
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(BaseModel):
    """A chat completion (``POST /v1/chat/completions``), OpenAI's shape, with ``smallfirst`` route info.
    ``created`` is Unix seconds."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    smallfirst: RouteInfo | None = None


class ToolCallDeltaFunction(BaseModel):
    """A streamed piece of a tool call's function: its name on the first piece, arguments text after."""

    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(BaseModel):
    """A streamed piece of tool call number ``index``; ``id`` and ``type`` come with its first piece."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: ToolCallDeltaFunction | None = None


class Delta(BaseModel):
    """What one stream chunk adds to the message: the role (first chunk), text, or tool-call pieces."""

    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(BaseModel):
    """The one choice of a stream chunk, with the log-probabilities of the tokens its delta completes."""

    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed chat completion; the last carries ``usage`` when
    ``stream_options.include_usage`` asked for it."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    smallfirst: RouteInfo | None = None


class LegacyLogprobs(BaseModel):
    """The completions API's log-probabilities: per token its text, log-probability, the ``top`` alternatives
    as a token -> log-probability map, and its character offset in the returned text."""

    tokens: list[str]
    token_logprobs: list[float]
    top_logprobs: list[dict[str, float]] | None = None
    text_offset: list[int]


class CompletionChoice(BaseModel):
    """The one choice of a text completion, with the legacy ``logprobs`` shape when asked for."""

    text: str
    index: int = 0
    logprobs: LegacyLogprobs | None = None
    finish_reason: str | None = None


class TextCompletion(BaseModel):
    """A text completion (``POST /v1/completions``), OpenAI's shape, with ``smallfirst`` route info."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    smallfirst: RouteInfo | None = None


class ModelCard(BaseModel):
    """One entry of ``GET /v1/models`` (and ``GET /v1/models/{id}``)."""

    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    #: "model" for a concrete model, "policy" for a routing policy such as "auto"
    smallfirst_kind: Literal["model", "policy"] = "model"


class ModelList(BaseModel):
    """``GET /v1/models``: every model and routing policy this gateway serves."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(BaseModel):
    """The body of an OpenAI error: a human ``message``, its ``type``, the request ``param`` at fault and a
    machine ``code``."""

    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error shape: ``{"error": {"message", "type", "param", "code"}}``."""

    error: ErrorBody


class Health(BaseModel):
    """``GET /health``: whether keys are required (``auth``) and which models are loaded in memory."""

    status: Literal["ok"] = "ok"
    auth: Literal["open", "keys"]
    models_loaded: list[str]
