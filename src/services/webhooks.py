"""Webhooks: subscriptions, and delivering one notification (an attempt of a DeliverWebhook
run). Every attempt connects only to the address it checked (so a name that resolves to a
private address between check and connect cannot reach it) and sends the same bytes, signed with
the attempt's own timestamp (a Standard Webhooks verifier refuses one over 5 minutes old).
A receiver is an org's own server: whatever it answers, an attempt costs the worker at most
its timeout (DNS included) and a few KiB of reply."""

from __future__ import annotations

import asyncio
import ipaddress
import secrets
import socket
import ssl
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiodns
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from src.domain.errors import Invalid, NotFound
from src.domain.sealing import Sealer
from src.domain.webhooks import EVENT_TYPES, DeliveryStatus, new_secret, public, signature
from src.store import orgs, webhooks

MAX_PER_ORG = 20
MAX_URL = 2048
MAX_REPLY_BYTES = 4096  # of a reply's body, read raw: only its status code is kept


class DeliveryFailed(Exception):
    """An attempt that did not end in a 2xx reply: retried on the run's schedule."""


class Resolver:
    """Names resolved on the event loop (c-ares), never in the loop's thread pool: a name
    whose servers never answer would hold a thread that cannot be cancelled, and a few such
    threads stall every org's deliveries. c-ares gives each query up to ``timeout`` seconds,
    so nothing outlives the attempt that asked. One channel per event loop, made on first
    use (it binds to the loop that runs it)."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._bound: tuple[asyncio.AbstractEventLoop, aiodns.DNSResolver] | None = None

    def _channel(self) -> aiodns.DNSResolver:
        loop = asyncio.get_running_loop()
        if self._bound is None or self._bound[0] is not loop:
            self._bound = (loop, aiodns.DNSResolver(loop=loop, timeout=self.timeout, tries=1))
        return self._bound[1]

    async def addresses(self, host: str, port: int) -> list[str]:
        try:
            found = await self._channel().getaddrinfo(host, port=port, type=socket.SOCK_STREAM)
        except aiodns.error.DNSError:
            raise DeliveryFailed(unreachable(host)) from None
        return [
            addr.decode() if isinstance(addr, bytes) else str(addr)
            for addr in (node.addr[0] for node in found.nodes)
        ]


@dataclass(frozen=True)
class Delivering:
    """How this process delivers: the deployment's settings, never an org's. The TLS context
    (trusted CAs) is built once: building it for every attempt cost more CPU than the rest
    of the attempt."""

    allow_private_targets: bool
    timeout_seconds: float
    sealer: Sealer
    tls: ssl.SSLContext = field(default_factory=httpx.create_ssl_context)
    resolver: Resolver = field(default_factory=Resolver)


def check_url(url: str) -> str:
    parts = urlsplit(url)
    if len(url) > MAX_URL or parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid.field("url", f"must be an http(s) URL of at most {MAX_URL} characters")
    if parts.username or parts.password:
        raise Invalid.field("url", "must not carry credentials")
    return url


def check_events(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENT_TYPES))
    if not events or unknown:
        raise Invalid.field("events", f"must name some of {', '.join(EVENT_TYPES)}")
    return sorted(set(events))


def sealing_context(webhook_id: str) -> str:
    """What a webhook's sealed secret is bound to: it opens on its own row only."""
    return f"webhook:{webhook_id}"


async def create(
    engine: AsyncEngine, sealer: Sealer, org_id: str, url: str, events: list[str]
) -> tuple[webhooks.Subscription, str]:
    """A new subscription and its secret, which is in this reply only (the database holds it
    sealed)."""
    webhook_id = f"wh_{secrets.token_hex(12)}"
    secret = new_secret()
    values = {
        "id": webhook_id,
        "org_id": org_id,
        "url": check_url(url),
        "events": check_events(events),
        "secret": sealer.seal(secret, sealing_context(webhook_id)),
    }
    async with engine.begin() as conn:
        await orgs.lock(conn, org_id)  # concurrent creates count in turn: the cap holds
        if len(await webhooks.of_org(conn, org_id)) >= MAX_PER_ORG:
            raise Invalid.field("url", f"an org has at most {MAX_PER_ORG} webhooks")
        await webhooks.create(conn, values)
        made = await webhooks.get(conn, org_id, webhook_id)
    if made is None:
        raise NotFound(f"webhook '{webhook_id}' not found")  # deleted at once by another request
    return made, secret


async def rotate(engine: AsyncEngine, sealer: Sealer, org_id: str, webhook_id: str) -> str:
    """A new secret, shown once; deliveries not yet attempted are signed with it."""
    secret = new_secret()
    sealed = sealer.seal(secret, sealing_context(webhook_id))
    async with engine.begin() as conn:
        if not await webhooks.set_secret(conn, org_id, webhook_id, sealed):
            raise NotFound(f"webhook '{webhook_id}' not found")
    return secret


