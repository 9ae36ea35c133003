"""The codec endpoint the Temporal UI (or `temporal --codec-endpoint`) calls to show sealed
payloads decoded: an operator's tool, so it listens apart from the public API (loopback under
`loyalty dev`, the internal network in docker-compose) and never accepts an org's API key —
the UI cannot send one, and one org must not read another's payloads.

Callers send ``Authorization: Bearer <CODEC_TOKEN>`` (the CLI's ``--codec-auth``; a proxy in
front of the UI adds it); without a token it starts only when CODEC_ALLOW_UNAUTHENTICATED says
so. It answers only the Host names it is known by (a DNS-rebinding page reaches nothing), reads
at most MAX_BODY of a request, and only decodes: sealing a payload of one's choosing is for
whoever may write to Temporal, and no operator tool here needs it.
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.protobuf.message import Error as ProtobufError
from starlette.middleware.trustedhost import TrustedHostMiddleware
from temporalio.api.common.v1 import Payloads

from src.config import ConfigurationError, Settings
from src.domain.sealing import parse_keys
from src.workflows.codec import EncryptionCodec

MAX_BODY = 4 * 1024 * 1024


def check_guard(settings: Settings) -> None:
    """Refuse to serve payloads to whoever asks, unless the operator said so."""
    if not settings.codec_token and not settings.codec_allow_unauthenticated:
        raise ConfigurationError(
            "CODEC_TOKEN is not set: anyone reaching the codec endpoint could read every org's "
            "payloads. Set CODEC_TOKEN (the temporal CLI sends it with --codec-auth; a proxy "
            "in front of the Temporal UI adds it), or CODEC_ALLOW_UNAUTHENTICATED=true where "
            "only operators can reach it"
        )


def codec_app(settings: Settings) -> FastAPI:
    check_guard(settings)
    codec = EncryptionCodec(parse_keys(settings.require_payload_keys()))
    app = FastAPI(title="Loyalty payload codec", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.codec_cors_origins,
        allow_methods=["POST"],
        allow_headers=["*"],
    )
    hosts = [f"[{h}]" if ":" in h else h for h in settings.codec_allowed_hosts]
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)

    async def payloads(request: Request) -> Payloads:
        if settings.codec_token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), settings.codec_token.encode()):
                raise HTTPException(401, "codec token required")
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                raise HTTPException(413, "too large")
        try:
            return json_format.Parse(bytes(raw), Payloads())
        except (json_format.Error, ProtobufError, ValueError) as exc:
            raise HTTPException(400, "not a Payloads JSON object") from exc

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        try:
            opened = await codec.decode((await payloads(request)).payloads)
        except ValueError as exc:  # an unknown key, or tampered data
            raise HTTPException(400, str(exc)) from exc
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=list(opened))))

    return app
