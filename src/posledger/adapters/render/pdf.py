"""A one-page PDF of an issued document: plain PDF 1.4, Courier (so columns line up), no dependency."""

from __future__ import annotations

from typing import Any

from posledger.adapters.render.amounts import decimal_text
from posledger.app.ports import IssuedDocument


def _escape(text: str) -> str:
    safe = text.encode("latin-1", "replace").decode("latin-1")
    return safe.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def document_lines(document: IssuedDocument) -> list[str]:
    draft = document.draft
    body: dict[str, Any] = draft.body
    currency = str(body.get("currency") or "USD")
    title = "CREDIT NOTE" if draft.kind == "credit_note" else "INVOICE"
    lines = [f"{title} {document.number}", f"Store {draft.store_id}   Business day {draft.business_day}",
             f"Receipt {body.get('receipt_no', '')}   Issued {body.get('issued_at', '')}"]
    if draft.original_number:
        lines.append(f"Corrects invoice {draft.original_number}")
    if body.get("customer_id"):
        lines.append(f"Customer {body['customer_id']}")
    lines.append("")
    lines.append(f"{'#':<3} {'SKU':<14} {'Qty':>4} {'Price':>10} {'Disc.':>9} {'Net':>10} {'Tax':>9}")
    for line in body.get("lines") or []:
        lines.append(f"{line['line_no']:<3} {str(line['sku'])[:14]:<14} {line['qty']:>4} "
                     f"{decimal_text(int(line['unit_price']), currency):>10} "
                     f"{decimal_text(int(line['discount']), currency):>9} "
                     f"{decimal_text(int(line['net']), currency):>10} {decimal_text(int(line['tax']), currency):>9}")
    totals = body.get("totals") or {}
    lines.append("")
    lines.append(f"Net   {decimal_text(int(totals.get('net', draft.total - draft.tax)), currency):>12} {currency}")
    lines.append(f"Tax   {decimal_text(int(totals.get('tax', draft.tax)), currency):>12} {currency}")
    lines.append(f"Total {decimal_text(draft.total, currency):>12} {currency}")
    for tender in body.get("tenders") or []:
        lines.append(f"Paid by {tender['tender']}: {decimal_text(int(tender['amount']), currency)}")
    return lines


def render_pdf(document: IssuedDocument) -> bytes:
    text_ops = ["BT", "/F1 10 Tf", "12 TL", "50 800 Td"]
    for line in document_lines(document):
        text_ops.append(f"({_escape(line)}) Tj T*")
    text_ops.append("ET")
    stream = "\n".join(text_ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Courier >>",
    ]
    output = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(output)
    output += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        output += f"{offset:010d} 00000 n \n".encode()
    output += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(output)
