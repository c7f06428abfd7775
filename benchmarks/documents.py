# ruff: noqa: E501  (the inline comparison HTML template keeps its long lines)
"""Documents per second per core: PDF render, e-invoice XML, validation, Factur-X embedding.

    python benchmarks/documents.py [--n 50] [--lines 30] [--distinct] [--alternate] [--engines]
    # --distinct: every iteration a different invoice (see below)
    # --alternate: also ours and the raw limit in turns, CPU time, medians (shared hosts)
    # --engines: pip install -e ".[bench]" (WeasyPrint against Typst)

Single process (= one core). Reports per-stage mean/p95 and invoices/s for the whole pipeline
(render -> xml -> validate -> embed -> read back and compare, as the send handler does),
then the send handler's whole work per format (XRechnung CII/UBL, ZUGFeRD, Peppol), for the
3-line German invoice of the tests and for one with ``--lines`` lines.

Raw limit, measured in the same run on the same inputs: the engines alone, without any of
our code around them (Typst compiling the finished Typst source; lxml checking the XSD and
Saxon running the official rule sets, compiled as the validator compiles them, over the
finished XML). No implementation that renders with Typst and validates with these rule sets
on Saxon can be faster than that; the
difference to the send handler's figure is what our code costs (view model, QR code, XML
building, SVRL reading, embedding). A SHA-256 loop gives the speed of the machine itself,
to compare runs on different hosts.

What the raw limit measures: both sides render the SAME invoice n times, and Typst memoizes
(comemo) everything a compile of unchanged source can reuse, so its compile of the 3-line
invoice costs ~1.5 ms there, against ~6-10 ms for an invoice it has not seen (measured: same
machine, median CPU time 1.8 ms vs 10.1 ms when only the number differs). The send handler
meets a new invoice every time; ``--distinct`` measures that case (every iteration an invoice
with another number, the raw limit over the same distinct sources and XML, prepared before
the clock starts). The default (same invoice) is the stricter test of our overhead and the one
the aim (ratio >= 0.7 at 3 lines) refers to.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support

import pypdf
from invoicing.documents import einvoice as ei
from invoicing.documents.einvoice import validation
from invoicing.documents.pdf import PdfRenderer
from invoicing.documents.pdf.view import build_view
from invoicing.schemas.events import InvoiceState
from jinja2 import Environment, select_autoescape
from lxml import etree  # type: ignore[import-untyped]

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


def variants(state: InvoiceState, n: int, distinct: bool) -> list[InvoiceState]:
    """The states one run goes through: ``state`` n times, or n invoices that differ in
    their number (``--distinct``: nothing Typst compiled before is the same document)."""
    if not distinct:
        return [state] * n
    return [state.model_copy(update={"number": f"{state.number}-{i:04d}"}) for i in range(n)]


def per_format(
    name: str, renderer: PdfRenderer, states: dict[str, InvoiceState], n: int, distinct: bool
) -> dict[str, float]:
    """The send handler's work (render + documents_for_sending) per format: mean seconds."""
    means: dict[str, float] = {}
    print(f"per format, the send handler's work (render + documents_for_sending), {name}:")
    for fmt_name, st in states.items():
        fmt = ei.EInvoiceFormat(fmt_name)
        queue = iter(variants(st, n + 1, distinct))

        def send_work(
            fmt: ei.EInvoiceFormat = fmt, queue: Iterator[InvoiceState] = queue
        ) -> object:
            one = next(queue)
            return ei.documents_for_sending(one, fmt, renderer.render(one))

        send_work()
        samples, _ = timed(send_work, n)
        means[fmt_name] = statistics.fmean(samples)
        print(f"  {describe(fmt_name, samples)}  => {1 / means[fmt_name]:6.1f} invoices/s/core")
    return means


def engine_run(
    renderer: PdfRenderer, fmt: ei.EInvoiceFormat, inputs: Iterator[tuple[bytes, bytes]]
) -> Callable[[], object]:
    """One raw-limit iteration over the next finished (Typst source, XML): Typst compiles the
    source, lxml checks the XSD, Saxon runs the compiled rule sets; nothing of ours."""
    validator = validation.get_validator()
    compiler = renderer._compiler  # the same compiler and fonts as the renderer
    scenario = validation._SCENARIOS[fmt.profile]
    first_source, first_xml = next(inputs)
    schema = validator._schema(validator._xsd_path(scenario.syntax, etree.fromstring(first_xml)))
    layers = [validator._executable(layer) for layer in scenario.layers]
    pending = itertools.chain([(first_source, first_xml)], inputs)

    def engines() -> object:
        source, xml = next(pending)
        compiler.compile(input=source, format="pdf", pdf_standards=["a-3b"], pdf_tags=True)
        schema.validate(etree.fromstring(xml))
        node = validator._processor.parse_xml(xml_text=xml.decode())
        return [exe.transform_to_string(xdm_node=node) for exe in layers]

    return engines


