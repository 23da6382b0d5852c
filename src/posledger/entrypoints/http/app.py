"""``create_app``: the contract's HTTP API over the use cases.

Every error is an RFC 9457 problem (``application/problem+json``) with a stable ``code`` and,
where it applies, the ``field`` at fault. Reads run in the thread pool; the SQLite unit of work
serialises them with the writers.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import msgspec
from fastapi import FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute
from fastapi_offline import FastAPIOffline
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from posledger.adapters.render.pdf import render_pdf
from posledger.adapters.render.ubl import render_ubl
from posledger.app.access import (
    Forbidden,
    Principal,
    bootstrap_token_problem,
    create_token,
    list_tokens,
    revoke_token,
)
from posledger.app.boundaries import StoreScope
from posledger.app.ingest import IngestResult, Problem, Undecodable, ingest
from posledger.app.master_data import catalog_since, load_master_data, upsert_entry
from posledger.app.ports import (
    AuditEntry,
    EntryLineRow,
    IssuedDocument,
    StockRow,
    StoredEvent,
    TokenRecord,
    UnitOfWork,
)
from posledger.app.posting import PostingEngine
from posledger.app.queries import (
    EXCEPTION_STATUSES,
    EXCEPTION_TYPES,
    event_status,
    exception_json,
    list_exceptions,
    resolve_exception,
    stock_json,
    stock_report,
    trial_balance,
)
from posledger.app.reservations import NotAvailable, release, reserve
from posledger.app.retry import StorageUnavailable
from posledger.bootstrap import App
from posledger.domain.accounts import CHART
from posledger.domain.codec import event_json_schema
from posledger.domain.errors import ImmutableField, InvalidInput
from posledger.domain.events import EVENT_TYPES
from posledger.domain.fields import plain_text
from posledger.domain.master import body_key
from posledger.domain.pan import card_key, card_number_in, gtin_valid
from posledger.domain.posting.model import parse_document_number
from posledger.entrypoints.http.access_log import RequestLog
from posledger.entrypoints.http.auth import RateGate, TokenUse, client_of
from posledger.entrypoints.http.day_routes import day_routes
from posledger.entrypoints.http.group_commit import GroupCommitIngester
from posledger.entrypoints.http.limits import FailedAuthentications, TokenBuckets
from posledger.entrypoints.http.metrics import Metrics
from posledger.entrypoints.http.params import (
    MAX_ID,
    Auth,
    PageLimit,
    day_param,
    id_cursor,
    line_cursor,
    one_of,
    opaque_cursor,
    page_of,
    pair_cursor,
    require_known,
    since_param,
)
from posledger.entrypoints.http.posting_process import PostingProcess
from posledger.entrypoints.http.problem_pages import PROBLEM_PAGES, problem_index, problem_page
from posledger.entrypoints.http.problems import (
    PROBLEM_JSON,
    PROBLEM_RESPONSES,
    ProblemError,
    echoable,
    field_errors,
    problem_body,
    problem_response,
)
from posledger.entrypoints.http.schemas import (
    EXAMPLES,
    NON_PROBLEM_ANSWERS,
    REQUESTS,
    RESPONSES,
    response_schema,
    schema_components,
)
from posledger.entrypoints.http.worker import PostingWorker

MAX_BATCH = 1000
_RAW_EVENT = msgspec.json.Decoder(msgspec.Raw)
_RAW_BATCH = msgspec.json.Decoder(list[msgspec.Raw])
_JSON = msgspec.json.Decoder()
READY_LAG_SECONDS = 60.0  # posting further behind than this: not ready
log = logging.getLogger("posledger.http")


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413 before they are read into memory."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_too_large(send, self.limit)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise ProblemError(413, "payload_too_large", "Body too large",
                                       f"the body is over {self.limit} bytes", "(body)")
            return message

        await self.app(scope, limited, send)


async def _send_too_large(send: Send, limit: int) -> None:
    body = json.dumps(problem_body(413, "payload_too_large", "Body too large",
                                   f"the body is over {limit} bytes", "(body)")).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", PROBLEM_JSON.encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


_DOCUMENT_TYPES = ("application/json", "application/pdf", "application/xml")


def _negotiated(accept: str, offered: tuple[str, ...]) -> str | None:
    """The media type of ``offered`` an Accept header prefers (RFC 9110: q-values, ``type/*``
    and ``*/*``; the first offered wins a tie; no header means the first); None when it accepts
    none of them (406). ``text/xml`` is taken for ``application/xml``."""
    if not accept.strip():
        return offered[0]
    best: tuple[float, int, str] | None = None
    for part in accept.split(","):
        media, *parameters = [piece.strip() for piece in part.split(";")]
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        media = "application/xml" if media.lower() == "text/xml" else media.lower()
        for rank, candidate in enumerate(offered):
            kind = candidate.split("/")[0]
            if quality > 0 and media in (candidate, f"{kind}/*", "*/*"):
                key = (quality, -rank, candidate)
                if best is None or key[:2] > best[:2]:
                    best = key
    return best[2] if best else None


def create_app(application: App, *, admin_token: str | None = None, max_body_bytes: int = 8 * 2**20,
               start_worker: bool = True) -> FastAPI:
    problem = bootstrap_token_problem(admin_token)
    if problem is not None:
        raise ValueError(problem)
    metrics = Metrics(lambda: _count_open(application))
    settings = application.settings
    worker: PostingWorker | PostingProcess
    if settings.posting_process:  # ingest and posting on a core each
        worker = PostingProcess(settings, metrics.posting_lag.observe)
    else:
        engine = PostingEngine(application.uow, application.clock, batch_size=settings.server_batch_size,
                               cache=application.cache)
        worker = PostingWorker(engine, metrics.posting_lag.observe)
    # Parsed events are handed to posting only when it runs in this process.
    hand_over = not settings.external_workers and not settings.posting_process
    ingester = GroupCommitIngester(lambda documents: ingest(
        application.uow, documents, clock=application.clock, source="api",
        cache=application.cache if hand_over else None, partitions=settings.partitions))

    relay = None
    if application.settings.nats_url:
        from posledger.adapters.nats import NatsRelay

        relay = NatsRelay(application.uow, application.settings.nats_url, retries=application.retries)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        ingester.start()
        if relay is not None:
            relay.start()
        if start_worker:
            worker.start()
        try:
            yield
        finally:
            if start_worker:
                worker.stop()
            if relay is not None:
                relay.stop()
            ingester.stop()

    api = FastAPIOffline(title="posledger", version="1", lifespan=lifespan, responses=PROBLEM_RESPONSES, description=(
        "POS events in; stock ledger, general ledger and invoices out, exactly once. "
        "Errors are RFC 9457 problem details with the field at fault."), generate_unique_id_function=_operation_id)
    api.state.posledger = application
    api.state.admin_token = admin_token
    api.state.token_use = TokenUse()
    api.state.rate_limits = TokenBuckets(settings.rate_limit, settings.rate_burst)
    api.state.failed_auth = FailedAuthentications()
    api.state.metrics = metrics
    api.state.worker = worker
    api.state.start_worker = start_worker
    api.state.relay = relay
    api.state.scope = StoreScope(application.uow)
    api.add_middleware(BodyLimit, limit=max_body_bytes)

    @api.middleware("http")
    async def _timing(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        raw_path = request.scope.get("raw_path") or b""
        if b"%00" in raw_path or "%00" in request.url.query or "\x00" in request.url.path:
            # No text field anywhere (and no PostgreSQL text) may hold a NUL character.
            return problem_response(ProblemError(422, "invalid_request", "Invalid request",
                                                 "the path or query contains a NUL character", "(query)"))
        card_field = _card_data_in_request(request)
        if card_field is not None:  # refused before anything reads, stores or logs it
            return problem_response(ProblemError(422, "pan_detected", "Card data is not accepted",
                                                 "a full card number or card security data is not accepted in a "
                                                 "path or query", card_field))
        response: Response = await call_next(request)
        _secure_headers(request, response)
        route = request.scope.get("route")
        metrics.request_latency.labels(getattr(route, "path", "unmatched"), request.method).observe(
            time.perf_counter() - started)
        return response

    # Added last, so it runs first (before the timing middleware's task and streams): a refused
    # flood costs as little as it can.
    api.add_middleware(RequestLog, enabled=application.settings.access_log)
    api.add_middleware(RateGate, state=api.state)  # outermost: a refused flood costs as little as it can
    _with_event_schemas(api)
    _install_error_handlers(api)
    _events_routes(api, ingester, metrics, worker)
    _master_routes(api, application)
    _ledger_routes(api, application)
    day_routes(api, application)
    _ops_routes(api, application, metrics, worker)
    return api


# Pages (the API docs) load their scripts, styles and images from this server only; the
# Swagger UI and ReDoc pages need their inline bootstrap script and styles, and ReDoc a worker.
_PAGE_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
                "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'; "
                "base-uri 'none'; form-action 'self'")


def _secure_headers(request: Request, response: Response) -> None:
    """CONTRACT section 15, on the wire: nothing cached that holds financial data, no content
    sniffing, no referrer, pages confined to this origin."""
    headers = response.headers
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    path = request.url.path
    if path.startswith("/v1/") or path in ("/metrics", "/health"):
        headers["Cache-Control"] = "no-store"
    if headers.get("content-type", "").startswith("text/html"):
        headers["Content-Security-Policy"] = _PAGE_POLICY


_BARCODE_PATHS = frozenset({"items", "stock"})  # /v1/items/{sku}, /v1/stock/{sku}


def _card_data_in_request(request: Request) -> str | None:
    """The path segment or query parameter holding card data (CONTRACT section 8), or None. A
    GTIN is a barcode where a SKU goes: the segment after ``items`` or ``stock``, a ``sku`` or
    ``gtin`` parameter."""
    segments = request.url.path.split("/")
    # The path as a whole (a number written with slashes spans segments), barcodes left out.
    read = [segment for before, segment in zip(["", *segments], segments, strict=False)
            if not (before in _BARCODE_PATHS and gtin_valid(segment))]
    if card_number_in("/".join(read)):
        return "(path)"
    for name, value in request.query_params.multi_items():
        if card_key(name) or card_number_in(name):
            return "(query)"
        if name in ("sku", "gtin") and gtin_valid(value):
            continue
        if card_number_in(value):
            return name
    return None


def _refuse_foreign_references(application: App, scope: StoreScope, principal: Principal,
                                documents: list[Any], single: bool) -> None:
    orders: list[tuple[str, str]] = []
    for index, document in enumerate(documents):
        where = "" if single else f"[{index}]."
        scope.refuse_foreign_event(principal, document, where)
        payload = document.get("payload") if isinstance(document, dict) else None
        if (isinstance(payload, dict) and document.get("type") == "order.fulfilled"
                and isinstance(payload.get("order_id"), str)):
            orders.append((payload["order_id"], f"{where}payload.order_id"))
    if orders:
        located = application.uow.run(lambda uow: {order: uow.reservations.locations_of(order)
                                                   for order, _ in orders}, read_only=True, operation="orders")
        for order, field in orders:
            scope.refuse_foreign_order(principal, located[order], field)


def _decode_one(part: msgspec.Raw) -> Any:
    try:
        return _JSON.decode(part)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
        return Undecodable(str(error))


def _operation_id(route: APIRoute) -> str:
    """An operation's name in the OpenAPI document, as a generated client's method is called:
    ``post_events`` is ``postEvents`` (an operation_id given on the route wins)."""
    head, *rest = route.name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _with_event_schemas(api: FastAPI) -> None:
    """The OpenAPI document gains the event types as the codec defines them (one schema per
    event type, a union discriminated by ``type``), so that clients can be generated from it and
    schemathesis sends valid events as well as broken ones."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = generate()
            union, components = event_json_schema()
            # Python's \Z (end of text) is JSON Schema's $ (ECMA-262: no newline before it).
            components = json.loads(json.dumps(components).replace("\\\\Z", "$"))
            components["Event"] = {"oneOf": union["anyOf"], "discriminator": union.get("discriminator",
                                                                                       {"propertyName": "type"})}
            schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
            _typed_bodies(schema)
            # Every operation but /health takes a bearer token (CONTRACT section 15).
            schema["components"]["securitySchemes"] = {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "An API token: `posledger token create`, or POST /v1/tokens"}}
            schema["security"] = [{"bearerAuth": []}]
            health = schema.get("paths", {}).get("/health", {}).get("get")
            if health is not None:
                health["security"] = [{}, {"bearerAuth": []}]  # anonymous, or with readiness details
            api.openapi_schema = schema
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]


