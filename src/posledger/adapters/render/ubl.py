"""UBL 2.1 Invoice and CreditNote XML for an issued document."""

from __future__ import annotations

import re
from typing import Any
from xml.etree import ElementTree as ET

from posledger.adapters.render.amounts import decimal_text
from posledger.app.ports import IssuedDocument

_NS = {
    "invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "credit_note": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
ET.register_namespace("cac", _NS["cac"])
ET.register_namespace("cbc", _NS["cbc"])


# What XML 1.0 may not hold (U+FFFE, U+FFFF, C0 controls but tab and newlines, lone
# surrogates): written as U+FFFD, so that a stored name can never break the document.
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _cbc(parent: ET.Element, name: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{_NS['cbc']}}}{name}", attributes)
    element.text = _NOT_XML.sub("\ufffd", text)
    return element


def _cac(parent: ET.Element, name: str) -> ET.Element:
    return ET.SubElement(parent, f"{{{_NS['cac']}}}{name}")


def render_ubl(document: IssuedDocument) -> bytes:
    draft = document.draft
    body: dict[str, Any] = draft.body
    currency = str(body.get("currency") or "USD")
    credit = draft.kind == "credit_note"
    root_name = "CreditNote" if credit else "Invoice"
    root = ET.Element(f"{{{_NS[draft.kind]}}}{root_name}")
    _cbc(root, "UBLVersionID", "2.1")
    _cbc(root, "ID", document.number)
    _cbc(root, "IssueDate", draft.business_day.isoformat())
    if not credit:
        _cbc(root, "InvoiceTypeCode", "380")
    else:
        _cbc(root, "CreditNoteTypeCode", "381")
    _cbc(root, "DocumentCurrencyCode", currency)
    if draft.original_number:
        billing = _cac(root, "BillingReference")
        _cbc(_cac(billing, "InvoiceDocumentReference"), "ID", draft.original_number)
    supplier = _cac(_cac(root, "AccountingSupplierParty"), "Party")
    _cbc(_cac(supplier, "PartyIdentification"), "ID", draft.store_id)
    if body.get("customer_id"):
        customer = _cac(_cac(root, "AccountingCustomerParty"), "Party")
        _cbc(_cac(customer, "PartyIdentification"), "ID", str(body["customer_id"]))
    totals = body.get("totals") or {}
    tax_total = _cac(root, "TaxTotal")
    _cbc(tax_total, "TaxAmount", decimal_text(int(totals.get("tax", draft.tax)), currency), currencyID=currency)
    monetary = _cac(root, "LegalMonetaryTotal")
    net = int(totals.get("net", draft.total - draft.tax))
    _cbc(monetary, "LineExtensionAmount", decimal_text(net, currency), currencyID=currency)
    _cbc(monetary, "TaxExclusiveAmount", decimal_text(net, currency), currencyID=currency)
    _cbc(monetary, "TaxInclusiveAmount", decimal_text(draft.total, currency), currencyID=currency)
    _cbc(monetary, "PayableAmount", decimal_text(draft.total, currency), currencyID=currency)
    for line in body.get("lines") or []:
        element = _cac(root, "CreditNoteLine" if credit else "InvoiceLine")
        _cbc(element, "ID", str(line["line_no"]))
        _cbc(element, "CreditedQuantity" if credit else "InvoicedQuantity", str(line["qty"]), unitCode="C62")
        _cbc(element, "LineExtensionAmount", decimal_text(int(line["net"]), currency), currencyID=currency)
        line_tax = _cac(element, "TaxTotal")
        _cbc(line_tax, "TaxAmount", decimal_text(int(line["tax"]), currency), currencyID=currency)
        item = _cac(element, "Item")
        _cbc(_cac(item, "SellersItemIdentification"), "ID", str(line["sku"]))
        category = _cac(item, "ClassifiedTaxCategory")
        _cbc(category, "ID", str(line["tax_code"]))
        _cbc(category, "Percent", f"{float(line['rate']) * 100:g}")
        _cbc(_cac(element, "Price"), "PriceAmount", decimal_text(int(line["unit_price"]), currency),
             currencyID=currency)
    xml: bytes = ET.tostring(root, encoding="utf-8")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + xml
