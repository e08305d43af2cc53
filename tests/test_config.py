from __future__ import annotations

from pathlib import Path

import pytest

from smallfirst.config import load_settings
from smallfirst.errors import ConfigError


def test_defaults_need_no_file() -> None:
    s = load_settings()
    assert s.default_model == "qwen2.5-coder-0.5b"
    assert s.baseline_model == "gpt-4o"
    assert s.db_url.startswith("sqlite:///")


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "smallfirst.toml"
    cfg.write_text('baseline_model = "gpt-4o-mini"\n[hardware]\nwatts = 30\n')
    monkeypatch.setenv("SMALLFIRST_HARDWARE__WATTS", "65")
    s = load_settings()
    assert s.config_path == cfg
    assert s.baseline_model == "gpt-4o-mini"
    assert str(s.hardware.watts) == "65"


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "smallfirst.toml"
    cfg.write_text("baseline_model = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings()


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    (tmp_path / "smallfirst.toml").write_text("[hardware]\nwats = 30\n")
    with pytest.raises(ConfigError, match="did you mean 'watts'"):
        load_settings()


def test_unknown_model_key_suggests_the_closest(tmp_path: Path) -> None:
    (tmp_path / "smallfirst.toml").write_text('[models.x]\nbackend = "openai"\nbase_ur = "http://a/v1"\n')
    with pytest.raises(ConfigError, match="did you mean 'base_url'"):
        load_settings()


def test_out_of_range_value_is_named(tmp_path: Path) -> None:
    (tmp_path / "smallfirst.toml").write_text("[hardware]\nutilisation = 2\n")
    with pytest.raises(ConfigError, match="hardware.utilisation"):
        load_settings()


def test_explicit_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="smallfirst init"):
        load_settings(tmp_path / "nope.toml")


def test_shipped_default_config_is_valid(tmp_path: Path) -> None:
    from importlib import resources

    text = resources.files("smallfirst.defaults").joinpath("config.toml").read_text()
    (tmp_path / "smallfirst.toml").write_text(text)
    assert load_settings().routing.large == "qwen2.5-coder-1.5b"
