"""Webhooks as pure rules: which notifications exist, how a delivery is signed (the Standard
Webhooks convention), when a failed delivery is tried again and which addresses a delivery may
connect to."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from datetime import datetime, timedelta
from enum import StrEnum
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


class DeliveryStatus(StrEnum):
    pending = "pending"  # to be attempted (again)
    delivered = "delivered"
    failed = "failed"  # given up; an operator may resend it


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


def retry_delay(failures: int, first_seconds: float, max_seconds: float) -> float:
    """Seconds a delivery waits after its ``failures``-th failed attempt (1 for the first):
    ``first_seconds``, twice as long after each further failure, never over ``max_seconds``."""
    wait = min(first_seconds, max_seconds)
    for _ in range(failures - 1):
        if wait >= max_seconds:  # capped for good: no need to double any further
            break
        wait = min(wait * 2, max_seconds)
    return wait


def next_retry(
    delivery: DeliveryInput, failures: int, started: datetime, now: datetime
) -> float | None:
    """After ``failures`` failed attempts of a run ``started`` then, at ``now``: the seconds to
    wait before the next attempt, or None (give up now) when it would start past the run's
    give-up time, so no attempt is ever made after it."""
    wait = retry_delay(failures, delivery.first_retry_seconds, delivery.max_retry_seconds)
    if now + timedelta(seconds=wait) > started + timedelta(seconds=delivery.give_up_seconds):
        return None
    return wait


def new_secret() -> str:
    """A signing secret: ``whsec_`` and 32 random bytes in base64, shown to its owner once."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature(secret: str, message_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` over ``id.timestamp.body`` with the secret's key bytes."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{message_id}.{timestamp}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, 6to4, Teredo's client, NAT64), which
    is where a connection to it ends up."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if any(ip in net for net in NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def public(address: str) -> bool:
    """Whether a delivery may connect to ``address``: globally routable, judged on every
    address it embeds (``is_global`` alone passes 2002:7f00:1::, 6to4 of 127.0.0.1, on
    Python 3.11), and never multicast."""
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.ip_address(address)
    judged = [ip]
    if isinstance(ip, ipaddress.IPv6Address) and (inner := embedded_ipv4(ip)) is not None:
        judged.append(inner)
    return all(one.is_global and not one.is_multicast for one in judged)


def deal(
    waiting: list[tuple[str, str]],
    busy_hooks: dict[str, int],
    busy_orgs: dict[str, int],
    per_hook: int,
    per_org: int,
    room: int,
) -> dict[str, int]:
    """How many deliveries each waiting webhook (``(webhook, org)``, in round-robin order)
    may start: ``room`` in all, none past its webhook's window or its org's. A receiver that
    never answers holds its own window, never its org's other webhooks' nor another org's."""
    dealt_orgs: dict[str, int] = {}
    shares: dict[str, int] = {}
    for hook, org in waiting:
        org_room = per_org - busy_orgs.get(org, 0) - dealt_orgs.get(org, 0)
        n = min(per_hook - busy_hooks.get(hook, 0), org_room, room)
        if n > 0:
            shares[hook] = n
            dealt_orgs[org] = dealt_orgs.get(org, 0) + n
            room -= n
    return shares
