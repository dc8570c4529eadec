"""Passwords: argon2id hashes (redone when the parameters change) and the policy a new one must meet."""

from __future__ import annotations

import functools
from importlib import resources

import argon2
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.accounts.model import AccountError

MIN_LENGTH = 8
MAX_LENGTH = 256  # hashing stays cheap and bounded whatever is pasted in


class WeakPassword(AccountError):
    """A password the policy refuses; the message says why."""


@functools.lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The list shipped in common_passwords.txt, lower-cased."""
    text = resources.files("bot.accounts").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip().casefold() for line in text.splitlines() if line.strip()
                     and not line.startswith("#"))


def policy_problem(password: str, name: str) -> str | None:
    """Why `password` may not be used by user `name`, or None."""
    if any("\ud800" <= c <= "\udfff" for c in password):  # a JSON body may carry them; argon2 cannot hash them
        return "password: not valid text (lone surrogates)"
    if len(password) < MIN_LENGTH:
        return f"password: must be at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"password: must be at most {MAX_LENGTH} characters"
    if not password.strip():
        return "password: must not be only spaces"
    if password.casefold() in common_passwords():
        return "password: is one of the most common passwords; choose another"
    if name and password.strip().casefold() == name.casefold():
        return "password: must not be the user name"
    return None


def check_policy(password: str, name: str) -> None:
    problem = policy_problem(password, name)
    if problem:
        raise WeakPassword(problem)


class Hasher:
    """argon2id with the configured parameters."""

    def __init__(self, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = argon2.PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism,
                                             type=argon2.Type.ID)
        self._dummy = ""  # made at the first unknown name: building a service stays cheap

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def verify_nobody(self, password: str) -> None:
        """Spend what a real check costs, so an unknown name answers as slowly as a wrong password."""
        if not self._dummy:
            self._dummy = self._hasher.hash("not a password of anyone")
        self.verify(self._dummy, password)

    def needs_rehash(self, stored: str) -> bool:
        """True when `stored` was made with other parameters (or another variant) than ours."""
        try:
            return self._hasher.check_needs_rehash(stored)
        except (InvalidHashError, ValueError):
            return True
