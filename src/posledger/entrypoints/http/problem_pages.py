"""``/problems/{code}``: what each problem code means and how to fix it (CONTRACT section 7).

A problem's ``type`` is this URL, so an integrator who meets a code can open it. The pages are
plain HTML, served from here (no template engine, nothing fetched), each one short.
"""

from __future__ import annotations

from html import escape

__all__ = ["PROBLEM_PAGES", "problem_page", "problem_index"]

# code: (status, title, what it means, how to fix it)
PROBLEM_PAGES: dict[str, tuple[int, str, str, str]] = {
    "invalid_event": (422, "Invalid event",
                      "An event breaks the contract: a field has the wrong type, is out of bounds, or is missing. "
                      "`errors` lists every field at fault, with a path such as payload.lines[0].qty.",
                      "Fix each field named in `errors` and send the event again with the same event_id: "
                      "nothing of a refused event was stored."),
    "unknown_field": (422, "Unknown field",
                      "A field the contract does not define. Fields are closed so that a typo (discout, "
                      "prices_incl_tax) is never silently ignored; the detail names the field it resembles.",
                      "Rename the field, or move data the contract has no field for into an `ext` object."),
    "invalid_request": (422, "Invalid request",
                        "A body or a query parameter that is not an event is invalid: a bad date in ?from=, a "
                        "filter value that is not one of those allowed, a missing reason.",
                        "Fix the parameter or field the problem names."),
    "invalid_json": (400, "Malformed JSON", "The body is not JSON.", "Send a JSON object or array."),
    "pan_detected": (422, "Card data is not accepted",
                     "A full card number, or card security data (CVV, PIN, track data, expiry), was found in the "
                     "named field. It was neither stored, nor logged, nor echoed.",
                     "Send only scheme, first6, last4, auth_code, terminal_id and psp_reference of a card; a "
                     "barcode (GTIN) belongs in sku or gtin."),
    "conflict": (409, "Conflict",
                 "An event with this store and event_id was accepted before with a different body. The stored "
                 "event is unchanged.",
                 "Resend the original body (it answers duplicate), or give the new event a new event_id."),
    "ambiguous_event_id": (409, "Event id used by more than one store",
                           "An event_id is unique within its store only; more than one store has this one "
                           "(`stores` lists them).",
                           "Add ?store_id= to name the store."),
    "immutable_field": (409, "Field cannot change",
                        "A store's currency, prices_include_tax, timezone and day_cutoff label its history; once "
                        "it has postings they cannot change.",
                        "Open a new store for the new settings."),
    "not_available": (409, "Not enough stock available to promise",
                      "The reservation asks for more than on hand minus active reservations (`atp`).",
                      "Reserve at most `atp`, or at another location."),
    "not_found": (404, "Not found",
                  "The store, register, location, SKU, invoice, event, token or exception named in the path or a "
                  "filter does not exist (a token of another store sees its own store only).",
                  "Check the name; create the master data first."),
    "not_acceptable": (406, "Not acceptable",
                       "The Accept header names no type this resource is served as (an invoice is JSON, PDF or "
                       "UBL XML).",
                       "Send Accept: application/json, application/pdf or application/xml (or none)."),
    "method_not_allowed": (405, "Method not allowed", "The path does not take this method.",
                           "Use one of the methods the Allow header lists."),
    "unauthorized": (401, "Authentication required",
                     "No bearer token, or one that is unknown, revoked or expired.",
                     "Send Authorization: Bearer <token>; ask an admin for a new token if it expired."),
    "forbidden": (403, "Not allowed",
                  "The token's role may not do this, or the request names another store's data (a register, a "
                  "location, an order): a device or manager token acts inside its store only.",
                  "Use a token of the right role and store."),
    "rate_limited": (429, "Too many requests",
                     "The token is over its rate, or the address made 20 failed authentications in a minute.",
                     "Wait the Retry-After seconds, then retry; send events in batches of up to 1,000."),
    "batch_too_large": (413, "Too many events", "More than 1,000 events in one request.",
                        "Split the batch."),
    "payload_too_large": (413, "Body too large", "The body is over the server's limit (8 MiB by default).",
                          "Send smaller batches."),
    "storage_unavailable": (503, "Storage unavailable",
                            "The database did not answer in time; nothing of the request was stored.",
                            "Retry after Retry-After seconds; the same events answer accepted or duplicate."),
    "internal_error": (500, "Internal error", "The request failed inside the server; nothing was half-written.",
                       "Retry; if it persists, report it with the X-Request-Id."),
    "http_error": (400, "HTTP error", "The request could not be served as sent.", "Check the method and path."),
}


def _page(title: str, body: str) -> str:
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)} - posledger"
            f"</title></head><body>{body}</body></html>")


def problem_page(code: str) -> str | None:
    found = PROBLEM_PAGES.get(code)
    if found is None:
        return None
    status, title, meaning, fix = found
    return _page(title, f"<h1>{escape(title)}</h1><p>code <code>{escape(code)}</code>, HTTP {status}</p>"
                        f"<h2>What it means</h2><p>{escape(meaning)}</p><h2>How to fix it</h2><p>{escape(fix)}</p>"
                        "<p><a href=/problems/>Every problem code</a></p>")


def problem_index() -> str:
    rows = "".join(f"<li><a href=/problems/{code}>{escape(code)}</a>: {escape(title)} ({status})</li>"
                   for code, (status, title, _, _) in PROBLEM_PAGES.items())
    return _page("Problem codes", f"<h1>Problem codes</h1><ul>{rows}</ul>")