async def reseal(engine: AsyncEngine, sealer: Sealer) -> tuple[int, list[str]]:
    """Seals again with the first payload key every secret another key sealed (so that key
    can leave PAYLOAD_KEYS) or that is still in clear. Each is replaced only if unchanged
    since it was read (no lock on the rows grants write notifications against). Returns how
    many changed, and the webhooks whose secret opens with none of the keys."""
    async with engine.connect() as conn:
        stored = await webhooks.secrets(conn)
    changed, unopened = 0, []
    for webhook_id, sealed in stored:
        try:
            fresh = sealer.reseal(sealed, sealing_context(webhook_id))
        except ValueError:
            unopened.append(webhook_id)
            continue
        if fresh is not None:
            async with engine.begin() as conn:
                changed += await webhooks.replace_secret(conn, webhook_id, sealed, fresh)
    return changed, unopened


def unreachable(host: str) -> str:
    """One message whether the name does not resolve or resolves to an address refused: an
    org must not learn from ``lastError`` which names exist inside our network."""
    return f"{host}: no public address to deliver to"


async def address_for(
    host: str, port: int, allow_private: bool, resolver: Resolver | None = None
) -> str:
    """The address this attempt connects to: the first the name resolves to, refused when it
    is not public (unless the deployment allows private targets)."""
    try:
        ipaddress.ip_address(host)
        found = [host]
    except ValueError:
        found = await (resolver or Resolver()).addresses(host, port)
    if not found or (not allow_private and not public(found[0])):
        raise DeliveryFailed(unreachable(host))
    return found[0]


async def deliver(engine: AsyncEngine, delivery_id: str, how: Delivering) -> str:
    """One attempt; returns the delivery's outcome (``delivered``, or ``gone`` when its
    webhook was deleted), or raises DeliveryFailed after recording the attempt."""
    async with engine.connect() as conn:
        found = await webhooks.target(conn, delivery_id)
    if found is None:
        return "gone"
    if found.status != DeliveryStatus.pending:
        return str(found.status)
    timestamp = int(time.time())  # each attempt's own: receivers reject stale timestamps
    try:
        secret = how.sealer.open(found.secret, sealing_context(found.webhook_id))
    except ValueError:
        sealed = "the signing secret opens with no key in PAYLOAD_KEYS (run `loyalty reseal`)"
        async with engine.begin() as conn:
            await webhooks.attempted(conn, delivery_id, None, sealed, False)
        raise DeliveryFailed(sealed) from None
    parts = urlsplit(found.url)
    host = str(parts.hostname)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    headers = {
        "content-type": "application/json",
        "user-agent": "loyalty-engine-webhooks",
        "webhook-id": found.id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, found.id, timestamp, found.body),
        "host": parts.netloc,
        "accept-encoding": "identity",
    }
    status_code, error = None, None
    try:
        async with asyncio.timeout(how.timeout_seconds):  # the whole exchange, DNS included
            address = await address_for(host, port, how.allow_private_targets, how.resolver)
            status_code = await post(how, parts, address, port, found.body.encode(), headers)
    except TimeoutError:
        error = f"no reply within {how.timeout_seconds:g} s"
    except (httpx.HTTPError, OSError, DeliveryFailed) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    delivered = status_code is not None and 200 <= status_code < 300
    async with engine.begin() as conn:
        await webhooks.attempted(conn, delivery_id, status_code, error, delivered)
    if not delivered:
        raise DeliveryFailed(error or f"HTTP {status_code}")
    return DeliveryStatus.delivered


async def post(
    how: Delivering, parts: Any, address: str, port: int, body: bytes, headers: dict[str, str]
) -> int:
    """Sends the notification to the checked address and returns the reply's status code.
    The reply is streamed and read raw (never decoded, whatever its Content-Encoding says),
    at most MAX_REPLY_BYTES of it; the headers are bounded by the HTTP/1.1 parser (100 KiB)."""
    shown = f"[{address}]" if ":" in address else address
    url = urlunsplit((parts.scheme, f"{shown}:{port}", parts.path or "/", parts.query, ""))
    async with (
        httpx.AsyncClient(
            timeout=how.timeout_seconds, follow_redirects=False, verify=how.tls
        ) as http,
        http.stream(
            "POST",
            url,
            content=body,
            headers=headers,
            extensions={"sni_hostname": parts.hostname},
        ) as reply,
    ):
        read = 0
        async for chunk in reply.aiter_raw():
            read += len(chunk)
            if read >= MAX_REPLY_BYTES:
                break
        return reply.status_code


async def give_up(engine: AsyncEngine, delivery_id: str) -> None:
    async with engine.begin() as conn:
        await webhooks.give_up(conn, delivery_id)
