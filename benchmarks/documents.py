# ruff: noqa: E501  (the inline comparison HTML template keeps its long lines)
"""Documents per second per core: PDF render, e-invoice XML, validation, Factur-X embedding.

    python benchmarks/documents.py [--n 50] [--lines 30] [--distinct] [--engines]
    # --lines 0: the 3-line invoice only
    # --distinct: every iteration a different invoice (see below)
    # --engines: pip install -e ".[bench]" (WeasyPrint against Typst)

Single process (= one core). Reports per-stage mean/p95 and invoices/s for the whole pipeline
(render -> xml -> validate -> embed -> read back and compare, as the send handler does),
then the send handler's whole work per format (XRechnung CII/UBL, ZUGFeRD, Peppol) against
the raw limit, for the 3-line German invoice of the tests and for one with ``--lines`` lines.

Raw limit: the engines alone on the same inputs, without any of our code around them (Typst
compiling the finished Typst source with the renderer's arguments; lxml checking the XSD and
Saxon running the official rule sets, compiled as the validator compiles them, over the
finished XML). No implementation that renders with Typst and validates with these rule sets
on Saxon can be faster than that; the difference to the send handler's figure is what our code
costs (view model, QR code, XML building, SVRL reading, embedding). A SHA-256 loop gives the
speed of the machine itself, to compare runs on different hosts.

Same process state on both sides. Every rule set is compiled before anything is timed (as in
a worker that has served every format), and ours and the raw limit run in turns, the order
swapped every iteration. Saxon (a GraalVM native image) collects its own heap inside the
calls: now and then one transformation or parse takes 20-300 ms of CPU instead of 2-15 ms,
on whichever side happens to run when the heap is full, ours or the raw limit alike (docs/pdf.md,
session 5: per-stage timings of both sides; Python's collector did not run at all). A
wall-clock mean of 50-80 iterations can move by several milliseconds with one such pause, so
each side's pauses (iterations over 3x its median CPU time) are counted, and the CPU-time
medians are given beside the means. The aim: raw limit / ours >= 0.7 at 3 lines; the benchmark
says by which measure it is met.

What the raw limit measures: both sides render the SAME invoice n times, and Typst memoizes
(comemo) everything a compile of unchanged source can reuse, so its compile of the 3-line
invoice costs ~1.5 ms there, against ~6-10 ms for an invoice it has not seen (measured: same
machine, median CPU time 1.8 ms vs 10.1 ms when only the number differs). The send handler
meets a new invoice every time; ``--distinct`` measures that case (every iteration an invoice
with another number, ours and the raw limit each with their own numbers, so that neither
compiles what the other just compiled; the raw limit's sources and XML are prepared before
the clock starts). The default (same invoice) is the stricter test of our overhead and the one
the aim refers to.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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


def variants(state: InvoiceState, n: int, distinct: bool, tag: str = "") -> list[InvoiceState]:
    """The states one run goes through: ``state`` n times, or n invoices that differ in
    their number (``--distinct``: nothing Typst compiled before is the same document; ``tag``
    keeps the two sides' invoices apart, so neither compiles what the other just compiled)."""
    if not distinct:
        return [state] * n
    return [state.model_copy(update={"number": f"{state.number}-{tag}{i:04d}"}) for i in range(n)]


def engine_run(
    renderer: PdfRenderer,
    fmt: ei.EInvoiceFormat,
    inputs: Iterator[tuple[bytes, bytes]],
    stamp: dt.datetime,
) -> Callable[[], object]:
    """One raw-limit iteration over the next finished (Typst source, XML): Typst compiles the
    source with the renderer's arguments (PDF/A-3b, tagged, the invoice's timestamp), lxml
    checks the XSD, Saxon runs the compiled rule sets; nothing of ours."""
    validator = validation.get_validator()
    compiler = renderer._compiler  # the same compiler and fonts as the renderer
    scenario = validation._SCENARIOS[fmt.profile]
    first_source, first_xml = next(inputs)
    schema = validator._schema(validator._xsd_path(scenario.syntax, etree.fromstring(first_xml)))
    layers = [validator._executable(layer) for layer in scenario.layers]
    pending = itertools.chain([(first_source, first_xml)], inputs)

    def engines() -> object:
        source, xml = next(pending)
        compiler.compile(
            input=source, format="pdf", pdf_standards=["a-3b"], timestamp=stamp, pdf_tags=True
        )
        schema.validate(etree.fromstring(xml))
        node = validator._processor.parse_xml(xml_text=xml.decode())
        return [exe.transform_to_string(xdm_node=node) for exe in layers]

    return engines


def finished(
    renderer: PdfRenderer, states: list[InvoiceState], fmt: ei.EInvoiceFormat
) -> Iterator[tuple[bytes, bytes]]:
    """The finished inputs of the raw limit, made before the clock starts."""
    return iter(
        [(renderer.source(one).encode(), ei.build_einvoice(one, fmt).xml) for one in states]
    )


def timestamp(state: InvoiceState) -> dt.datetime:
    """The PDF's timestamp as the renderer passes it to Typst (``PdfRenderer._compile``)."""
    stamp = state.finalized_at or state.created_at
    stamp = stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)
    return stamp.replace(microsecond=0)


