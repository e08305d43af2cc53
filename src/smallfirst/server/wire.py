"""The OpenAI wire formats, field for field, as pydantic models: the OpenAPI schema comes from them, and
the official ``openai`` client parses what they serialise. Fields smallfirst cannot honour are accepted and
refused with a 400 naming them, never silently dropped when that would change the answer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from smallfirst.errors import SmallfirstError
from smallfirst.models.completion import Message


class _Wire(BaseModel):
    # Clients send fields newer than this schema (metadata, store, ...); OpenAI ignores the ones it does not
    # act on, and so do we.
    model_config = ConfigDict(extra="ignore")


class UnsupportedError(SmallfirstError):
    code = "unsupported_parameter"


class ContentPart(_Wire):
    type: str
    text: str | None = None


class ChatMessage(_Wire):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_call_id: str | None = None

    def text(self, index: int) -> str:
        if self.content is None or isinstance(self.content, str):
            return self.content or ""
        parts = []
        for part in self.content:
            if part.type != "text":
                raise UnsupportedError(
                    f"messages[{index}] has a {part.type!r} content part; smallfirst's models read text only",
                    param=f"messages.{index}.content",
                    hint="send text parts only",
                )
            parts.append(part.text or "")
        return "".join(parts)


class SmallfirstExtra(BaseModel):
    """The request's own ``smallfirst`` object: what smallfirst may learn from. ``gold`` is the right answer when the
    caller knows it; shadowed requests are graded by it (``smallfirst.learning``). Unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")
    gold: str | None = Field(default=None, max_length=10_000)


class StreamOptions(_Wire):
    include_usage: bool | None = None


class _Sampling(_Wire):
    model: str = Field(min_length=1, max_length=500)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    n: int | None = Field(default=None, ge=1, le=128)
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = Field(default=None, max_length=4)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    logit_bias: dict[str, float] | None = None
    user: str | None = None
    smallfirst: SmallfirstExtra | None = None

    def _check_n(self) -> None:
        if self.n not in (None, 1):
            raise UnsupportedError(
                f"n={self.n}: smallfirst returns one choice per request",
                param="n",
                hint="send n=1 and repeat the request for more samples",
            )
        if self.logit_bias:
            raise UnsupportedError("logit_bias is not supported", param="logit_bias", hint="leave it out")

    def _common(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("temperature", self.temperature),
                ("top_p", self.top_p),
                ("stop", self.stop),
                ("seed", self.seed),
                ("presence_penalty", self.presence_penalty),
                ("frequency_penalty", self.frequency_penalty),
                ("user", self.user),
            )
            if v is not None
        }

    @property
    def gold(self) -> str | None:
        """The gold answer the request carries in its ``smallfirst`` object, if any."""
        return self.smallfirst.gold if self.smallfirst is not None else None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


class ChatCompletionRequest(_Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    logprobs: bool | None = None
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None

    def to_messages(self) -> list[Message]:
        return [Message(role=m.role, content=m.text(i)) for i, m in enumerate(self.messages)]

    def params(self) -> dict[str, Any]:
        self._check_n()
        if self.tools:
            raise UnsupportedError(
                "tools are not supported by smallfirst's small models",
                param="tools",
                hint="leave tools out, or call a tool-capable endpoint directly",
            )
        out = self._common()
        max_tokens = self.max_completion_tokens or self.max_tokens
        if max_tokens is not None:
            out["max_tokens"] = max_tokens
        if self.logprobs:
            out["logprobs"] = True
        return out


class CompletionRequest(_Sampling):
    prompt: str | list[str] = Field(default="")
    max_tokens: int | None = Field(default=16, ge=1, le=1_000_000)
    echo: bool | None = False
    suffix: str | None = None
    logprobs: int | None = Field(default=None, ge=0, le=5)
    best_of: int | None = Field(default=None, ge=1, le=20)

    def to_messages(self) -> list[Message]:
        if isinstance(self.prompt, list):
            if len(self.prompt) != 1:
                raise UnsupportedError(
                    f"{len(self.prompt)} prompts in one request; smallfirst answers one",
                    param="prompt",
                    hint="send one prompt per request",
                )
            return [Message(role="user", content=self.prompt[0])]
        return [Message(role="user", content=self.prompt)]

    def params(self) -> dict[str, Any]:
        self._check_n()
        for name in ("echo", "suffix", "best_of"):
            if getattr(self, name) not in (None, False, 1):
                raise UnsupportedError(f"{name} is not supported", param=name, hint=f"leave {name} out")
        out = self._common()
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        return out


# -- responses ---------------------------------------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None = None


class TokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob] = Field(default_factory=list)


class ChoiceLogprobs(BaseModel):
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


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str
    logprobs: ChoiceLogprobs | None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: str | None = None
    smallfirst: RouteInfo | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: ChoiceLogprobs | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    smallfirst: RouteInfo | None = None


class CompletionChoice(BaseModel):
    text: str
    index: int = 0
    logprobs: dict[str, Any] | None = None
    finish_reason: str | None = None


class TextCompletion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None
    system_fingerprint: str | None = None
    smallfirst: RouteInfo | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str
    #: "model" for a concrete model, "policy" for a routing policy such as "auto"
    smallfirst_kind: Literal["model", "policy"] = "model"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    auth: Literal["open", "keys"]
    models_loaded: list[str]
