"""Who may call the admin API: the admin key, or nobody's key on a loopback-only server.

- ``admin_key`` set: requests need ``Authorization: Bearer <admin_key>``. No key or an unknown
  one is a 401; a chat key (one of ``api_keys``) is a 403: valid, but not for this.
- no ``admin_key`` and ``host`` is a loopback address: the admin API is open (the embedded
  default on 127.0.0.1), and the start-up log line says so.
- no ``admin_key`` and any other ``host``: the server refuses to start
  (:class:`~lethe.errors.ConfigurationError`; ``lethe serve`` prints it and exits with 2).

Keys are compared in constant time.

Example:
    >>> AdminAccess.from_settings(Settings()).mode
    'open'
    >>> AdminAccess.from_settings(Settings(host="0.0.0.0"))
    Traceback (most recent call last):
    lethe.errors.ConfigurationError: the admin API needs an admin key when the server listens on 0.0.0.0 (not a loopback address): set LETHE_ADMIN_KEY or --admin-key
"""  # noqa: E501

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass
from typing import Literal

from lethe.errors import AuthenticationError, ConfigurationError, PermissionDenied
from lethe.gateway.settings import Settings

AccessMode = Literal["key", "open"]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (``127.0.0.0/8``, ``::1``)."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _matches(given: str, key: str) -> bool:
    return hmac.compare_digest(given.encode(), key.encode())


@dataclass(frozen=True, slots=True)
class AdminAccess:
    """The admin API's access rule, decided once from the settings."""

    admin_key: str | None
    chat_keys: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> AdminAccess:
        """The rule for ``settings``; :class:`ConfigurationError` if the admin API would be
        open on a non-loopback address."""
        if not settings.admin_key and not is_loopback(settings.host):
            raise ConfigurationError(
                "the admin API needs an admin key when the server listens on "
                f"{settings.host} (not a loopback address): set LETHE_ADMIN_KEY or --admin-key",
                param="admin_key",
            )
        return cls(settings.admin_key or None, tuple(settings.api_keys))

    @property
    def mode(self) -> AccessMode:
        """``key`` (an admin key is required) or ``open`` (loopback, no admin key)."""
        return "key" if self.admin_key else "open"

    def check(self, token: str | None) -> None:
        """Let the request through, or raise 401 (no or unknown key) / 403 (a chat key)."""
        if self.admin_key is None:
            return
        if token is None:
            raise AuthenticationError(
                "The admin API needs the admin key. Send it as 'Authorization: Bearer <key>'."
            )
        if _matches(token, self.admin_key):
            return
        if any(_matches(token, key) for key in self.chat_keys):
            raise PermissionDenied("This API key may not use the admin API; use the admin key.")
        raise AuthenticationError("Incorrect admin key provided.")