def _typed_bodies(schema: dict[str, Any]) -> None:
    """Every operation's JSON request and answer as a named type (entrypoints/http/schemas.py),
    every error as the one shared ``Problem``, and an example of each request body."""
    components = schema["components"]["schemas"]
    components.update(schema_components())
    for name in ("HTTPValidationError", "ValidationError"):  # FastAPI's; our 422 is a Problem
        components.pop(name, None)
    problem = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            name = operation.get("operationId", "")
            own = NON_PROBLEM_ANSWERS.get(name, {})
            for status, response in operation.get("responses", {}).items():
                if int(status) in own:
                    response["content"] = {"application/json": {"schema": response_schema(own[int(status)])}}
                elif status[0] in "45":
                    response["content"] = problem
            if name in RESPONSES:
                status, body = RESPONSES[name]
                answer = operation["responses"].setdefault(str(status), {"description": "OK"})
                if answer.get("description") == "Successful Response":
                    answer["description"] = "OK"
                answer.setdefault("content", {})["application/json"] = {"schema": response_schema(body)}
            if name in REQUESTS:
                operation["requestBody"] = {"required": True, "content": {"application/json": {
                    "schema": {"$ref": f"#/components/schemas/{REQUESTS[name].__name__}"}}}}
            if name in EXAMPLES:
                operation["requestBody"]["content"]["application/json"]["example"] = EXAMPLES[name]


def _install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(ProblemError)
    async def _problem(request: Request, error: ProblemError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if error.status == 401 else None
        if error.status == 403:
            _log_forbidden(request, error.detail)
        return problem_response(error, headers)

    @api.exception_handler(InvalidInput)
    async def _invalid(_: Request, error: InvalidInput) -> JSONResponse:
        if isinstance(error, ImmutableField):
            return problem_response(ProblemError(409, error.type, "Field cannot change", error.detail, error.field,
                                                 errors=field_errors(error)))
        return problem_response(ProblemError(422, error.type, "Invalid input", error.detail, error.field,
                                             errors=field_errors(error)))

    @api.exception_handler(Forbidden)
    async def _forbidden(request: Request, error: Forbidden) -> JSONResponse:
        _log_forbidden(request, str(error))
        return problem_response(ProblemError(403, "forbidden", "Not allowed", str(error), error.field))

    @api.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0] if error.errors() else {"loc": ("(request)",), "msg": "invalid"}
        location = [str(part) for part in first.get("loc", ()) if part not in ("query", "path", "body")]
        return problem_response(ProblemError(422, "invalid_request", "Invalid request",
                                             str(first.get("msg", "invalid")), ".".join(location) or None))

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        headers = dict(error.headers or {})
        if error.status_code == 405:  # every method of the path, not just the first route's
            headers["Allow"] = ", ".join(_allowed_methods(request))
        return problem_response(ProblemError(error.status_code, code, str(error.detail), str(error.detail)),
                                headers)

    @api.exception_handler(StorageUnavailable)
    async def _unavailable(_: Request, error: StorageUnavailable) -> JSONResponse:
        # Transient (a deadlock, a database restart) and retried already; the client retries later.
        return problem_response(ProblemError(503, "storage_unavailable", "Storage unavailable",
                                             f"the database did not answer in time ({error.kind}); nothing was "
                                             "stored: send the request again"), {"Retry-After": "1"})

    @api.exception_handler(UnicodeEncodeError)
    async def _unstorable(_: Request, error: UnicodeEncodeError) -> JSONResponse:
        # A lone surrogate (valid JSON, not valid Unicode) in a field that reached storage: the
        # transaction rolled back, nothing was stored.
        return problem_response(ProblemError(422, "invalid_request", "Invalid request",
                                             "a string contains a lone UTF-16 surrogate (\\ud800-\\udfff), "
                                             "which is not valid Unicode", "(body)"))

    @api.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=error)
        return problem_response(ProblemError(500, "internal_error", "Internal error",
                                             "the request failed; nothing was half-written"))


def _result_json(result: IngestResult) -> dict[str, Any]:
    body: dict[str, Any] = {"event_id": result.event_id, "status": result.status}
    if result.problem is not None:
        status = 409 if result.status == "conflict" else 422
        body["problem"] = problem_body(status, result.problem.type, result.problem.title,
                                       result.problem.detail, result.problem.field, _errors(result.problem))
    return body


def _errors(problem: Problem) -> list[dict[str, str]] | None:
    return [msgspec.structs.asdict(error) for error in problem.errors] or None


def _events_routes(api: FastAPI, ingester: GroupCommitIngester, metrics: Metrics, worker: PostingWorker | PostingProcess) -> None:
    application: App = api.state.posledger
    scope: StoreScope = api.state.scope
    event = {"$ref": "#/components/schemas/Event"}  # the codec's Structs, added by _with_event_schemas
    events_body = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [event, {"type": "array", "items": event, "minItems": 1, "maxItems": MAX_BATCH}]}}}}}

    @api.post("/v1/events", status_code=202, openapi_extra=events_body,
              summary="Post one event or an array of up to 1000")
    async def post_events(request: Request, principal: Auth) -> JSONResponse:
        principal.require("device", "admin")
        try:
            raw = await request.body()
        except ClientDisconnect:  # the register gave up mid-request; it will resend
            return JSONResponse({"detail": "client disconnected"}, status_code=499)
        # The body is split into each event's own JSON text (msgspec.Raw slices), each decoded on
        # its own: an event that is not valid JSON is rejected alone, not with its batch.
        single = raw.lstrip()[:1] != b"["
        try:
            parts = [_RAW_EVENT.decode(raw)] if single else _RAW_BATCH.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            raise ProblemError(400, "invalid_json", "Malformed JSON", f"the body is not JSON: {error}",
                               "(body)") from None
        documents = [_decode_one(part) for part in parts]
        if single and isinstance(documents[0], Undecodable):
            raise ProblemError(400, "invalid_json", "Malformed JSON",
                               f"the body is not JSON: {documents[0].detail}", "(body)")
        if not documents:
            raise ProblemError(422, "invalid_event", "Empty batch", "send at least one event", "(body)")
        if len(documents) > MAX_BATCH:
            raise ProblemError(413, "batch_too_large", "Too many events",
                               f"{len(documents)} events; at most {MAX_BATCH} per request", "(body)")
        for index, item in enumerate(documents):
            store_id = item.get("store_id") if isinstance(item, dict) else None
            if isinstance(store_id, str) and not principal.may_write_store(store_id):
                raise Forbidden(f"a device token for store {principal.store_id} may not post events "
                                f"for store {store_id} ({'event' if single else f'event [{index}]'})",
                                field="store_id" if single else f"[{index}].store_id")
        if principal.role != "admin":  # every reference inside the token's store (off the event loop: it may read)
            await run_in_threadpool(_refuse_foreign_references, application, scope, principal, documents, single)
        results = await ingester.submit(documents)
        request.state.events_accepted = sum(1 for r in results if r.status == "accepted")  # for the access log
        places = scope.fresh()
        if places is None:
            places = await run_in_threadpool(scope.load)
        known_registers = places.registers
        now = time.time()
        for item, result in zip(documents, results, strict=True):
            event_type = item.get("type") if isinstance(item, dict) and isinstance(item.get("type"), str) else "unknown"
            metrics.events.labels(event_type if result.status != "rejected" else "invalid", result.status).inc()
            if (result.status == "accepted" and isinstance(item, dict) and isinstance(item.get("register_id"), str)
                    and item["register_id"] in known_registers):  # one series per configured register only
                metrics.register_last_seen.labels(item["register_id"]).set(now)
        if any(r.status == "accepted" for r in results):
            worker.notify()
            if api.state.relay is not None:
                api.state.relay.notify()
        if single:
            (result,) = results
            if result.status == "conflict" and result.problem is not None:
                raise ProblemError(409, "conflict", result.problem.title, result.problem.detail, "event_id",
                                   event_id=result.event_id)
            if result.status == "rejected" and result.problem is not None:
                raise ProblemError(422, result.problem.type, result.problem.title, result.problem.detail,
                                   result.problem.field, errors=_errors(result.problem), event_id=result.event_id)
            return JSONResponse(_result_json(result), status_code=202)
        counts = Counter(r.status for r in results)
        return JSONResponse({"results": [_result_json(r) for r in results],
                             "accepted": counts["accepted"], "duplicate": counts["duplicate"],
                             "rejected": counts["rejected"], "conflict": counts["conflict"]}, status_code=202)

    @api.get("/v1/events", summary="Events in log order (cursor paginated)")
    def list_events(principal: Auth, store_id: str | None = None, status: str | None = None,
                    type: str | None = None, since: str | None = None, cursor: str | None = None,
                    limit: PageLimit = 100) -> dict[str, Any]:
        if store_id is None and principal.store_id is not None:
            store_id = principal.store_id  # a device or manager lists its own store's
        principal.require_read(store_id)
        one_of(status, ("accepted", "posted", "exception"), "status")
        one_of(type, EVENT_TYPES, "type")
        after, accepted_since = id_cursor(cursor), since_param(since)

        def work(uow: UnitOfWork) -> list[StoredEvent]:
            require_known(uow, "stores", store_id, "store_id")
            return uow.events.page(store_id=store_id, status=status, type=type, since=accepted_since,
                                   after=after, limit=limit)

        events = application.uow.run(work, read_only=True, operation="events")
        return page_of([_event_summary(e) for e in events], limit, lambda last: str(last["offset"]))

    @api.get("/v1/events/{event_id}", summary="An event's status and what it posted")
    def get_event(event_id: str, principal: Auth, store_id: str | None = None) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> dict[str, Any] | None:
            store = _event_store(uow, principal, event_id, store_id)
            return None if store is None else event_status(uow, store, event_id)

        status = application.uow.run(work, read_only=True, operation="read")
        if status is None:
            raise ProblemError(404, "not_found", "No such event", f"no event {event_id} was received"
                               + (f" from store {store_id}" if store_id else ""), "event_id")
        store = status["store_id"]
        if status["status"] == "rejected":  # the stored problem in the shape a live one has
            stored = status["problem"]
            code = stored["type"]
            status["problem"] = problem_body(409 if code == "conflict" else 422, code,
                                             PROBLEM_PAGES.get(code, (0, "Invalid event"))[1], stored["detail"],
                                             stored["field"], stored.get("errors"))
        status["links"] = {
            "self": f"/v1/events/{event_id}?store_id={store}",
            "journal_entries": f"/v1/ledger/entries?event_id={event_id}&store_id={store}",
            "invoices": [f"/v1/invoices/{number}" for number in status.get("documents", [])],
        }
        return status


def _event_store(uow: UnitOfWork, principal: Principal, event_id: str, store_id: str | None) -> str | None:
    """Which store's ``event_id`` a request means (an event's identity is its store and its id):
    the one named by ``store_id``, else the token's own store, else (finance and admin) the one
    store that has the id; None when none has it. Two or more is 409 ``ambiguous_event_id``."""
    if store_id is not None:
        principal.require_read(store_id)
        return store_id
    if principal.store_id is not None:
        return principal.store_id
    principal.require_read(None)
    stores = uow.events.stores_with(event_id)
    if len(stores) > 1:
        raise ProblemError(409, "ambiguous_event_id", "Event id used by more than one store",
                           f"stores {', '.join(stores)} each have an event {event_id}: add ?store_id=",
                           "store_id", stores=stores)
    return stores[0] if stores else None


# kind, collection path, operation name's noun (one of them)
_MASTER_ROUTES = (("stores", "/v1/stores", "Store"), ("registers", "/v1/registers", "Register"),
                  ("locations", "/v1/locations", "Location"), ("items", "/v1/items", "Item"),
                  ("promotions", "/v1/promotions", "Promotion"))
_STORE_SCOPED_KINDS = ("stores", "registers", "locations")  # a device or manager reads its own store's


def _master_routes(api: FastAPI, application: App) -> None:
    def upsert(kind: str, key: str, document: dict[str, Any], principal: Principal) -> dict[str, Any]:
        principal.require("admin")
        report = upsert_entry(application.uow, kind, document, clock=application.clock, key=key,
                              actor=principal.actor)
        if report.released:
            api.state.worker.notify()
        return {"kind": kind, "key": key, "changed": bool(report.changed), "version": report.version,
                "released": report.released}

    def readable(principal: Principal, kind: str, body: dict[str, Any]) -> bool:
        if kind not in _STORE_SCOPED_KINDS or principal.store_id is None:
            return True
        return body.get("store_id") == principal.store_id

    def read_one(kind: str, key: str, principal: Principal) -> dict[str, Any]:
        text = application.uow.run(lambda uow: uow.master.body_of(kind, key), read_only=True,
                                   operation="master data")
        body = json.loads(text) if text is not None else None
        if body is None or not readable(principal, kind, body):  # another store's is as absent
            noun = kind.rstrip("s").replace("_", " ")
            raise ProblemError(404, "not_found", f"No such {noun}", f"no {noun} {key} in master data", "key")
        return dict(body)

    def read_page(kind: str, principal: Principal, cursor: str, limit: int) -> dict[str, Any]:
        items: list[dict[str, Any]] = []
        after = cursor
        while len(items) < limit:  # a scoped token skips other stores' entries; pages stay full
            rows = application.uow.run(partial(_master_page, kind=kind, after=after, limit=limit),
                                       read_only=True, operation="master data")
            items += [body for _, text in rows if readable(principal, kind, body := json.loads(text))][
                :limit - len(items)]
            if len(rows) < limit:
                return {"items": items, "next_cursor": None}
            after = rows[-1][0]
        return {"items": items, "next_cursor": body_key(kind, items[-1])}

    def routes_of(kind: str, path: str, noun: str) -> None:
        def put_one(key: str, document: dict[str, Any], principal: Auth) -> dict[str, Any]:
            return upsert(kind, key, document, principal)

        def get_one(key: str, principal: Auth) -> dict[str, Any]:
            return read_one(kind, key, principal)

        def get_page(principal: Auth, cursor: Annotated[str, Query(max_length=200)] = "",
                     limit: PageLimit = 100) -> dict[str, Any]:
            return read_page(kind, principal, cursor, limit)

        api.put(f"{path}/{{key}}", summary=f"Create or replace one of {kind}",
                operation_id=f"put{noun}")(put_one)
        api.get(f"{path}/{{key}}", summary=f"One of {kind}", operation_id=f"get{noun}")(get_one)
        api.get(path, summary=f"Every one of {kind} (cursor paginated)", operation_id=f"list{noun}s")(get_page)

    for kind, path, noun in _MASTER_ROUTES:
        routes_of(kind, path, noun)

    @api.put("/v1/tax-rules/{region}/{code}", summary="Create or replace a tax rule", operation_id="putTaxRule")
    def put_tax_rule(region: str, code: str, document: dict[str, Any], principal: Auth) -> dict[str, Any]:
        return upsert("tax_rules", f"{region}/{code}", document, principal)

    @api.get("/v1/tax-rules/{region}/{code}", summary="One tax rule", operation_id="getTaxRule")
    def get_tax_rule(region: str, code: str, principal: Auth) -> dict[str, Any]:
        return read_one("tax_rules", f"{region}/{code}", principal)

    @api.get("/v1/tax-rules", summary="Every tax rule (cursor paginated)", operation_id="listTaxRules")
    def list_tax_rules(principal: Auth, cursor: Annotated[str, Query(max_length=200)] = "",
                       limit: PageLimit = 100) -> dict[str, Any]:
        return read_page("tax_rules", principal, cursor, limit)

    @api.post("/v1/master-data", summary="Bulk master data: every key optional")
    def post_master_data(document: dict[str, Any], principal: Auth) -> dict[str, Any]:
        principal.require("admin")
        report = load_master_data(application.uow, document, clock=application.clock, actor=principal.actor)
        if report.released:
            api.state.worker.notify()
        return {"version": report.version, "changed": report.changed, "unchanged": report.unchanged,
                "released": report.released}

    @api.get("/v1/catalog", summary="Items, tax rules and promotions changed since a version")
    def get_catalog(principal: Auth, since: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> dict[str, Any]:
        return application.uow.run(lambda uow: catalog_since(uow, since), read_only=True, operation="read")

    @api.post("/v1/tokens", status_code=201, summary="Create an API token (its secret shown once)", operation_id="createToken")
    def post_token(document: dict[str, Any], principal: Auth) -> dict[str, Any]:
        principal.require("admin")
        role, store_id, expires_at = document.get("role"), document.get("store_id"), document.get("expires_at")
        name = document.get("name") or f"{role}-{store_id or 'all'}"
        for field, value in (("role", role), ("store_id", store_id), ("name", name), ("expires_at", expires_at)):
            if value is not None and not isinstance(value, str):
                raise ProblemError(422, "invalid_request", "Invalid token request", f"{field} must be a string", field)
        if not isinstance(role, str):
            raise ProblemError(422, "invalid_request", "Invalid token request", "role is required", "role")
        created = create_token(application.uow, role, store_id, str(name), clock=application.clock,
                               expires_at=expires_at, actor=principal.actor)
        return {"token_id": created.token_id, "token": created.token, **_token_json(created.record)}

    @api.get("/v1/audit-log", summary="Changes of master data, tokens and the exception workflow, oldest first")
    def get_audit_log(principal: Auth, since: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
                      limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, Any]:
        principal.require("finance", "admin")
        entries = application.uow.run(lambda uow: uow.audit.since(since, limit), read_only=True,
                                      operation="audit log")
        return {"entries": [_audit_json(entry) for entry in entries],
                "next_since": entries[-1].id if entries else since}

    @api.get("/v1/tokens", summary="API tokens, without their secrets", operation_id="listTokens")
    def get_tokens(principal: Auth, cursor: Annotated[str, Query(max_length=64)] = "",
                   limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
        principal.require("admin")
        records = list_tokens(application.uow, after=cursor, limit=limit)
        return {"items": [_token_json(record) for record in records],
                "next_cursor": records[-1].token_id if len(records) == limit else None}

    @api.delete("/v1/tokens/{token_id}", summary="Revoke a token (from the next request, on every node)", operation_id="revokeToken")
    def delete_token(token_id: str, principal: Auth) -> dict[str, Any]:
        principal.require("admin")
        try:
            revoke_token(application.uow, token_id, clock=application.clock, actor=principal.actor)
        except LookupError:
            raise ProblemError(404, "not_found", "No such token", f"no token {token_id}", "token_id") from None
        return {"token_id": token_id, "revoked": True}


def _ledger_routes(api: FastAPI, application: App) -> None:
    scope: StoreScope = api.state.scope
    @api.get("/v1/ledger/trial-balance", summary="Trial balance, per store or consolidated")
    def get_trial_balance(principal: Auth, store_id: str | None = None,
                          from_: Annotated[str | None, Query(alias="from")] = None,
                          to: str | None = None) -> dict[str, Any]:
        principal.require("manager", "finance", "admin")  # a device reads statuses, not the books
        principal.require_read(store_id)
        first, last = day_param(from_, "from"), day_param(to, "to")

        def work(uow: UnitOfWork) -> dict[str, Any]:
            require_known(uow, "stores", store_id, "store_id")
            return trial_balance(uow, store_id, first, last)

        return application.uow.run(work, read_only=True, operation="trial balance")

    @api.get("/v1/ledger/entries", summary="Journal lines with their event_id (cursor paginated)", operation_id="listEntries")
    def get_entries(principal: Auth, account: str | None = None, store_id: str | None = None,
                    business_day: str | None = None, event_id: str | None = None, register_id: str | None = None,
                    cursor: str | None = None, limit: PageLimit = 100) -> dict[str, Any]:
        principal.require("manager", "finance", "admin")
        if store_id is None and principal.role == "manager":
            store_id = principal.store_id
        principal.require_read(store_id)
        after = line_cursor(cursor)
        day = day_param(business_day, "business_day")
        if account is not None and account not in CHART:
            raise ProblemError(422, "invalid_request", "Invalid query parameter",
                               "is not an account of the chart (CONTRACT section 4)", "account")

        def work(uow: UnitOfWork) -> list[EntryLineRow]:
            require_known(uow, "stores", store_id, "store_id")
            require_known(uow, "registers", register_id, "register_id")
            event_offset = None
            if event_id is not None:  # the event of that id in the store asked for (or the one store that has it)
                store = _event_store(uow, principal, event_id, store_id)
                stored = uow.events.get(store, event_id) if store is not None else None
                if stored is None:
                    return []
                event_offset = stored.offset
            return uow.queries.entry_lines(account=account, store_id=store_id, business_day=day,
                                           event_offset=event_offset, register_id=register_id, after=after,
                                           limit=limit)

        lines = application.uow.run(work, read_only=True, operation="entries")
        rows = [{"entry_id": ln.entry_id, "line_no": ln.line_no, "event_id": ln.event_id,
                 "account": ln.account, "debit": ln.debit, "credit": ln.credit, "store_id": ln.store_id,
                 "business_day": ln.business_day, "register_id": ln.register_id, "memo": ln.memo}
                for ln in lines]
        next_cursor = f"{lines[-1].entry_id}.{lines[-1].line_no}" if len(lines) == limit else None
        return {"items": rows, "next_cursor": next_cursor}  # CONTRACT section 7's list shape

    @api.get("/v1/stock", summary="Stock positions by SKU and location (cursor paginated)")
    def list_stock(principal: Auth, location_id: str | None = None, store_id: str | None = None,
                   cursor: str | None = None, limit: PageLimit = 100) -> dict[str, Any]:
        if store_id is None and principal.store_id is not None:
            store_id = principal.store_id  # a device or manager lists its own store's
        principal.require_read(store_id)
        if location_id is not None:
            scope.refuse_foreign_location(principal, location_id, "location_id")
        after = pair_cursor(cursor)

        def work(uow: UnitOfWork) -> list[StockRow]:
            require_known(uow, "stores", store_id, "store_id")
            require_known(uow, "locations", location_id, "location_id")
            return uow.queries.stock(None, location_id, store_id=store_id, after=after, limit=limit)

        rows = application.uow.run(work, read_only=True, operation="stock")
        return page_of([stock_json(row, with_store=True) for row in rows], limit,
                     lambda last: opaque_cursor([last["sku"], last["location_id"]]))

    @api.get("/v1/stock/{sku}", summary="On hand, reserved, ATP, unit cost and value")
    def get_stock(sku: str, principal: Auth, location_id: str | None = None) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> tuple[list[StockRow], list[dict[str, Any]]]:
            require_known(uow, "locations", location_id, "location_id")
            rows = uow.queries.stock(sku, location_id)
            if not rows:  # a SKU with stock positions but no item any more is still answered
                require_known(uow, "items", sku, "sku")
            return rows, stock_report(uow, sku, location_id)["stock"]

        rows, report = application.uow.run(work, read_only=True, operation="stock")
        if principal.role in ("device", "manager"):
            allowed = {row.location_id for row in rows if row.store_id == principal.store_id}
            if location_id is not None and rows and location_id not in allowed:
                raise Forbidden(f"location {location_id} is not in store {principal.store_id}")
            report = [row for row in report if row["location_id"] in allowed]
        on_hand = sum(r["on_hand"] for r in report)
        value = sum(r["value"] for r in report)
        reserved = sum(r["reserved"] for r in report)
        if location_id is not None and len(report) == 1:
            return {**report[0]}
        unit_cost = report[0]["unit_cost"] if len(report) == 1 else (
            (2 * value + on_hand) // (2 * on_hand) if on_hand > 0 else 0)
        return {"sku": sku, "location_id": location_id, "on_hand": on_hand, "reserved": reserved,
                "atp": on_hand - reserved, "unit_cost": unit_cost, "value": value, "locations": report}

    @api.post("/v1/reservations", status_code=201, summary="Reserve stock for an order if ATP allows")
    def post_reservation(document: dict[str, Any], principal: Auth) -> dict[str, Any]:
        order_id, sku, location_id, qty = (document.get(k) for k in ("order_id", "sku", "location_id", "qty"))
        for name, value in (("order_id", order_id), ("sku", sku), ("location_id", location_id)):
            if not isinstance(value, str) or not value:
                raise ProblemError(422, "invalid_request", "Invalid reservation", f"{name} is required", name)
        if type(qty) is not int or qty <= 0:
            raise ProblemError(422, "invalid_request", "Invalid reservation", "qty must be a positive integer", "qty")
        assert isinstance(order_id, str) and isinstance(sku, str) and isinstance(location_id, str)
        for name, value in (("order_id", order_id), ("sku", sku), ("location_id", location_id)):
            plain_text(value, name, 64)  # before anything reads with it
        principal.require("device", "manager", "finance", "admin")
        scope.refuse_foreign_location(principal, location_id, "location_id")
        try:
            made = reserve(application.uow, order_id, sku, location_id, qty, clock=application.clock)
        except NotAvailable as error:
            raise ProblemError(409, "not_available", "Not enough stock available to promise", str(error),
                               "qty", atp=error.atp) from None
        return {"order_id": made.order_id, "sku": made.sku, "location_id": made.location_id, "qty": made.qty,
                "atp": made.atp_after}

    @api.delete("/v1/reservations/{order_id}", summary="Release an order's reservations")
    def delete_reservation(order_id: str, principal: Auth, sku: str | None = None) -> dict[str, Any]:
        principal.require("device", "manager", "finance", "admin")
        located = _order_locations(application, order_id)
        scope.refuse_foreign_order(principal, located, "order_id")
        return {"order_id": order_id,
                "released": release(application.uow, order_id, sku, scope.own_locations(principal, located))}

    invoice_responses: dict[int | str, dict[str, Any]] = {200: {"description": "The document", "content": {
        "application/json": {"schema": {"type": "object"}},
        "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        "application/xml": {"schema": {"type": "string"}}}}}

    @api.get("/v1/invoices", summary="Invoices and credit notes by number (cursor paginated)")
    def list_invoices(principal: Auth, store_id: str | None = None, business_day: str | None = None,
                      cursor: str | None = None, limit: PageLimit = 100) -> dict[str, Any]:
        if store_id is None and principal.store_id is not None:
            store_id = principal.store_id
        principal.require_read(store_id)
        day = day_param(business_day, "business_day")
        after = parse_document_number(cursor) if cursor else None
        if cursor and after is None:
            raise ProblemError(422, "invalid_request", "Invalid cursor", "use next_cursor from the previous page",
                               "cursor")

        def work(uow: UnitOfWork) -> list[IssuedDocument]:
            require_known(uow, "stores", store_id, "store_id")
            return uow.queries.documents(store_id, day, after, limit)

        documents = application.uow.run(work, read_only=True, operation="invoices")
        return page_of([_document_summary(d) for d in documents], limit, lambda last: str(last["number"]))

    @api.get("/v1/invoices/{number}", summary="An invoice or credit note: JSON, PDF or UBL XML by Accept",
             responses=invoice_responses)
    def get_invoice(number: str, principal: Auth, request: Request) -> Response:
        document = application.uow.run(lambda uow: uow.queries.document(number), read_only=True, operation="read")
        if document is None:
            raise ProblemError(404, "not_found", "No such document", f"no invoice or credit note {number}", "number")
        principal.require_read(document.draft.store_id)
        wanted = _negotiated(request.headers.get("accept", ""), _DOCUMENT_TYPES)
        if wanted is None:
            raise ProblemError(406, "not_acceptable", "Not acceptable",
                               f"a document is served as {', '.join(_DOCUMENT_TYPES)}", "Accept")
        if wanted == "application/pdf":
            return Response(render_pdf(document), media_type="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="{number}.pdf"'})
        if wanted == "application/xml":
            return Response(render_ubl(document), media_type="application/xml")
        return JSONResponse({
            "number": document.number, "kind": document.draft.kind, "series": document.series,
            "sequence": document.sequence, "event_id": document.event_id, "store_id": document.draft.store_id,
            "business_day": document.draft.business_day.isoformat(),
            "original_number": document.draft.original_number, "total": document.draft.total,
            "tax": document.draft.tax, **document.draft.body})

    @api.get("/v1/exceptions", summary="Sales-audit and integration exceptions (cursor paginated)", operation_id="listExceptions")
    def get_exceptions(principal: Auth, status: str | None = None, type: str | None = None,
                       store_id: str | None = None, cursor: str | None = None, limit: PageLimit = 100) -> dict[str, Any]:
        principal.require("manager", "finance", "admin")
        if store_id is None and principal.role == "manager":
            store_id = principal.store_id
        principal.require_read(store_id)
        one_of(status, EXCEPTION_STATUSES, "status")
        one_of(type, EXCEPTION_TYPES, "type")

        after = id_cursor(cursor)

        def work(uow: UnitOfWork) -> list[dict[str, Any]]:
            require_known(uow, "stores", store_id, "store_id")
            return list_exceptions(uow, status=status, type=type, store_id=store_id, limit=limit, after=after)

        found = application.uow.run(work, read_only=True, operation="exceptions")
        return page_of(found, limit, lambda last: str(last["id"]))

    @api.get("/v1/exceptions/{exception_id}", summary="One exception")
    def get_exception(exception_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], principal: Auth) -> dict[str, Any]:
        principal.require("manager", "finance", "admin")
        record = application.uow.run(lambda uow: uow.exceptions.get(exception_id), read_only=True,
                                     operation="exception")
        # Another store's exception is as absent as one that does not exist.
        if record is None or not principal.may_read_store(record.store_id or None):
            raise ProblemError(404, "not_found", "No such exception", f"no exception {exception_id}",
                               "exception_id")
        return exception_json(record)

    @api.post("/v1/exceptions/{exception_id}/resolve", summary="Resolve an exception with a reason", operation_id="resolveException")
    def post_resolve(exception_id: Annotated[int, PathParam(ge=1, le=MAX_ID)], document: dict[str, Any],
                     principal: Auth) -> dict[str, Any]:
        principal.require("finance", "admin")
        reason = document.get("reason")
        if not isinstance(reason, str):
            raise ProblemError(422, "invalid_request", "Invalid resolution", "reason is required", "reason")
        try:
            record = resolve_exception(application.uow, exception_id, by=principal.name, reason=reason,
                                       retry=bool(document.get("retry")), clock=application.clock,
                                       actor=principal.actor)
        except LookupError:
            raise ProblemError(404, "not_found", "No such exception", f"no exception {exception_id}",
                               "exception_id") from None
        api.state.worker.notify()
        return record


def _log_forbidden(request: Request, detail: str) -> None:
    principal = getattr(request.state, "principal", None)
    who = principal.actor if principal is not None else "?"
    logging.getLogger("posledger.access").warning("forbidden for token %s from %s on %s %s: %s", who,
                                                  client_of(request), request.method, request.url.path,
                                                  echoable(detail))


def _allowed_methods(request: Request) -> list[str]:
    """The methods the routes of this request's path answer (Starlette's 405 names those of the
    first route that matched the path only, where GET and POST are two routes)."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _audit_json(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "at": entry.at, "actor": entry.actor, "action": entry.action, "subject": entry.subject,
            "before": json.loads(entry.before) if entry.before is not None else None,
            "after": json.loads(entry.after) if entry.after is not None else None}


def _token_json(record: TokenRecord) -> dict[str, Any]:
    return {"token_id": record.token_id, "role": record.role, "store_id": record.store_id, "name": record.name,
            "created_at": record.created_at, "expires_at": record.expires_at, "last_used_at": record.last_used_at,
            "revoked": record.revoked}


def _order_locations(application: App, order_id: str) -> list[str]:
    return application.uow.run(lambda uow: uow.reservations.locations_of(order_id), read_only=True,
                               operation="order")


def _event_summary(stored: StoredEvent) -> dict[str, Any]:
    return {"event_id": stored.event_id, "store_id": stored.store_id, "type": stored.type,
            "status": stored.status, "register_id": stored.register_id, "seq": stored.seq,
            "offset": stored.offset, "accepted_at": stored.accepted_at,
            "self": f"/v1/events/{stored.event_id}?store_id={stored.store_id}"}


def _document_summary(document: IssuedDocument) -> dict[str, Any]:
    draft = document.draft
    return {"number": document.number, "kind": draft.kind, "store_id": draft.store_id,
            "business_day": draft.business_day.isoformat(), "event_id": document.event_id,
            "original_number": draft.original_number, "total": draft.total, "tax": draft.tax,
            "currency": draft.body.get("currency"), "self": f"/v1/invoices/{document.number}"}


def _master_page(uow: UnitOfWork, *, kind: str, after: str, limit: int) -> list[tuple[str, str]]:
    return uow.master.page(kind, after, limit)


def _count_open(application: App) -> dict[str, int]:
    return application.uow.run(lambda uow: uow.exceptions.open_counts(), read_only=True,
                               operation="open exceptions")


def _ops_routes(api: FastAPI, application: App, metrics: Metrics, worker: PostingWorker | PostingProcess) -> None:
    @api.get("/metrics", include_in_schema=False)
    def get_metrics(principal: Auth) -> Response:
        principal.require("monitor", "admin")  # behind a token: scrapes cost the server work
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @api.get("/health", summary="Liveness and readiness",
             responses={200: {"description": "Ready"}, 503: {"description": "Alive but not ready"}})
    def get_health() -> JSONResponse:
        """Live: the process answers. Ready: the database answers, the posting worker runs,
        and the oldest accepted-but-unposted event is younger than the lag limit. Also: the
        database's schema version against this release's, and the transient errors this process
        retried (counts per kind, the last one). One attempt each: a health check reports, it
        does not wait out a failure."""
        checks: dict[str, Any] = {"worker": worker.alive or not api.state.start_worker,
                                  "posting_failures": worker.failures,
                                  "posting_restarts": getattr(worker, "restarts", 0)}
        lag_seconds = 0.0
        try:
            with application.uow(read_only=True) as uow:
                pending = uow.events.pending_count()
                oldest = uow.events.oldest_pending()
            checks["schema_version"] = application.schema_version()
            checks["database"] = True
            if oldest is not None:
                lag_seconds = max(0.0, time.time() - datetime.fromisoformat(oldest).timestamp())
        except Exception as error:  # readiness reports it; liveness stays up
            checks["database"] = False
            checks["database_error"] = type(error).__name__
            pending = None
        checks["pending_events"] = pending
        checks["posting_lag_seconds"] = round(lag_seconds, 3)
        checks["posting_lag_limit_seconds"] = READY_LAG_SECONDS
        checks["schema_version_expected"] = application.uow.expected_schema_version
        checks["retries"] = application.retries.snapshot()
        ready = bool(checks["database"]) and bool(checks["worker"]) and lag_seconds <= READY_LAG_SECONDS
        return JSONResponse({"live": True, "ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @api.get("/", include_in_schema=False)
    def get_root() -> PlainTextResponse:
        return PlainTextResponse("posledger: see /docs for the API, /problems/ for its problem codes, "
                                 "/health, /metrics\n")

    @api.get("/problems/", include_in_schema=False)
    def get_problem_index() -> HTMLResponse:
        return HTMLResponse(problem_index())

    @api.get("/problems/{code}", include_in_schema=False)
    def get_problem_page(code: str) -> HTMLResponse:
        page = problem_page(code)
        if page is None:
            raise ProblemError(404, "not_found", "No such problem code",
                               "see /problems/ for every problem code", "code")
        return HTMLResponse(page)

