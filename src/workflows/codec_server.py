"""The codec endpoint the Temporal UI (or `temporal --codec-endpoint`) calls to show sealed
payloads decoded: an operator's tool, so it listens apart from the public API (loopback under
`loyalty dev`, the internal network in docker-compose) and never accepts an org's API key —
the UI cannot send one, and one org must not read another's payloads. When CODEC_TOKEN is
set, callers must send ``Authorization: Bearer <token>`` (the CLI's ``--codec-auth``).
"""

from __future__ import annotations

import hmac

from fastapi import FastAPI, HTTPException, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from google.protobuf import json_format
from google.protobuf.message import Error as ProtobufError
from temporalio.api.common.v1 import Payload, Payloads

from src.config import Settings
from src.domain.sealing import parse_keys
from src.workflows.codec import EncryptionCodec

MAX_BODY = 4 * 1024 * 1024


def codec_app(settings: Settings) -> FastAPI:
    codec = EncryptionCodec(parse_keys(settings.require_payload_keys()))
    app = FastAPI(title="Loyalty payload codec", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.codec_cors_origins,
        allow_methods=["POST"],
        allow_headers=["*"],
    )

    async def payloads(request: Request) -> Payloads:
        if settings.codec_token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), settings.codec_token.encode()):
                raise HTTPException(401, "codec token required")
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise HTTPException(413, "too large")
        try:
            return json_format.Parse(raw, Payloads())
        except (json_format.Error, ProtobufError, ValueError) as exc:
            raise HTTPException(400, "not a Payloads JSON object") from exc

    def reply(result: list[Payload]) -> JSONResponse:
        return JSONResponse(json_format.MessageToDict(Payloads(payloads=result)))

    @app.post("/encode")
    async def encode(request: Request) -> JSONResponse:
        return reply(list(await codec.encode((await payloads(request)).payloads)))

    @app.post("/decode")
    async def decode(request: Request) -> JSONResponse:
        try:
            opened = await codec.decode((await payloads(request)).payloads)
        except ValueError as exc:  # an unknown key, or tampered data
            raise HTTPException(400, str(exc)) from exc
        return reply(list(opened))

    return app