AIM = 0.7  # the raw limit's time / ours, at 3 lines


@dataclass
class Side:
    """One side's samples: wall-clock and CPU time of this process per iteration."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def pauses(self) -> int:
        """Iterations that took over 3x the median CPU time (engine pauses, see below)."""
        median = statistics.median(self.cpu)
        return sum(1 for c in self.cpu if c > 3 * median)


def compare(
    label: str,
    renderer: PdfRenderer,
    states: dict[str, InvoiceState],
    n: int,
    distinct: bool,
    aim: bool,
) -> None:
    """The send handler's work (render + documents_for_sending) against the raw limit, per
    format, in turns: every iteration one of each, the order swapped every iteration (so
    neither side always runs on caches the other warmed), with the same rule sets compiled
    and the same memory, so that whatever the process state costs (Saxon's collector pauses
    above all, see the docstring) can fall on either side. Wall-clock means (what the aim is
    stated in) and the CPU-time medians of this process (robust on a shared host)."""
    print(f"{label}: the send handler's work (ours) against the raw limit, in turns, n={n}")
    for fmt_name, st in states.items():
        fmt = ei.EInvoiceFormat(fmt_name)
        ours_queue = iter(variants(st, n + 1, distinct, "a"))
        engines = engine_run(
            renderer,
            fmt,
            finished(renderer, variants(st, n + 1, distinct, "b"), fmt),
            timestamp(st),
        )

        def send_work(
            fmt: ei.EInvoiceFormat = fmt, queue: Iterator[InvoiceState] = ours_queue
        ) -> object:
            one = next(queue)
            return ei.documents_for_sending(one, fmt, renderer.render(one))

        send_work()
        engines()
        ours, raw = Side(), Side()
        for i in range(n):
            turns = ((send_work, ours), (engines, raw))
            for work, side in turns if i % 2 == 0 else reversed(turns):
                w0, c0 = time.perf_counter(), time.process_time()
                work()
                side.cpu.append(time.process_time() - c0)
                side.wall.append(time.perf_counter() - w0)
        mean_ratio = statistics.fmean(raw.wall) / statistics.fmean(ours.wall)
        median_ratio = statistics.median(raw.cpu) / statistics.median(ours.cpu)
        print(f"  {fmt_name}:")
        for name, side in (("ours", ours), ("raw limit", raw)):
            mean = statistics.fmean(side.wall)
            print(
                f"    {describe(name, side.wall)}  => {1 / mean:6.1f} invoices/s/core;"
                f"  CPU median {statistics.median(side.cpu) * 1000:7.2f} ms,"
                f" {side.pauses()} pause(s)"
            )
        verdict = ""
        if aim:
            met = [m for m, r in (("means", mean_ratio), ("CPU medians", median_ratio)) if r >= AIM]
            verdict = f"  aim >= {AIM}: " + ("met by " + " and ".join(met) if met else "NOT met")
        print(
            f"    ratio (raw limit / ours): means {mean_ratio:.2f}, CPU medians "
            f"{median_ratio:.2f}{verdict}"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument(
        "--lines", type=int, default=30, help="lines of the larger invoice (0: none)"
    )
    parser.add_argument(
        "--distinct", action="store_true", help="every iteration another invoice (number)"
    )
    parser.add_argument(
        "--alternate",
        action="store_true",
        help="accepted for older command lines: the comparison always runs in turns now",
    )
    parser.add_argument("--engines", action="store_true")
    args = parser.parse_args()
    core = Core(Path(tempfile.mkdtemp()))
    state: InvoiceState = scenarios.german_domestic(core)
    renderer = PdfRenderer()
    renderer.render(state)  # warm up fonts
    # every rule set compiled before anything is timed, as in a worker that has served every
    # format: both sides then run with the same Saxon heap (see the docstring)
    validation.get_validator().warm_up()
    stages: dict[str, list[float]] = {}
    render, pdf = timed(lambda: renderer.render(state), args.n)
    stages["render (Typst, PDF/A-3b)"] = render
    assert isinstance(pdf, bytes)
    fmt = ei.EInvoiceFormat.ZUGFERD
    profile = fmt.profile
    ei.ensure_valid(ei.build_einvoice(state, fmt).xml, profile)  # the first run
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
    cases = [(f"{len(state.lines)} lines", state, be_state)]
    if args.lines > 0:
        big = scenarios.many_lines(core, args.lines)
        cases.append((f"{len(big.lines)} lines", big, be_state))
    for label, de, be in cases:
        states = {"xrechnung_cii": de, "xrechnung_ubl": de, "zugferd": de, "peppol": be}
        if de is not state:
            states.pop("peppol")  # the Belgian case is the same as above
        if args.distinct:
            label += ", a different invoice each time"
        compare(
            label, renderer, states, args.n, args.distinct, aim=de is state and not args.distinct
        )
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
