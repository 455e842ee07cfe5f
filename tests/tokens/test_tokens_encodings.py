"""perf.tokens.encodings: offline package data, hash check, per-process cache, model mapping."""

from __future__ import annotations

import gzip
import shutil
import socket
from importlib import resources
from pathlib import Path

import pytest
import tiktoken.load
from tiktoken_ext import openai_public

from perf.errors import ConfigurationError, PerfError, UnknownModelError
from perf.tokens import (
    SUPPORTED_ENCODINGS,
    EncodingDataError,
    encoding_for_model,
    encoding_name_for_model,
    get_encoding,
    known_models,
)
from perf.tokens.encodings import build_encoding, load_rank_file

DATA_DIR = Path(str(resources.files("perf.tokens") / "data"))
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"

# From OpenAI's cookbook "How to count tokens with tiktoken" (section 5).
BIRTHDAY = "お誕生日おめでとう"
COOKBOOK_IDS = {
    "cl100k_base": [33334, 45918, 243, 21990, 9080, 33334, 62004, 16556, 78699],
    "o200k_base": [8930, 9697, 243, 128225, 8930, 17693, 4344, 48669],
}


def test_rank_files_ship_as_package_data():
    names = sorted(p.name for p in DATA_DIR.iterdir())
    assert names == ["cl100k_base.tiktoken.gz", "o200k_base.tiktoken.gz"]


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_encodings_match_the_official_token_ids(name):
    encoding = get_encoding(name)
    assert encoding.name == name
    assert encoding.encode_ordinary(BIRTHDAY) == COOKBOOK_IDS[name]
    assert encoding.decode(COOKBOOK_IDS[name]) == BIRTHDAY


def test_special_tokens_and_pattern_come_from_installed_tiktoken():
    assert get_encoding("o200k_base").n_vocab == 200_019
    assert get_encoding("cl100k_base").n_vocab == 100_277
    assert get_encoding("o200k_base").encode("<|endoftext|>", allowed_special="all") == [199_999]
    assert get_encoding("cl100k_base").encode("<|endofprompt|>", allowed_special="all") == [100_276]
    # the installed tiktoken's own module is left untouched
    assert openai_public.load_tiktoken_bpe is tiktoken.load.load_tiktoken_bpe


def test_get_encoding_builds_once_per_process():
    assert get_encoding("o200k_base") is get_encoding("o200k_base")
    assert encoding_for_model("gpt-4o") is get_encoding("o200k_base")


def test_building_never_touches_the_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("perf.tokens tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    encoding = build_encoding("cl100k_base")
    assert encoding.encode_ordinary(BIRTHDAY) == COOKBOOK_IDS["cl100k_base"]


def test_o200k_harmony_builds_from_the_shipped_o200k_file():
    assert encoding_name_for_model("gpt-oss-120b") == "o200k_harmony"
    harmony = build_encoding("o200k_harmony")
    assert harmony.encode_ordinary(BIRTHDAY) == COOKBOOK_IDS["o200k_base"]
    assert harmony.encode("<|call|>", allowed_special="all") == [200_012]


def _copy_data(tmp_path: Path) -> Path:
    for path in DATA_DIR.iterdir():
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_tampered_rank_file_fails_the_hash_check(tmp_path):
    data_dir = _copy_data(tmp_path)
    target = data_dir / "cl100k_base.tiktoken.gz"
    contents = bytearray(gzip.decompress(target.read_bytes()))
    contents[100:101] = b"Z" if contents[100:101] != b"Z" else b"Y"  # one changed byte
    target.write_bytes(gzip.compress(bytes(contents)))
    with pytest.raises(EncodingDataError, match="sha256") as caught:
        build_encoding("cl100k_base", data_dir)
    assert "reinstall perf" in str(caught.value)
    assert isinstance(caught.value, PerfError)


def test_truncated_or_missing_rank_file_is_a_clear_error(tmp_path):
    data_dir = _copy_data(tmp_path)
    target = data_dir / "cl100k_base.tiktoken.gz"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(EncodingDataError, match="cannot read"):
        build_encoding("cl100k_base", data_dir)
    target.unlink()
    with pytest.raises(EncodingDataError, match="cannot read"):
        build_encoding("cl100k_base", data_dir)


def test_load_rank_file_accepts_the_right_hash_and_parses_every_rank(tmp_path):
    plain = tmp_path / "cl100k_base.tiktoken"
    plain.write_bytes(gzip.decompress((DATA_DIR / "cl100k_base.tiktoken.gz").read_bytes()))
    ranks = load_rank_file(plain, CL100K_SHA256)
    assert len(ranks) == 100_256
    assert sorted(ranks.values()) == list(range(100_256))
    with pytest.raises(EncodingDataError):
        load_rank_file(plain, "0" * 64)


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o", "o200k_base"),
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("gpt-4.1", "o200k_base"),
        ("o3", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-0613", "cl100k_base"),
        ("gpt-3.5-turbo", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
    ],
)
def test_models_map_as_tiktoken_maps_them(model, encoding):
    assert encoding_name_for_model(model) == encoding
    assert tiktoken.model.encoding_name_for_model(model) == encoding


def test_unknown_model_names_the_known_ones():
    with pytest.raises(UnknownModelError, match="'my-llama'") as caught:
        encoding_name_for_model("my-llama")
    message = str(caught.value)
    assert "gpt-4o" in message
    assert "gpt-4" in message
    assert "fallback_encoding" in message
    assert isinstance(caught.value, ValueError)


def test_model_whose_encoding_is_not_shipped_says_so():
    with pytest.raises(UnknownModelError, match="r50k_base, which perf does not ship"):
        encoding_name_for_model("davinci")


def test_explicit_fallback_encoding_for_unknown_models():
    assert encoding_name_for_model("my-llama", fallback_encoding="cl100k_base") == "cl100k_base"
    assert encoding_name_for_model("gpt-4o", fallback_encoding="cl100k_base") == "o200k_base"
    with pytest.raises(ConfigurationError, match="p50k_base"):
        encoding_name_for_model("my-llama", fallback_encoding="p50k_base")
    with pytest.raises(ConfigurationError):
        get_encoding("r50k_base")


def test_known_models_only_lists_supported_encodings():
    models = known_models()
    assert "gpt-4o" in models
    assert "gpt-4o-*" in models
    assert "davinci" not in models
    for model in models:
        assert encoding_name_for_model(model.rstrip("*") + ("x" if model.endswith("*") else ""))
    assert set(SUPPORTED_ENCODINGS) == {"cl100k_base", "o200k_base", "o200k_harmony"}
