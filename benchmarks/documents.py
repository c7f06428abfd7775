# ruff: noqa: E501  (the inline comparison HTML template keeps its long lines)
"""Documents per second per core: PDF render, e-invoice XML, validation, Factur-X embedding.

    python benchmarks/documents.py [--n 50] [--engines]   # --engines: pip install -e ".[bench]"

Single process (= one core). Reports per-stage mean/p95 and invoices/s for the whole pipeline
(render -> xml -> validate -> embed -> read back and compare, as the send handler does),
then the send handler's whole work per format (XRechnung CII/UBL, ZUGFeRD, Peppol), plus the raw limit of this machine
(a tight SHA-256 loop over the PDF bytes, same run) for scale. ``--engines`` also renders the
same view with WeasyPrint (HTML template with Jinja2 autoescape) to compare with Typst.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support

import pypdf
from invoicing.documents.pdf import PdfRenderer
from invoicing.documents.pdf.view import build_view
from invoicing.schemas.events import InvoiceState
from jinja2 import Environment, select_autoescape

from tests.support import scenarios
from tests.support.scenarios import Core

HTML = """<!DOCTYPE html><html lang="{{ lang }}"><head><meta charset="utf-8"><style>
@page { size: A4; margin: 1.8cm 1.8cm 3.4cm 2.2cm;
  @bottom-right { content: "{{ t.page }} " counter(page) " {{ t.of }} " counter(pages); font-size: 7pt } }
