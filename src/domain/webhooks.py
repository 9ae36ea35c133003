"""Webhooks as pure rules: which notifications exist, how a delivery is signed (the Standard
Webhooks convention) and which addresses a delivery may connect to."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from typing import Literal

from pydantic import BaseModel

EventType = Literal[
    "reward.granted", "reward.reversed", "event.failed", "event.skipped", "pool.low_stock"
]
EVENT_TYPES: tuple[EventType, ...] = (
    "reward.granted",
    "reward.reversed",
    "event.failed",
    "event.skipped",
    "pool.low_stock",
)
SECRET_PREFIX = "whsec_"


class DeliveryInput(BaseModel):
    """What a DeliverWebhook run needs: the delivery (its row holds the body and target) and
    the retry schedule it was started with (kept in the input, so a replay sees the same)."""

    delivery_id: str
    org_id: str
    first_retry_seconds: float
    max_retry_seconds: float
    give_up_seconds: float
    # Runs 0.4.0 started (without it) retry one regular activity; later runs attempt locally.
    local_attempts: bool = False


def new_secret() -> str:
    """A signing secret: ``whsec_`` and 32 random bytes in base64, shown to its owner once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body`` with the secret's key bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def public(address: str) -> bool:
    """Whether a delivery may connect to ``address``: not private, loopback, link-local,
    multicast, reserved or unspecified (an IPv4-mapped IPv6 address is judged as IPv4)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )
