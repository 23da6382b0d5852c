"""The event codec: the contract's events (CONTRACT sections 2 and 3) as msgspec Structs.

One call decodes and validates an event (``decode_event`` from JSON bytes, ``convert_event``
from an already decoded object): types, required fields, bounds, closed field sets and the
tagged union on ``type`` are checked by msgspec in C; the few rules that span fields (a
discount no larger than the line, distinct line numbers, a timestamp with an offset...) are
checked after, in Python. Every error becomes ``InvalidInput`` with the contract's field path
(``payload.lines[0].qty``) and code (``invalid_event``, ``unknown_field``). The decoded wire
structs are then mapped to the domain's event types (``events.py``), which the posting rules
read.

The same Structs give the OpenAPI request schemas (``event_json_schema``).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from datetime import date, datetime
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import msgspec

from posledger.domain import events as domain
from posledger.domain.currencies import ISO_4217
from posledger.domain.errors import InvalidInput, UnknownField
from posledger.domain.pan import refuse_card_data

__all__ = ["join_path", "unknown_field", "decode_event", "decode_stored_event", "convert_event", "parse_event", "event_json_schema", "UnknownField", "WireEvent",
           "EXT_MAX_BYTES"]

EXT_MAX_BYTES = 4096

# ------------------------------------------------------------------------------------ scalars

_PRINTABLE = r"^[^\x00-\x1f\x7f]*\Z"  # no control characters (CONTRACT section 2, bounds)
_NOT_BLANK = r"^(?!\s*\Z)[^\x00-\x1f\x7f]*\Z"  # ...and not empty or only spaces
Text = Annotated[str, msgspec.Meta(max_length=256, pattern=_PRINTABLE)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=256, pattern=_NOT_BLANK)]  # a required label
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=_NOT_BLANK)]
EventId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}\Z",
                                      description="1-64 characters of A-Z a-z 0-9 . _ : -")]
Currency = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}\Z", description="ISO 4217 code")]
Money = Annotated[int, msgspec.Meta(ge=0, le=10**12, description="minor units")]
SignedMoney = Annotated[int, msgspec.Meta(ge=-(10**12), le=10**12, description="minor units")]
PositiveQty = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Qty = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
QtyDelta = Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)]
LineNo = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
Seq = Annotated[int, msgspec.Meta(ge=1, le=2**62)]
Ext = dict[str, Any]  # kept as given, never interpreted; at most EXT_MAX_BYTES per event


class _Closed(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Fields are closed (CONTRACT section 2): an unknown one is refused, not ignored."""


# ------------------------------------------------------------------------------------ payloads

class CardData(_Closed):
    scheme: Text | None = None
    last4: Annotated[str, msgspec.Meta(pattern=r"^\d{4}\Z")] | None = None
    auth_code: Text | None = None
    terminal_id: Text | None = None
    first6: Annotated[str, msgspec.Meta(pattern=r"^\d{6}\Z")] | None = None
    psp_reference: Text | None = None


TenderKind = Literal["cash", "card", "wallet", "gift_card", "on_account"]


class TenderData(_Closed):
    tender: TenderKind
    amount: Money
    tendered: Money | None = None
    change: Money | None = None
    card: CardData | None = None
    ext: Ext | None = None


class SignedTenderData(TenderData, kw_only=True):
    """An exchange's tender: negative is a refund to the customer."""

    amount: SignedMoney


class LineData(_Closed):
    line_no: LineNo
    sku: Id
    qty: PositiveQty
    unit_price: Money
    tax_code: Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=_NOT_BLANK)]
    tax: Money
    discount: Money = 0
    promo_id: Id | None = None
    ext: Ext | None = None


Disposition = Literal["restock", "damaged"]


class ReturnLineData(LineData):
    """A sale line plus, optionally, its own reason and disposition (else the payload's)."""

    reason: Text | None = None
    disposition: Disposition | None = None


class OriginalData(_Closed):
    store_id: Id
    receipt_no: Name


class TotalsData(_Closed):
    net: SignedMoney | None = None
    tax: SignedMoney | None = None
    gross: SignedMoney | None = None


Lines = Annotated[list[LineData], msgspec.Meta(min_length=1, max_length=1000)]
ReturnLines = Annotated[list[ReturnLineData], msgspec.Meta(max_length=1000)]
Tenders = Annotated[list[TenderData], msgspec.Meta(max_length=100)]


class _Document(_Closed):
    """What every sales document carries: sale, order, return, exchange."""

    receipt_no: Name
    currency: Currency
    cashier_id: Text | None = None
    customer_id: Text | None = None
    channel: Text | None = None  # a return's too: where the goods came back (an online order)
    totals: TotalsData | None = None
    ext: Ext | None = None


class SalePayload(_Document, kw_only=True):
    lines: Lines
    tenders: Tenders


class OrderPayload(SalePayload, kw_only=True):
    """``order.fulfilled``: a sale plus the order whose reservation it consumes."""

    order_id: Name


class _ReturnDocument(_Document, kw_only=True):
    """A return's or an exchange's reference to the original sale, and the defaults its lines
    take when they give no reason or disposition of their own."""

    original: OriginalData | None = None
    reason: Text | None = None
    disposition: Disposition | None = None


class ReturnPayload(_ReturnDocument, kw_only=True):
    lines: Annotated[list[ReturnLineData], msgspec.Meta(min_length=1, max_length=1000)]
    tenders: Tenders


class ExchangePayload(_ReturnDocument, kw_only=True):
    tenders: Annotated[list[SignedTenderData], msgspec.Meta(max_length=100)]
    return_lines: ReturnLines = []
    sale_lines: Annotated[list[LineData], msgspec.Meta(max_length=1000)] = []


class VoidPayload(_Closed):
    receipt_no: Name
    reason: Text | None = None
    approved_by: Text | None = None
    ext: Ext | None = None


class OpenedPayload(_Closed):
    session_id: Name
    opening_float: Money
    cashier_id: Text | None = None
    ext: Ext | None = None


class CashMovedPayload(_Closed):
    session_id: Name
    kind: Literal["drop", "float_add", "paid_out"]
    amount: Annotated[int, msgspec.Meta(ge=1, le=10**12)]
    reason: Text | None = None
    ext: Ext | None = None


class CountedData(_Closed):
    cash: Money


class ClosedPayload(_Closed):
    session_id: Name
    counted: CountedData
    approved_by: Text | None = None
    ext: Ext | None = None


class ReceivedLine(_Closed):
    sku: Id
    qty: PositiveQty
    unit_cost: Money
    ext: Ext | None = None


class TransferLine(_Closed):
    sku: Id
    qty: PositiveQty
    ext: Ext | None = None


class AdjustLine(_Closed):
    sku: Id
    qty_delta: QtyDelta
    ext: Ext | None = None


class CountLine(_Closed):
    sku: Id
    counted_qty: Qty
    ext: Ext | None = None


def _stock_lines(kind: Any) -> Any:
    return Annotated[list[kind], msgspec.Meta(min_length=1, max_length=10_000)]


class ReceivedPayload(_Closed):
    location_id: Id
    lines: _stock_lines(ReceivedLine)  # type: ignore[valid-type]
    reference: Text | None = None
    ext: Ext | None = None


class TransferredPayload(_Closed):
    from_location_id: Id
    to_location_id: Id
    lines: _stock_lines(TransferLine)  # type: ignore[valid-type]
    reference: Text | None = None
    ext: Ext | None = None


class AdjustedPayload(_Closed):
    location_id: Id
    lines: _stock_lines(AdjustLine)  # type: ignore[valid-type]
    reason: Text | None = None
    ext: Ext | None = None


class CountedPayload(_Closed):
    location_id: Id
    lines: _stock_lines(CountLine)  # type: ignore[valid-type]
    ext: Ext | None = None


# ------------------------------------------------------------------------------------ envelopes

class _RegisterEnvelope(_Closed, tag_field="type"):
    event_id: EventId
    store_id: Id
    register_id: Id
    seq: Seq
    occurred_at: datetime
    business_day: date | None = None
    ext: Ext | None = None


class _StockEnvelope(_Closed, tag_field="type"):
    """Stock events come from no register: ``register_id`` is null and there is no ``seq``."""

    event_id: EventId
    store_id: Id
    occurred_at: datetime
    register_id: None = None
    seq: None = None  # absent, or null
    business_day: date | None = None
    ext: Ext | None = None


class SaleCompleted(_RegisterEnvelope, tag="sale.completed", kw_only=True):
    payload: SalePayload


class OrderFulfilled(_RegisterEnvelope, tag="order.fulfilled", kw_only=True):
    payload: OrderPayload


class ReturnCompleted(_RegisterEnvelope, tag="return.completed", kw_only=True):
    payload: ReturnPayload


class ExchangeCompleted(_RegisterEnvelope, tag="exchange.completed", kw_only=True):
    payload: ExchangePayload


class SaleVoided(_RegisterEnvelope, tag="sale.voided", kw_only=True):
    payload: VoidPayload


class RegisterOpened(_RegisterEnvelope, tag="register.opened", kw_only=True):
    payload: OpenedPayload


class CashMoved(_RegisterEnvelope, tag="cash.moved", kw_only=True):
    payload: CashMovedPayload


class RegisterClosed(_RegisterEnvelope, tag="register.closed", kw_only=True):
    payload: ClosedPayload


class StockReceived(_StockEnvelope, tag="stock.received", kw_only=True):
    payload: ReceivedPayload


class StockTransferred(_StockEnvelope, tag="stock.transferred", kw_only=True):
    payload: TransferredPayload


class StockAdjusted(_StockEnvelope, tag="stock.adjusted", kw_only=True):
    payload: AdjustedPayload


class StockCounted(_StockEnvelope, tag="stock.counted", kw_only=True):
    payload: CountedPayload


WireEvent = (SaleCompleted | OrderFulfilled | ReturnCompleted | ExchangeCompleted | SaleVoided
             | RegisterOpened | CashMoved | RegisterClosed | StockReceived | StockTransferred
             | StockAdjusted | StockCounted)

_DECODER = msgspec.json.Decoder(WireEvent)
_EXT_ENCODER = msgspec.json.Encoder()


# ------------------------------------------------------------------------------------ the fast path

# A string can hold a control character only if its JSON text escapes it (JSON forbids them
# raw; msgspec refuses them) or holds DEL raw; it is empty or blank only if the text has a
# quote, nothing but white space, and a quote. So when an event's text has none of these, the
# per-string patterns of ``Text``, ``Name`` and ``Id`` cannot fail, and the event is decoded
# by twins of the structs without them (lengths and every other rule kept): half the cost of a
# decode. Any other text takes the full decoder, whose errors are the ones reported.
_TEXT_PATTERNS = frozenset({_PRINTABLE, _NOT_BLANK})
_BLANK_STRING = re.compile(r'"\s*"')


def _text_patterns_hold(text: str) -> bool:
    """True if no string in the JSON ``text`` can fail ``_PRINTABLE`` or ``_NOT_BLANK``.
    (Substring tests: a regex over the whole text costs several times more.)"""
    if "\\" in text or "\x7f" in text:
        return False
    if text.isascii():  # then the only white space a string can hold raw is the space
        return '""' not in text and '" ' not in text
    return _BLANK_STRING.search(text) is None


def _without_text_patterns(annotation: Any, twins: dict[type, type]) -> Any:
    origin, arguments = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        base, *metas = arguments
        kept = [msgspec.Meta(min_length=m.min_length, max_length=m.max_length)
                if isinstance(m, msgspec.Meta) and m.pattern in _TEXT_PATTERNS else m for m in metas]
        return Annotated[(_without_text_patterns(base, twins), *kept)]
    if origin in (Union, UnionType):
        return Union[tuple(_without_text_patterns(a, twins) for a in arguments)]  # noqa: UP007
    if origin is list:
        return list[_without_text_patterns(arguments[0], twins)]  # type: ignore[misc]
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return _twin(annotation, twins)
    return annotation


def _twin(struct: type[msgspec.Struct], twins: dict[type, type]) -> type:
    """A subclass of ``struct`` (so ``isinstance`` and the mapping treat it as ``struct``) whose
    fields have no per-string patterns."""
    if struct not in twins:
        config = struct.__struct_config__
        fields = [(f.name, _without_text_patterns(f.type, twins),
                   msgspec.field(default=f.default) if f.default_factory is msgspec.NODEFAULT
                   else msgspec.field(default_factory=f.default_factory))
                  if f.required is False else (f.name, _without_text_patterns(f.type, twins))
                  for f in msgspec.structs.fields(struct)]
        twins[struct] = msgspec.defstruct(
            f"{struct.__name__}Fast", fields, bases=(struct,), module=__name__, kw_only=True,
            forbid_unknown_fields=True, tag_field=config.tag_field, tag=config.tag)
    return twins[struct]


_FAST_DECODER = msgspec.json.Decoder(_without_text_patterns(WireEvent, {}))


# ------------------------------------------------------------------------------------ errors


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")
_TAG = re.compile(r"^Invalid value (?P<value>.+)$")


def _known_names() -> list[str]:
    names: set[str] = set()
    for struct in (CardData, TenderData, LineData, ReturnLineData, OriginalData, TotalsData, SalePayload,
                   OrderPayload, ReturnPayload, ExchangePayload, VoidPayload, OpenedPayload, CashMovedPayload,
                   CountedData, ClosedPayload, ReceivedLine, TransferLine, AdjustLine, CountLine,
                   ReceivedPayload, TransferredPayload, AdjustedPayload, CountedPayload, SaleCompleted,
                   StockReceived):
        names.update(struct.__struct_fields__)
    return sorted(names | {"type", "seq"})


_KNOWN_NAMES = _known_names()


def _field(path: str) -> str:
    """msgspec's ``.payload.lines[0].qty`` (after ``$``) as the contract's ``payload.lines[0].qty``."""
    return path[1:] if path.startswith(".") else path


def join_path(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


_join = join_path


def unknown_field(path: str, name: str) -> UnknownField:
    """``name`` at ``path`` is not a field of the contract: the error, with a did-you-mean."""
    close = difflib.get_close_matches(name, [known for known in _KNOWN_NAMES if known != name], n=1, cutoff=0.75)
    hint = f'; did you mean "{close[0]}"?' if close else "; extra data belongs in an `ext` object"
    if name in _KNOWN_NAMES:
        hint = " here (it belongs to other event types or levels)"
    field = join_path(path, name)
    if _LONG_DIGITS.search(field):  # a name made of a long digit run is never echoed
        field = _LONG_DIGITS.sub("…", field)
    return UnknownField(field, f"is not a field of the contract{hint}")


_LONG_DIGITS = re.compile(r"\d{13,}")
_QUOTED_VALUE = re.compile(r"^(Invalid enum value|Invalid value) .*$")


def _invalid(error: msgspec.ValidationError) -> InvalidInput:
    """The contract's field path and a detail that never repeats a value the client sent (a
    value may be a card number in the wrong field: CONTRACT section 8)."""
    found = _describe(error)
    if _LONG_DIGITS.search(found.field):  # a name made of a long digit run is never echoed
        found = type(found)(_LONG_DIGITS.sub("…", found.field), found.detail)
    return found


def _describe(error: msgspec.ValidationError) -> InvalidInput:
    match = _AT.match(str(error))
    assert match is not None
    message, path = match["message"], _field(match["path"] or "")
    if missing := _MISSING.match(message):
        return InvalidInput(_join(path, missing["name"]), "is required")
    if unknown := _UNKNOWN.match(message):
        return unknown_field(path, unknown["name"])
    if path == "type" and _TAG.match(message):
        return InvalidInput("type", "unknown event type; expected one of " + ", ".join(domain.EVENT_TYPES))
    if _QUOTED_VALUE.match(message):
        return InvalidInput(path or "(body)", "is not one of the values the contract allows here")
    if message.endswith("got `null`"):
        return InvalidInput(path or "(body)", "must not be null")
    if message == "Expected `null`, got `str`" and path == "register_id":
        return InvalidInput(path, "must be null for stock events, which no register emits")
    detail = message.replace("Expected", "must be", 1).replace("`", "")
    return InvalidInput(path or "(body)", detail)


# ------------------------------------------------------------------------------------ decoding

def decode_event(raw: bytes | str) -> domain.Event:
    """Decode and validate one event from its JSON text. Raises ``InvalidInput``. Card data is
    not checked here (see ``pan.refuse_card_data``: it must run before, on every input)."""
    try:
        text = raw if isinstance(raw, str) else raw.decode()
    except UnicodeDecodeError:
        text = "\\"  # the full decoder names what is wrong with it
    # On the fast path an error is the one the full decoder would name: no pattern can fail.
    decoder = _FAST_DECODER if _text_patterns_hold(text) else _DECODER
    try:
        wire = decoder.decode(raw)
    except msgspec.ValidationError as error:
        raise _invalid(error) from None
    except msgspec.DecodeError as error:
        raise InvalidInput("(body)", f"not valid JSON: {error}") from None
    return _to_domain(wire)


def convert_event(document: Any) -> domain.Event:
    """As ``decode_event``, from a decoded JSON object."""
    try:
        wire = msgspec.convert(document, WireEvent)
    except msgspec.ValidationError as error:
        raise _invalid(error) from None
    return _to_domain(wire)


def parse_event(document: Any, *, check_card_data: bool = True, json_text: str | None = None,
                raw: bytes | str | None = None) -> domain.Event:
    """Card data first (it must never reach an error message or a store), then the codec.
    ``json_text`` (the same document as JSON) makes the card-data check cheap; ``raw``, the
    JSON the document was decoded from, is decoded again straight into the typed structs,
    which is twice as fast as converting the decoded object."""
    if check_card_data:
        refuse_card_data(document, json_text)
    try:
        return decode_event(raw) if raw is not None else convert_event(document)
    except UnknownField:
        # The pre-check on ``json_text`` trusts the closed schema's key names: a key outside
        # it may name card security data, which answers pan_detected rather than unknown_field.
        if check_card_data and json_text is not None:
            refuse_card_data(document)
        raise


_PATH_STEP = re.compile(r"[^.\[\]]+|\[\d+\]")


def decode_stored_event(body: str) -> domain.Event:
    """A stored event, as posting reads it. Events accepted by an earlier release, when unknown
    fields were ignored rather than refused, may carry fields the codec now refuses: those are
    dropped here (they never meant anything to the books), so that an upgrade posts them as it
    would have. Anything else invalid raises ``InvalidInput``."""
    try:
        return decode_event(body)
    except UnknownField as first:
        document = msgspec.json.decode(body)
        error: UnknownField = first
        for _ in range(1000):
            try:
                _drop(document, error.field)
            except (KeyError, IndexError, ValueError, TypeError):
                raise InvalidInput(error.field, error.detail) from None
            try:
                return convert_event(document)
            except UnknownField as again:
                error = again
        raise error from None


def _drop(document: Any, path: str) -> None:
    steps = _PATH_STEP.findall(path)
    holder = document
    for step in steps[:-1]:
        holder = holder[int(step[1:-1])] if step.startswith("[") else holder[step]
    del holder[steps[-1]]


def event_json_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The JSON Schema of an event and its components, for OpenAPI."""
    (schema,), components = msgspec.json.schema_components([WireEvent], ref_template="#/components/schemas/{name}")
    return schema, components


# ------------------------------------------------------------------------------------ mapping

def _timestamp(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidInput(field, "must be an RFC 3339 time with an offset (Z or +hh:mm)")
    if not 1970 <= value.year <= 9000:  # so that every local date and day cut-off of it exists
        raise InvalidInput(field, "must lie between the years 1970 and 9000")
    return value


def _currency(value: str) -> str:
    if value not in ISO_4217:
        raise InvalidInput("payload.currency", f"must be an ISO 4217 currency code, got {value!r}")
    return value


def _card(card: CardData | None) -> domain.Card | None:
    if card is None:
        return None
    return domain.Card(card.scheme, card.last4, card.auth_code, card.terminal_id, card.first6, card.psp_reference)


def _tenders(tenders: list[TenderData] | list[SignedTenderData]) -> tuple[domain.Tender, ...]:
    return tuple(domain.Tender(t.tender, t.amount, t.tendered, t.change, _card(t.card)) for t in tenders)


def _sale_lines(lines: Sequence[LineData], key: str) -> tuple[domain.SaleLine, ...]:
    seen: set[int] = set()
    result = []
    for index, line in enumerate(lines):
        if line.discount > line.qty * line.unit_price:
            raise InvalidInput(f"payload.{key}[{index}].discount",
                               f"{line.discount} exceeds qty * unit_price ({line.qty * line.unit_price})")
        if line.line_no in seen:
            raise InvalidInput(f"payload.{key}[{index}].line_no", f"duplicate line_no {line.line_no}")
        seen.add(line.line_no)
        result.append(domain.SaleLine(line.line_no, line.sku, line.qty, line.unit_price, line.discount,
                                      line.promo_id, line.tax_code, line.tax))
    return tuple(result)


def _return_lines(lines: list[ReturnLineData], key: str, reason: str | None,
                  disposition: str | None) -> tuple[domain.ReturnLine, ...]:
    result = []
    for index, (line, raw) in enumerate(zip(_sale_lines(lines, key), lines, strict=True)):
        chosen = raw.disposition or disposition
        if chosen is None:
            raise InvalidInput(f"payload.{key}[{index}].disposition",
                               "is required (restock or damaged), on the line or the payload")
        result.append(domain.ReturnLine(line, raw.reason or reason, chosen))
    return tuple(result)


def _original(original: OriginalData | None) -> domain.OriginalRef | None:
    return domain.OriginalRef(original.store_id, original.receipt_no) if original else None


def _totals(totals: TotalsData | None) -> domain.Totals | None:
    return domain.Totals(totals.net, totals.tax, totals.gross) if totals else None


def _sale(payload: SalePayload | OrderPayload, order_id: str | None) -> domain.Sale:
    return domain.Sale(payload.receipt_no, payload.cashier_id, payload.customer_id, _currency(payload.currency),
                       payload.channel or ("online" if order_id else "store"), _sale_lines(payload.lines, "lines"),
                       _tenders(payload.tenders), _totals(payload.totals), order_id)


def _payload(wire: Any) -> domain.Payload:
    p = wire.payload
    if isinstance(wire, SaleCompleted):
        return _sale(p, None)
    if isinstance(wire, OrderFulfilled):
        return _sale(p, p.order_id)
    if isinstance(wire, ReturnCompleted):
        return domain.Return(p.receipt_no, p.cashier_id, p.customer_id, _currency(p.currency),
                             _return_lines(p.lines, "lines", p.reason, p.disposition), _tenders(p.tenders),
                             _original(p.original), p.reason, _totals(p.totals))
    if isinstance(wire, ExchangeCompleted):
        if not p.return_lines and not p.sale_lines:
            raise InvalidInput("payload.return_lines", "an exchange needs return_lines or sale_lines")
        return domain.Exchange(p.receipt_no, p.cashier_id, p.customer_id, _currency(p.currency),
                               _return_lines(p.return_lines, "return_lines", p.reason, p.disposition),
                               _sale_lines(p.sale_lines, "sale_lines"), _tenders(p.tenders), _original(p.original))
    if isinstance(wire, SaleVoided):
        return domain.Void(p.receipt_no, p.reason, p.approved_by)
    if isinstance(wire, RegisterOpened):
        return domain.RegisterOpened(p.session_id, p.cashier_id, p.opening_float)
    if isinstance(wire, CashMoved):
        return domain.CashMoved(p.session_id, p.kind, p.amount, p.reason)
    if isinstance(wire, RegisterClosed):
        return domain.RegisterClosed(p.session_id, p.counted.cash, p.approved_by)
    if isinstance(wire, StockReceived):
        return domain.StockReceived(p.location_id, p.reference,
                                    tuple(domain.StockLine(ln.sku, ln.qty, ln.unit_cost) for ln in p.lines))
    if isinstance(wire, StockTransferred):
        if p.from_location_id == p.to_location_id:
            raise InvalidInput("payload.to_location_id", "must differ from from_location_id")
        return domain.StockTransferred(p.from_location_id, p.to_location_id, p.reference,
                                       tuple(domain.StockTransferLine(ln.sku, ln.qty) for ln in p.lines))
    if isinstance(wire, StockAdjusted):
        for index, line in enumerate(p.lines):
            if line.qty_delta == 0:
                raise InvalidInput(f"payload.lines[{index}].qty_delta", "must be a non-zero integer")
        return domain.StockAdjusted(p.location_id, p.reason,
                                    tuple(domain.StockAdjustLine(ln.sku, ln.qty_delta) for ln in p.lines))
    assert isinstance(wire, StockCounted)
    return domain.StockCounted(p.location_id, tuple(domain.StockCountLine(ln.sku, ln.counted_qty) for ln in p.lines))


def _ext_size(wire: Any) -> int:
    """Bytes of every ``ext`` object in the event (0 when none: the common case costs little)."""
    size = 0
    for holder in (wire, wire.payload):
        if holder.ext is not None:
            size += len(_EXT_ENCODER.encode(holder.ext))
    payload = wire.payload
    for name in ("lines", "tenders", "return_lines", "sale_lines"):
        for item in getattr(payload, name, ()):
            if item.ext is not None:
                size += len(_EXT_ENCODER.encode(item.ext))
    return size


def _to_domain(wire: Any) -> domain.Event:
    occurred_at = _timestamp(wire.occurred_at, "occurred_at")
    if _ext_size(wire) > EXT_MAX_BYTES:
        raise InvalidInput("ext", f"the event's ext objects hold more than {EXT_MAX_BYTES} bytes")
    register_id = getattr(wire, "register_id", None)
    seq = getattr(wire, "seq", None)
    envelope = domain.Envelope(wire.event_id, wire.__struct_config__.tag, wire.store_id, register_id, seq,
                               occurred_at, wire.business_day)
    return domain.Event(envelope, _payload(wire))
