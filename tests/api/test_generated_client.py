"""A client generated from the live document by openapi-python-client, as an integrator makes
one: generated without a warning but the one below, every operation in it with its replies as
typed models, and the guide's flow and the campaign routes through it."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import pkgutil
import re
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, get_args, get_type_hints

import httpx
import pytest
import pytest_asyncio

from src.cli.demo import CODE_EFFECT
from tests.backtesting import VISITS_PAY
from tests.guide import FLOW_ACTION, STEP1_TRIGGER, STEP2_CAMPAIGN
from tests.support import TERMINAL, Tenant

PACKAGE = "loyalty_client"
# The generator's own venv (`make install`: pyproject.toml's `generator` group), ruff with it.
GENERATOR_BIN = Path(sys.executable).parents[1] / "generator" / "bin"
# The generator sends request bodies only as JSON, forms, multipart or raw bytes, never text:
# it leaves out importCodes' text/csv alternative (and says so), and generates the operation
# with its JSON body and typed replies. Any other warning is a schema or endpoint left out.
TEXT_BODY = ("POST /v1/code-pools/{pool_id}/codes", "Unsupported content type text/csv")
WARNING = re.compile(r"^(?:WARNING|ERROR) parsing (\S+ \S+) .*\n\n(.+)$", re.MULTILINE)
DUMP = re.compile(r"^\{$.*?^\}$", re.MULTILINE | re.DOTALL)  # the data a warning is about
SAID = {
    f"Generating {PACKAGE}",
    "Warning(s) encountered while generating. Client was generated, but some pieces may be missing",
}


@dataclass
class Generated:
    """The generated package, its operations by module name, and the document it came from."""

    package: ModuleType
    ops: dict[str, ModuleType]
    document: dict[str, Any]

    @property
    def models(self) -> Any:
        return self.package.models


def _only_known_warnings(output: str) -> None:
    assert output.startswith(f"Generating {PACKAGE}\n"), output
    assert WARNING.findall(output) in ([], [TEXT_BODY]), output
    # Nothing else said: no document-level error, no hook that failed to run.
    said = DUMP.sub("", WARNING.sub("", output)).splitlines()
    assert {line for line in said if line and not line.startswith("If you believe")} <= SAID, output


@pytest_asyncio.fixture(scope="module")
async def generated(
    api_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Generated]:
    """Generated once for the module, from the document the API serves, then imported."""
    async with httpx.AsyncClient(base_url=api_url) as http:
        reply = await http.get("/openapi.json")
    assert reply.status_code == 200
    where = tmp_path_factory.mktemp("generated")
    (where / "openapi.json").write_bytes(reply.content)
    generator = GENERATOR_BIN / "openapi-python-client"
    assert generator.exists(), f"{generator}: run `make install`"
    process = await asyncio.create_subprocess_exec(
        str(generator),
        "generate",
        "--path",
        "openapi.json",
        "--meta",
        "none",
        "--output-path",
        PACKAGE,
        cwd=where,
        # Its ruff hooks (fix, format) run as they would for an integrator.
        env={**os.environ, "PATH": f"{GENERATOR_BIN}{os.pathsep}{os.environ.get('PATH', '')}"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    output = out.decode(errors="replace")
    assert process.returncode == 0, output
    _only_known_warnings(output)
    sys.path.insert(0, str(where))
    try:
        package = importlib.import_module(PACKAGE)
        api = importlib.import_module(f"{PACKAGE}.api")
        ops = {
            found.name.rsplit(".", 1)[1]: importlib.import_module(found.name)
            for found in pkgutil.walk_packages(api.__path__, f"{PACKAGE}.api.")
            if not found.ispkg
        }
        yield Generated(package, ops, reply.json())
    finally:
        sys.path.remove(str(where))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


@dataclass
class Api:
    """The generated client of one tenant; a call checks the status and the reply's class."""

    generated: Generated
    client: Any

    @property
    def m(self) -> Any:
        return self.generated.models

    async def __call__(
        self, operation: str, model: type, status: int = 200, /, **kwargs: Any
    ) -> Any:
        reply = await self.generated.ops[operation].asyncio_detailed(client=self.client, **kwargs)
        assert reply.status_code == status, reply.content[-2000:]
        assert type(reply.parsed) is model, reply.parsed
        # The model holds the whole reply: nothing the document leaves out, nothing lost.
        assert reply.parsed.additional_properties == {}
        assert _same(reply.parsed.to_dict(), json.loads(reply.content)), reply.content[-2000:]
        return reply.parsed


