import hashlib
import hmac

import pytest

from echomark.dicom.codes import KEY_ENV, bytes_code, file_code, load_code_key
from echomark.errors import ConfigError, InputError


def test_sha256_of_file_bytes(tmp_path):
    p = tmp_path / "a.dcm"
    p.write_bytes(b"DICM" * 1000)
    assert file_code(p) == hashlib.sha256(b"DICM" * 1000).hexdigest()
    assert len(file_code(p)) == 64


def test_keyed_code_is_hmac_and_differs(tmp_path):
    p = tmp_path / "a.dcm"
    p.write_bytes(b"pixels")
    key = b"0123456789abcdef-secret"
    assert file_code(p, key) == hmac.new(key, b"pixels", hashlib.sha256).hexdigest()
    assert file_code(p, key) != file_code(p)
    assert file_code(p, key) != file_code(p, key + b"x")
    assert bytes_code(b"pixels", key) == file_code(p, key)


def test_missing_file_is_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        file_code(tmp_path / "nope.dcm")


def test_load_key_from_file_env_and_too_short(tmp_path, monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)
    assert load_code_key() is None
    kf = tmp_path / "key"
    kf.write_bytes(b"a-long-enough-secret\n")
    assert load_code_key(kf) == b"a-long-enough-secret"
    monkeypatch.setenv(KEY_ENV, "another-long-secret")
    assert load_code_key() == b"another-long-secret"
    assert load_code_key(kf) == b"a-long-enough-secret"  # the file wins
    monkeypatch.setenv(KEY_ENV, "short")
    with pytest.raises(ConfigError, match="at least 16 bytes"):
        load_code_key()
