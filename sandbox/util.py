"""Small deterministic helpers: hashing, opaque cursors, id encodings, error bodies."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import struct

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def digest(seed: int, tag: str, index: int, size: int = 32) -> bytes:
    """Deterministic pseudo-random bytes for (seed, tag, index)."""
    return hashlib.blake2b(f"{seed}:{tag}:{index}".encode(), digest_size=size).digest()


def u64(data: bytes, offset: int = 0) -> int:
    return int.from_bytes(data[offset : offset + 8], "big")


def weighted_table(weights: list[tuple[object, int]]) -> tuple:
    """A 256-entry lookup table so one random byte picks a weighted value."""
    total = sum(w for _, w in weights)
    table: list[object] = []
    acc = 0
    for value, weight in weights:
        acc += weight
        upto = round(acc * 256 / total)
        table.extend([value] * (upto - len(table)))
    return tuple(table[:256])


def ulid(ms: int, rand: bytes) -> str:
    """ULID-like id: 48-bit milliseconds + 80 bits, Crockford base32 (26 chars)."""
    value = (ms & ((1 << 48) - 1)) << 80 | int.from_bytes(rand[:10], "big")
    out = []
    for _ in range(26):
        out.append(CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(out))


def delivery_id(tag: int, index: int, rand: bytes) -> str:
    """Base64-like delivery id (36 chars, url-safe alphabet, one '=' pad), unique per (tag, index)."""
    raw = bytes([0x6A, tag & 0xFF]) + rand[:4] + struct.pack(">Q", index) + rand[4:16]
    return base64.urlsafe_b64encode(raw).decode()


def error_body(status: int, detail: str, code: str | None = None, pointer: str | None = None) -> dict:
    err: dict = {"detail": detail, "status": str(status)}
    if code:
        err["code"] = code
    if pointer is not None:
        err["source"] = {"pointer": pointer}
    return {"errors": [err]}


def dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


class CursorCodec:
    """Opaque, tamper-evident keyset cursors (standard base64 of a packed binary record + MAC).

    Fields: dataset tag, position, two window/scope values, page number within the chain, chain id.
    The record is XOR-masked with a keystream derived from the secret and the MAC, so nothing in it is readable.
    """

    _FMT = ">BBqqqII"
    _LEN = struct.calcsize(_FMT)

    def __init__(self, secret: bytes):
        self._secret = secret

    def encode(self, tag: int, pos: int, a: int, b: int, page: int, chain: int) -> str:
        body = struct.pack(self._FMT, 1, tag, pos, a, b, page, chain)
        mac = hmac.new(self._secret, body, hashlib.sha256).digest()[:8]
        return base64.b64encode(mac + self._xor(body, mac)).decode()

    def _xor(self, data: bytes, nonce: bytes) -> bytes:
        stream = hashlib.sha512(self._secret + nonce).digest()
        return bytes(x ^ y for x, y in zip(data, stream[: len(data)], strict=True))

    def decode(self, token: str, tag: int) -> tuple[int, int, int, int, int] | None:
        """Return (pos, a, b, page, chain) or None when the token is not a valid cursor for `tag`."""
        try:
            raw = base64.b64decode(token.encode("ascii"), validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            return None
        if len(raw) != self._LEN + 8:
            return None
        mac = raw[:8]
        body = self._xor(raw[8:], mac)
        if not hmac.compare_digest(mac, hmac.new(self._secret, body, hashlib.sha256).digest()[:8]):
            return None
        version, got_tag, pos, a, b, page, chain = struct.unpack(self._FMT, body)
        if version != 1 or got_tag != tag:
            return None
        return pos, a, b, page, chain