def _same(ours: Any, theirs: Any) -> bool:
    """Equal as JSON, an instant written with ``Z`` equal to the same with ``+00:00``."""
    if isinstance(ours, dict) and isinstance(theirs, dict):
        return ours.keys() == theirs.keys() and all(_same(ours[k], theirs[k]) for k in ours)
    if isinstance(ours, list) and isinstance(theirs, list):
        return len(ours) == len(theirs) and all(map(_same, ours, theirs))
    if isinstance(ours, str) and isinstance(theirs, str) and ours != theirs:
        try:
            return datetime.fromisoformat(ours) == datetime.fromisoformat(theirs)
        except ValueError:
            return False
    return bool(ours == theirs and type(ours) is type(theirs))


@pytest_asyncio.fixture
async def api(generated: Generated, tenant: Tenant, api_url: str) -> AsyncIterator[Api]:
    client = generated.package.AuthenticatedClient(
        base_url=api_url,
        token=tenant.secret,  # Authorization: Bearer <secret>
        headers={"X-Monterosa-Org-ID": tenant.org_id},
        raise_on_unexpected_status=True,  # a status the document does not name fails
        timeout=httpx.Timeout(30),
    )
    async with client:
        yield Api(generated, client)


def snake_case(operation_id: str) -> str:
    """The generated module's name: ``getCampaignAnalytics`` is ``get_campaign_analytics``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", operation_id).lower()


def _model(generated: Generated, document: dict[str, Any], ref: str) -> type:
    """The generated class of a schema: its title (else name) in PascalCase."""
    name = ref.rsplit("/", 1)[1]
    title = document["components"]["schemas"][name].get("title", name)
    words = re.split(r"[^0-9A-Za-z]+", title)
    found: type = getattr(generated.models, "".join(w[:1].upper() + w[1:] for w in words))
    return found


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for methods in document["paths"].values():
        for operation in methods.values():
            yield operation["operationId"], operation


async def test_every_operation_and_reply_is_generated(generated: Generated, api: Api) -> None:
    """No endpoint dropped, and each reply, success or error, parsed into the model the
    document names (or, bodiless, into nothing: no JSON read from an empty body)."""
    document = generated.document
    assert {snake_case(op) for op, _ in _operations(document)} == set(generated.ops)
    for op, operation in _operations(document):
        module = generated.ops[snake_case(op)]
        replies = get_args(get_type_hints(module._parse_response)["return"])
        for status, response in operation["responses"].items():
            schema = response.get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:  # a model, not ``Any`` (what a schema without one gives)
                assert "$ref" in schema, (op, status, schema)
                assert _model(generated, document, schema["$ref"]) in replies, (op, status)
            else:
                assert status.startswith("2"), (op, status)
                empty = httpx.Response(int(status))
                assert module._parse_response(client=api.client, response=empty) is None, op
    # Every webhook body is a model a receiver gets from the same package.
    for kind, hook in document["webhooks"].items():
        body = hook["post"]["requestBody"]["content"]["application/json"]["schema"]
        assert _model(generated, document, body["$ref"]), kind


async def _settled(api: Api, event_id: str) -> Any:
    async with asyncio.timeout(60):
        while True:
            event = await api("get_action", api.m.EventOut, event_id=event_id)
            if event.status.value in TERMINAL:
                return event
            await asyncio.sleep(0.1)


@pytest.mark.usefixtures("base_url")  # the worker settles the action
async def test_the_guide_flow(api: Api) -> None:
    """The guide's Complete Integration Flow (as tests/e2e/test_guide_flow.py has it over
    plain HTTP), every call through the generated client."""
    m = api.m
    trigger = await api(
        "create_trigger", m.TriggerOut, 201, body=m.TriggerBody.from_dict(STEP1_TRIGGER)
    )
    assert trigger.key == "purchase_completed" and trigger.name == STEP1_TRIGGER["name"]
    assert [(f.key, f.type_) for f in trigger.fields] == [
        ("amount", m.TriggerFieldType.NUMBER),
        ("currency", m.TriggerFieldType.STRING),
    ]
    badge = m.ProductCreate(id="prod_vip_badge", name="VIP Badge")
    product = await api("create_product", m.ProductOut, 201, body=badge)
    assert product.id == "prod_vip_badge" and product.type_ == m.ProductOutType.BADGE
    pool = m.PoolCreate(id="pool_discounts", name="Discounts")
    assert (await api("create_code_pool", m.PoolOut, 201, body=pool)).available == 0
    codes = m.CodeImport(codes=[f"CODE-{i:05d}" for i in range(10)])
    imported = await api("import_codes", m.ImportOut, 201, pool_id="pool_discounts", body=codes)
    assert imported.imported == 10 and imported.duplicate_count == 0
    assert imported.pool.id == "pool_discounts" and imported.pool.available == 10
    person = m.UserCreate(id="user_123", email="user_123@example.com")
    user = await api("create_user", m.UserOut, 201, body=person)
    assert user.id == "user_123" and user.email == "user_123@example.com"
    definition = {**STEP2_CAMPAIGN, "effects": [*STEP2_CAMPAIGN["effects"], CODE_EFFECT]}
    body = m.CampaignCreate.from_dict(definition)
    assert body.to_dict() == definition  # the request model carries the guide's body whole
    campaign = await api("create_campaign", m.CampaignOut, 201, body=body)
    assert campaign.status == m.CampaignStatus.ACTIVE and campaign.version == 1
    assert campaign.name == STEP2_CAMPAIGN["name"]
    assert [e.type_ for e in campaign.effects] == [
        m.EffectType.ADD_POINTS,
        m.EffectType.AWARD_PRODUCT,
        m.EffectType.ALLOCATE_CODE,
    ]

    action = m.Action.from_dict(FLOW_ACTION)
    sent = await api("send_action", m.Accepted, 202, body=action, idempotency_key="order-1001")
    assert sent.event_id.startswith("evt_") and sent.processed is False
    again = await api("send_action", m.Accepted, 202, body=action, idempotency_key="order-1001")
    assert again.event_id == sent.event_id  # the retry is the first event

    event = await _settled(api, sent.event_id)
    assert event.status == m.EventOutStatus.PROCESSED and event.workflow_id == sent.event_id
    assert event.matched_campaigns == [campaign.id]
    assert [e.status for e in event.effects] == [m.EffectOutStatus.GRANTED] * 3

    txns = await api("list_user_transactions", m.PageTransactionOut, user_id="user_123")
    by_type = {t.type_: t for t in txns.data}
    points = by_type[m.TransactionOutType.POINTS]
    assert points.amount == 500 and points.balance_after == 500
    assert points.reason == "Purchase reward"
    assert by_type[m.TransactionOutType.PRODUCT].product_id == "prod_vip_badge"
    assert by_type[m.TransactionOutType.CODE].code.startswith("CODE-")
    for txn in txns.data:
        assert txn.campaign_id == campaign.id and txn.campaign_version == 1
        assert txn.event_id == sent.event_id

    user = await api("get_user", m.UserOut, user_id="user_123")
    assert user.balances.additional_properties == {"points": 500}
    assert [(p.product_id, p.quantity) for p in user.products] == [("prod_vip_badge", 1)]
    assert len(user.codes) == 1
    ledger = await api("list_transactions", m.PageTransactionOut, event_id=sent.event_id)
    assert len(ledger.data) == 3

    missing = await api("get_campaign", m.ErrorBody, 404, campaign_id="cmp_nope")
    assert missing.error.code == "not_found"


@pytest.mark.usefixtures("base_url")  # the worker runs the backtest
async def test_the_campaign_routes(api: Api) -> None:
    """Everything under /v1/campaigns, a backtest, analytics, code imports and generation,
    through the generated client."""
    m = api.m
    await api("create_code_pool", m.PoolOut, 201, body=m.PoolCreate(id="welcome", name="W"))
    codes = m.CodeImport(codes=["W-1", "W-2", "W-3"])
    imported = await api("import_codes", m.ImportOut, 201, pool_id="welcome", body=codes)
    assert imported.imported == 3 and imported.pool.available == 3
    twice = m.CodeImport(codes=["W-3", "W-4"])
    imported = await api("import_codes", m.ImportOut, 201, pool_id="welcome", body=twice)
    assert imported.imported == 1 and imported.duplicates == ["W-3"]
    generate = m.Generate(count=2, length=8, prefix="G-")
    made = await api("generate_codes", m.GenerateOut, 201, pool_id="welcome", body=generate)
    assert made.generated == 2 and made.pool.available == 6
    await api("create_user", m.UserOut, 201, body=m.UserCreate(id="u1"))
    for _ in range(2):
        visit = m.Action(user_id="u1", action="visit")
        event = await _settled(
            api, (await api("send_action", m.Accepted, 202, body=visit)).event_id
        )
        assert event.status == m.EventOutStatus.PROCESSED and event.matched_campaigns == []

    limits = {"maxPerUser": 1, "perUserPerPeriod": {"count": 1, "period": "day"}}
    draft = m.CampaignCreate.from_dict({**VISITS_PAY, "limits": limits})
    made = await api("create_campaign", m.CampaignOut, 201, body=draft)
    assert made.status == m.CampaignStatus.DRAFT and made.version == 1
    assert made.limits.max_per_user == 1 and made.limits.per_user_per_period.count == 1
    assert made.limits.per_user_per_period.period == m.PeriodLimitPeriod.DAY
    listed = await api("list_campaigns", m.PageCampaignOut, status=m.CampaignStatus.DRAFT)
    assert [c.id for c in listed.data] == [made.id]
    got = await api("get_campaign", m.CampaignOut, campaign_id=made.id)
    assert got.to_dict() == made.to_dict()

    patch = m.CampaignPatch(name="visits pay twice", limits=m.Limits(max_per_user=2))
    changed = await api("update_campaign", m.CampaignOut, campaign_id=made.id, body=patch)
    assert changed.version == 2 and changed.name == "visits pay twice"
    assert changed.limits.max_per_user == 2 and changed.limits.per_user_per_period is None
    versions = await api("list_campaign_versions", m.PageVersionOut, campaign_id=made.id)
    assert [(v.version, v.name) for v in versions.data] == [
        (2, "visits pay twice"),
        (1, "visits pay"),
    ]

    now = datetime.now(UTC)
    window = m.BacktestBody(from_=now - timedelta(days=1), to=now + timedelta(minutes=1))
    started = await api("backtest_campaign", m.BacktestOut, 202, campaign_id=made.id, body=window)
    assert started.campaign_version == 2 and started.total == 2
    async with asyncio.timeout(60):
        while True:
            done = await api("get_backtest", m.BacktestOut, backtest_id=started.id)
            if done.status != m.BacktestOutStatus.RUNNING:
                break
            await asyncio.sleep(0.1)
    assert done.status == m.BacktestOutStatus.COMPLETED and done.processed == 2
    result = done.result
    assert result.matched == 2 and result.fired == 2 and result.distinct_users == 1
    assert result.points.additional_properties == {"points": 20}
    need = result.codes["welcome"]
    assert type(need) is m.PoolNeedOut and (need.needed, need.available) == (2, 6)

    active = await api("activate_campaign", m.CampaignOut, campaign_id=made.id)
    assert active.status == m.CampaignStatus.ACTIVE and active.version == 2
    visit = m.Action(user_id="u1", action="visit")
    event = await _settled(api, (await api("send_action", m.Accepted, 202, body=visit)).event_id)
    assert event.matched_campaigns == [made.id]
    assert [e.status for e in event.effects] == [m.EffectOutStatus.GRANTED] * 2
    paused = await api("pause_campaign", m.CampaignOut, campaign_id=made.id)
    assert paused.status == m.CampaignStatus.PAUSED

    report = await api("get_campaign_analytics", m.CampaignReportOut, campaign_id=made.id)
    assert report.campaign_id == made.id and report.timezone
    assert (report.actions_matched, report.users_rewarded) == (1, 1)
    assert (report.points_issued, report.codes_allocated, report.products_awarded) == (10, 1, 0)
    (day,) = report.per_day
    assert type(day) is m.DayOut and day.points_issued == 10 and day.codes_allocated == 1
    assert report.effects_failed.additional_properties == {}

    archived = await api("archive_campaign", m.CampaignOut, campaign_id=made.id)
    assert archived.status == m.CampaignStatus.ARCHIVED
    refused = await api("activate_campaign", m.ErrorBody, 409, campaign_id=made.id)
    assert refused.error.code
