"""WeChat's signatures and AES message crypto (compatible and safe mode)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bot.wechat.errors import AppIdMismatch, MalformedRequest

_BLOCK = 32  # WeChat pads with PKCS#7 to 32-byte blocks, not AES's 16


def sign(*parts: str) -> str:
    """WeChat's signature: SHA-1 of the sorted parts concatenated."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def same(expected: str, given: str) -> bool:
    """Constant-time comparison that also accepts any (hostile, non-ASCII) input."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "surrogatepass"))


def check_signature(token: str, signature: str, timestamp: str, nonce: str) -> bool:
    return same(sign(token, timestamp, nonce), signature)


class _AesKey:
    """One EncodingAESKey, its cipher built once (the IV is fixed: the key's first 16 bytes)."""

    __slots__ = ("cipher",)

    def __init__(self, encoding_aes_key: str) -> None:
        key = base64.b64decode(encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self.cipher = Cipher(algorithms.AES(key), modes.CBC(key[:16]))

    def decrypt(self, data: bytes) -> bytes:
        ctx = self.cipher.decryptor()
        return ctx.update(data) + ctx.finalize()

    def encrypt(self, data: bytes) -> bytes:
        ctx = self.cipher.encryptor()
        return ctx.update(data) + ctx.finalize()


class MessageCrypto:
    """Encrypts and decrypts message bodies with the current key, falling back to the previous one."""

    def __init__(self, token: str, app_id: str, aes_keys: tuple[str, ...]) -> None:
        self.token = token
        self.app_id = app_id.encode("ascii")
        self.keys = tuple(_AesKey(k) for k in aes_keys)

    def decrypt(self, encrypted: str) -> tuple[bytes, int]:
        """Plain XML and the index of the key that opened it; raises on tampering or a foreign appid."""
        try:
            data = binascii.a2b_base64(encrypted.encode("ascii"), strict_mode=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise MalformedRequest("Encrypt is not base64") from None
        if not data or len(data) % 16:
            raise MalformedRequest("Encrypt has a wrong length")
        foreign = False
        for index, key in enumerate(self.keys):
            plain = _unpad(key.decrypt(data))
            if plain is None or len(plain) < 20:
                continue
            (length,) = struct.unpack(">I", plain[16:20])
            if 20 + length > len(plain):
                continue
            if plain[20 + length :] != self.app_id:
                foreign = True  # decrypted cleanly but for another account
                continue
            return plain[20 : 20 + length], index
        if foreign:
            raise AppIdMismatch("message is for another appid")
        raise MalformedRequest("Encrypt does not decrypt with any configured key")

    def encrypt(self, xml: str, key_index: int = 0, random_prefix: bytes | None = None) -> str:
        body = xml.encode("utf-8")
        prefix = random_prefix if random_prefix is not None else os.urandom(16)
        plain = prefix + struct.pack(">I", len(body)) + body + self.app_id
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes((pad,)) * pad
        return base64.b64encode(self.keys[key_index].encrypt(plain)).decode("ascii")

    def seal(self, xml: str, key_index: int, nonce: str, timestamp: str, random_prefix: bytes | None = None) -> str:
        """The encrypted reply envelope WeChat expects in safe mode."""
        encrypted = self.encrypt(xml, key_index, random_prefix)
        signature = sign(self.token, timestamp, nonce, encrypted)
        return (
            f"<xml>\n<Encrypt><![CDATA[{encrypted}]]></Encrypt>\n"
            f"<MsgSignature><![CDATA[{signature}]]></MsgSignature>\n"
            f"<TimeStamp>{timestamp}</TimeStamp>\n"
            f"<Nonce><![CDATA[{nonce}]]></Nonce>\n</xml>"
        )


def _unpad(data: bytes) -> bytes | None:
    pad = data[-1] if data else 0
    if not 1 <= pad <= _BLOCK or pad > len(data) or data[-pad:] != bytes((pad,)) * pad:
        return None
    return data[:-pad]