def finished(
    renderer: PdfRenderer, st: InvoiceState, fmt: ei.EInvoiceFormat, n: int, distinct: bool
) -> Iterator[tuple[bytes, bytes]]:
    """The finished inputs of the raw limit, made before the clock starts."""
    return iter(
        [
            (renderer.source(one).encode(), ei.build_einvoice(one, fmt).xml)
            for one in variants(st, n, distinct)
        ]
    )


def engines_alone(
    renderer: PdfRenderer, states: dict[str, InvoiceState], n: int, distinct: bool
) -> dict[str, float]:
    """The raw limit per format: Typst on the finished source, XSD and the compiled rule sets
    on the finished XML; nothing of ours in between. Mean seconds."""
    means: dict[str, float] = {}
    print("raw limit, the engines alone on the same inputs (Typst compile + XSD + Schematron):")
    for fmt_name, st in states.items():
        fmt = ei.EInvoiceFormat(fmt_name)
        engines = engine_run(renderer, fmt, finished(renderer, st, fmt, n + 2, distinct))
        engines()
        samples, _ = timed(engines, n)
        means[fmt_name] = statistics.fmean(samples)
        print(f"  {describe(fmt_name, samples)}  => {1 / means[fmt_name]:6.1f} invoices/s/core")
    return means


def alternating(renderer: PdfRenderer, states: dict[str, InvoiceState], n: int) -> None:
    """``--alternate``: the send handler's work and the raw limit in turns, each iteration
    one of each, timed in CPU time of this process (time.process_time), medians. On a shared
    host other processes' load and its drift hit both sides alike; the wall-clock means above
    can then differ by more than our code costs."""
    print("alternating, CPU time of this process, medians (same invoice each time):")
    for fmt_name, st in states.items():
        fmt = ei.EInvoiceFormat(fmt_name)
        engines = engine_run(renderer, fmt, finished(renderer, st, fmt, n + 2, False))

        def send_work(st: InvoiceState = st, fmt: ei.EInvoiceFormat = fmt) -> object:
            return ei.documents_for_sending(st, fmt, renderer.render(st))

        send_work()
        engines()
        ours, raw = [], []
        for _ in range(n):
            t0 = time.process_time()
            send_work()
            t1 = time.process_time()
            engines()
            raw.append(time.process_time() - t1)
            ours.append(t1 - t0)
        a, b = statistics.median(ours), statistics.median(raw)
        print(
            f"  {fmt_name:<14} ours {a * 1000:6.2f} ms, raw limit {b * 1000:6.2f} ms, "
            f"ratio {b / a:.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--lines", type=int, default=30, help="lines of the larger invoice")
    parser.add_argument(
        "--distinct", action="store_true", help="every iteration another invoice (number)"
    )
    parser.add_argument(
        "--alternate",
        action="store_true",
        help="also: ours and the raw limit in turns, CPU time, medians (for shared hosts)",
    )
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
    fmt = ei.EInvoiceFormat.ZUGFERD
    profile = fmt.profile
    ei.ensure_valid(ei.build_einvoice(state, fmt).xml, profile)  # warm the validator
    xml_s, built = timed(lambda: ei.build_einvoice(state, fmt), args.n)
    stages["xml (CII Factur-X)"] = xml_s
    xml = built.xml  # type: ignore[attr-defined]
    stages["validate (XSD+Schematron)"], _ = timed(lambda: ei.ensure_valid(xml, profile), args.n)
    stages["embed (Factur-X update)"], hybrid = timed(lambda: ei.embed_facturx(pdf, xml), args.n)
    stages["read back + compare"], _ = timed(
        lambda: ei.extract_facturx(hybrid) == xml,  # type: ignore[arg-type]
        args.n,
    )
    print(f"one core, n={args.n}, ZUGFeRD, invoice {state.number} ({len(state.lines)} lines)")
    total = 0.0
    for name, samples in stages.items():
        print(describe(name, samples))
        total += statistics.fmean(samples)
    print(f"{'pipeline total':<28} {total * 1000:8.2f} ms  => {1 / total:6.1f} invoices/s/core")

    be_state: InvoiceState = scenarios.belgian_domestic(core)
    big = scenarios.many_lines(core, args.lines)
    for label, de, be in (
        (f"{len(state.lines)} lines", state, be_state),
        (f"{len(big.lines)} lines", big, be_state),
    ):
        states = {"xrechnung_cii": de, "xrechnung_ubl": de, "zugferd": de, "peppol": be}
        if be is be_state and de is big:
            states.pop("peppol")  # the Belgian case is the same as above
        if args.distinct:
            label += ", a different invoice each time"
        ours = per_format(label, renderer, states, args.n, args.distinct)
        raw = engines_alone(renderer, states, args.n, args.distinct)
        print(
            "  ratio (raw limit time / our time): "
            + ", ".join(f"{k} {raw[k] / ours[k]:.2f}" for k in ours)
        )
        if args.alternate and not args.distinct:
            alternating(renderer, states, args.n)
    machine, _ = timed(lambda: hashlib.sha256(bytes(1 << 20)).digest(), args.n)
    print(describe("machine: sha256 of 1 MiB", machine))
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
