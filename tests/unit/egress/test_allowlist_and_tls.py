"""The allowlist's matching and the ClientHello reader, on their own."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from kubegym.egress import allowlist, tls


def test_names_match_exactly_and_wildcards_only_below() -> None:
    listed = allowlist.Allowlist.union(["pypi.org"], ["*.huggingface.co", "pypi.org"])
    assert listed.patterns == ("*.huggingface.co", "pypi.org")
    assert listed.allows("pypi.org") and listed.allows("cdn-lfs.huggingface.co")
    assert listed.allows("a.b.huggingface.co")
    for other in ("huggingface.co", "evilhuggingface.co", "pypi.org.evil.example", "xpypi.org"):
        assert not listed.allows(other), other
    assert not listed.names_localhost


@pytest.mark.parametrize("bad", ["PyPI.org", "1.2.3.4", "*.", "*", "pypi.org:443", "a..b", ""])
def test_a_bad_pattern_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="egress host"):
        allowlist.Allowlist((bad,))


@pytest.mark.parametrize(
    ("host", "name"),
    [("PyPI.org", "pypi.org"), ("pypi.org.", "pypi.org"), ("localhost", "localhost")],
)
def test_requested_hosts_are_normalised(host: str, name: str) -> None:
    assert allowlist.normalise(host) == name


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("10.0.0.1", "ip_literal"),
        ("[::1]", "ip_literal"),
        ("::ffff:127.0.0.1", "ip_literal"),
        ("0x7f.1", "bad_host"),
        ("2130706433", "bad_host"),
        ("127.1", "bad_host"),
        ("under_score.example", "bad_host"),
        ("a" * 300, "bad_host"),
    ],
)
def test_addresses_and_junk_are_never_names(host: str, reason: str) -> None:
    with pytest.raises(allowlist.HostRefused) as refused:
        allowlist.normalise(host)
    assert refused.value.reason == reason


def _hello(name: str | None) -> bytes:
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls_object = ssl.create_default_context()
    if name is None:
        tls_object.check_hostname = False
    wrapped = tls_object.wrap_bio(incoming, outgoing, server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        wrapped.do_handshake()
    return outgoing.read()


def _read(data: bytes) -> tuple[bytes, bytes]:
    async def go() -> tuple[bytes, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(data)
        reader.feed_eof()
        return await tls.read_client_hello(reader)

    return asyncio.run(go())


def test_the_server_name_of_a_real_client_hello() -> None:
    raw, hello = _read(_hello("Files.PythonHosted.org"))
    assert tls.server_name(hello) == "files.pythonhosted.org"
    assert raw.startswith(b"\x16\x03")


def test_a_client_hello_split_over_records_is_put_together() -> None:
    whole = _hello("pypi.org")
    body = whole[5:]
    split = b"".join(
        b"\x16\x03\x01" + len(part).to_bytes(2, "big") + part for part in (body[:40], body[40:])
    )
    raw, hello = _read(split)
    assert raw == split and tls.server_name(hello) == "pypi.org"


def test_no_server_name() -> None:
    _, hello = _read(_hello(None))
    assert tls.server_name(hello) is None


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x17\x03\x03\x00\x05hello",  # application data, not a handshake
        b"\x16\x03\x01\x00\x00",  # an empty record
        b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # a ServerHello, not a ClientHello
    ],
)
def test_what_is_not_a_client_hello(data: bytes) -> None:
    with pytest.raises(tls.NotTls):
        _read(data)


def test_a_truncated_client_hello() -> None:
    hello = bytearray(_read(_hello("pypi.org"))[1])
    with pytest.raises(tls.NotTls):
        tls.server_name(bytes(hello[:60]))


def _with_extension(record: bytes, kind: int, data: bytes) -> bytes:
    """A one-record ClientHello with one more extension at the end, lengths fixed up."""
    hello = bytearray(record[5:])
    at = 4 + 2 + 32
    at += 1 + hello[at]
    at += 2 + int.from_bytes(hello[at : at + 2], "big")
    at += 1 + hello[at]
    added = kind.to_bytes(2, "big") + len(data).to_bytes(2, "big") + data
    total = int.from_bytes(hello[at : at + 2], "big") + len(added)
    hello[at : at + 2] = total.to_bytes(2, "big")
    hello += added
    hello[1:4] = (len(hello) - 4).to_bytes(3, "big")
    return record[:3] + len(hello).to_bytes(2, "big") + bytes(hello)


def test_encrypted_client_hello_is_refused() -> None:
    """ECH hides the real server name behind the one shown: the proxy cannot check it."""
    _, hello = _read(_with_extension(_hello("pypi.org"), 0xFE0D, b"\x00" * 32))
    with pytest.raises(tls.NotTls, match="Encrypted Client Hello"):
        tls.server_name(hello)
    _, plain = _read(_with_extension(_hello("pypi.org"), 0xFAFA, b""))  # an unknown one: fine
    assert tls.server_name(plain) == "pypi.org"