body { font-family: "DejaVu Serif"; font-size: 9.5pt } table { width: 100%; border-collapse: collapse }
td, th { padding: 3pt 4pt; text-align: right } td:nth-child(2), th:nth-child(2) { text-align: left }
</style></head><body>
<h2>{{ seller.name }}</h2><p style="font-size:6.5pt">{{ seller.name }} · {{ seller.address|join(" · ") }}</p>
<p>{{ buyer.name }}<br>{% for l in buyer.address %}{{ l }}<br>{% endfor %}</p>
<p>{{ t.number }}: <b>{{ number }}</b><br>{{ issue_date_label }}: {{ issue_date }}<br>
{{ delivery_label }}: {{ delivery }}<br>{{ due_date_label }}: {{ due_date }}</p>
<h1>{{ title }} {{ number }}</h1>
<table><tr><th>{{ t.pos }}</th><th>{{ t.description }}</th><th>{{ t.quantity }}</th>
<th>{{ t.unit_price_net }}</th><th>{{ t.tax_rate }}</th><th>{{ t.amount_net }}</th></tr>
{% for l in lines %}<tr><td>{{ l.position }}</td><td>{{ l.description }}</td><td>{{ l.quantity }} {{ l.unit }}</td>
<td>{{ l.unit_price }}</td><td>{{ l.tax_rate }}</td><td>{{ l.amount }}</td></tr>{% endfor %}</table>
<table style="width:50%;margin-left:50%"><tr><td>{{ t.net_total }}</td><td>{{ totals.net_total }}</td></tr>
<tr><td>{{ t.tax_total }}</td><td>{{ totals.tax_total }}</td></tr>
<tr><td><b>{{ t.gross_total }}</b></td><td><b>{{ totals.gross_total }}</b></td></tr></table>
<h3>{{ t.tax_breakdown }}</h3><table>{% for g in breakdown %}<tr><td>{{ g.label }}</td><td>{{ g.rate }}</td>
<td>{{ g.taxable_amount }}</td><td>{{ g.tax_amount }}</td></tr>{% endfor %}</table>
{% for n in legal_notes %}<p><b>{{ n }}</b></p>{% endfor %}
<p>{{ payment.terms }}<br>{{ t.iban }}: {{ seller.iban }}<br>{{ t.reference }}: {{ payment.reference }}</p>
{% if payment.qr_svg %}<div style="width:3.2cm">{{ payment.qr_svg|safe }}</div>{% endif %}
</body></html>"""


def timed(fn: Callable[[], object], n: int) -> tuple[list[float], object]:
    samples, result = [], None
    for _ in range(n):
        t0 = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t0)
    return samples, result


def describe(name: str, samples: list[float]) -> str:
    mean = statistics.fmean(samples) * 1000
    p95 = sorted(samples)[int(len(samples) * 0.95) - 1] * 1000
    return f"{name:<28} mean {mean:8.2f} ms   p95 {p95:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--engines", action="store_true")
    args = parser.parse_args()
    core = Core(Path(tempfile.mkdtemp()))
    state: InvoiceState = scenarios.german_domestic(core)
    renderer = PdfRenderer()
    renderer.render(state)  # warm up fonts
    stages: dict[str, list[float]] = {}
    render, pdf = timed(lambda: renderer.render(state), args.n)
    stages["render (Typst, PDF/A-3b)"] = render
    assert isinstance(pdf, bytes)
    try:
        from invoicing.documents import einvoice as ei
    except ImportError:
        ei = None
    if ei is not None:
        fmt = ei.EInvoiceFormat.ZUGFERD
        profile = fmt.profile
        ei.ensure_valid(ei.build_einvoice(state, fmt).xml, profile)  # warm the validator
        xml_s, built = timed(lambda: ei.build_einvoice(state, fmt), args.n)
        stages["xml (CII Factur-X)"] = xml_s
        xml = built.xml  # type: ignore[attr-defined]
        stages["validate (XSD+Schematron)"], _ = timed(
            lambda: ei.ensure_valid(xml, profile), args.n
        )
        stages["embed (Factur-X update)"], hybrid = timed(lambda: ei.embed_facturx(pdf, xml), args.n)
        stages["read back + compare"], _ = timed(
            lambda: ei.extract_facturx(hybrid) == xml,
            args.n,  # type: ignore[arg-type]
        )
    else:
        print("e-invoice builder not present: PDF only")
    print(f"one core, n={args.n}, invoice {state.number} ({len(state.lines)} lines)")
    total = 0.0
    for name, samples in stages.items():
        print(describe(name, samples))
        total += statistics.fmean(samples)
    print(f"{'pipeline total':<28} {total * 1000:8.2f} ms  => {1 / total:6.1f} invoices/s/core")
    if ei is not None:
        # what the send handler does per format: render + documents_for_sending (build,
        # validate with the official rules, embed for ZUGFeRD)
        be_state: InvoiceState = scenarios.belgian_domestic(core)
        print("per format, the send handler's work (render + documents_for_sending):")
        for fmt_name, st in (
            ("xrechnung_cii", state),
            ("xrechnung_ubl", state),
            ("zugferd", state),
            ("peppol", be_state),
        ):
            fmt_ = ei.EInvoiceFormat(fmt_name)

            def send_work(st: InvoiceState = st, fmt_: object = fmt_) -> object:
                return ei.documents_for_sending(st, fmt_, renderer.render(st))  # type: ignore[arg-type]

            send_work()
            samples, _ = timed(send_work, args.n)
            mean = statistics.fmean(samples)
            print(f"  {describe(fmt_name, samples)}  => {1 / mean:6.1f} invoices/s/core")
    raw, _ = timed(lambda: hashlib.sha256(pdf * 20).digest(), args.n)
    print(describe("raw limit: sha256 of 20 PDFs", raw))
    if args.engines:
        import weasyprint

        env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
        template = env.from_string(HTML)
        view = build_view(state)
        fonts = weasyprint.text.fonts.FontConfiguration()

        def weasy() -> bytes:
            html = template.render(view)
            out = weasyprint.HTML(string=html).write_pdf(pdf_variant="pdf/a-3b", font_config=fonts)
            assert isinstance(out, bytes)
            return out

        weasy()
        ws, wpdf = timed(weasy, max(5, args.n // 5))
        print(describe("render (WeasyPrint, PDF/A-3b)", ws))
        for name, blob in (("typst", pdf), ("weasyprint", wpdf)):
            assert isinstance(blob, bytes)
            reader = pypdf.PdfReader(io.BytesIO(blob))
            text = reader.pages[0].extract_text()
            print(
                f"  {name:<11} {len(blob):7d} bytes, {len(reader.pages)} page(s), "
                f"gross total printed: {view['totals']['gross_total'] in text}"
            )


if __name__ == "__main__":
    main()
