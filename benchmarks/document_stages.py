"""Where the send handler's time goes, iteration by iteration, and where the long ones come from.

    python benchmarks/document_stages.py [--n 150] [--formats zugferd,xrechnung_ubl] [--wall]

For each format, in one process with every rule set compiled (as benchmarks/documents.py runs):
``ours`` (the send handler's work split into its stages: view model, Jinja template, Typst,
XML build, XSD, Saxon's parse, each Schematron layer and the reading of its report, and for
ZUGFeRD embedding and read-back), the ``raw`` limit split the same way (Typst, XSD, parse,
layers) and ``whole`` (render + documents_for_sending as the send handler calls it), one
iteration of each in turn. Times are CPU time of the process (``--wall``: wall clock). Python's
collector is watched through ``gc.callbacks``: every collection during an iteration is listed
with its generation and pause.

Prints per stage median, mean, p95 and max, and for every iteration that took over 1.5x the
median: the two stages with the largest excess and the collections that ran. docs/pdf.md
(session 5) has the findings: the long iterations are single Saxon calls, on both sides, with no
Python collection at all.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support

from invoicing.documents import einvoice as ei
from invoicing.documents.einvoice import facturx, validation
from invoicing.documents.pdf import PdfRenderer
from invoicing.documents.pdf.view import build_view
from lxml import etree  # type: ignore[import-untyped]

from tests.support import scenarios
from tests.support.scenarios import Core

Stages = dict[str, float]
Collection = tuple[int, float]  # generation, pause in seconds


def summary(name: str, values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    return (
        f"    {name:<10} median {statistics.median(ms):7.2f}  mean {statistics.fmean(ms):7.2f}"
        f"  p95 {ms[int(len(ms) * 0.95) - 1]:7.2f}  max {ms[-1]:7.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--formats", default="xrechnung_cii,xrechnung_ubl,zugferd,peppol")
    parser.add_argument("--wall", action="store_true", help="wall clock instead of CPU time")
    args = parser.parse_args()
    clock = time.perf_counter if args.wall else time.process_time
    core = Core(Path(tempfile.mkdtemp()))
    german, belgian = scenarios.german_domestic(core), scenarios.belgian_domestic(core)
    renderer = PdfRenderer()
    renderer.render(german)
    validator = validation.get_validator()
    validator.warm_up()

    collections: list[Collection] = []
    started: list[float] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            collections.append((int(info["generation"]), time.perf_counter() - started.pop()))

    gc.callbacks.append(watch)
    for name in args.formats.split(","):
        state = belgian if name == "peppol" else german
        fmt = ei.EInvoiceFormat(name)
        scenario = validation._SCENARIOS[fmt.profile]
        layers = [validator._executable(layer) for layer in scenario.layers]
        source = renderer.source(state).encode()
        xml = ei.build_einvoice(state, fmt).xml
        schema = validator._schema(validator._xsd_path(scenario.syntax, etree.fromstring(xml)))

        def ours(
            state: Any = state,
            fmt: ei.EInvoiceFormat = fmt,
            layers: Any = layers,
            schema: Any = schema,
        ) -> Stages:
            scenario = validation._SCENARIOS[fmt.profile]
            t: Stages = {}
            mark = clock()

            def lap(label: str) -> None:
                nonlocal mark
                now = clock()
                t[label] = now - mark
                mark = now

            view = build_view(state)
            lap("view")
            text = renderer.source(state, view=view)
            lap("jinja")
            pdf = renderer._compile(text, state)
            lap("typst")
            einvoice = ei.build_einvoice(state, fmt)
            lap("xml")
            schema.validate(etree.fromstring(einvoice.xml))
            lap("xsd")
            node = validator._processor.parse_xml(xml_text=einvoice.xml.decode())
            lap("parse")
            for i, exe in enumerate(layers):
                report = exe.transform_to_string(xdm_node=node)
                lap(f"layer{i}")
                list(validation._svrl_findings(report, scenario.layers[i], scenario.overrides))
                lap(f"report{i}")
            if fmt is ei.EInvoiceFormat.ZUGFERD:
                hybrid = facturx.embed_facturx(pdf, einvoice.xml, lang=state.locale)
                lap("embed")
                facturx.extract_facturx(hybrid)
                lap("read back")
            return t

        def raw(
            source: bytes = source, xml: bytes = xml, schema: Any = schema, layers: Any = layers
        ) -> Stages:
            t: Stages = {}
            mark = clock()

            def lap(label: str) -> None:
                nonlocal mark
                now = clock()
                t[label] = now - mark
                mark = now

            compiler = renderer._compiler
            compiler.compile(input=source, format="pdf", pdf_standards=["a-3b"], pdf_tags=True)
            lap("typst")
            schema.validate(etree.fromstring(xml))
            lap("xsd")
            node = validator._processor.parse_xml(xml_text=xml.decode())
            lap("parse")
            for i, exe in enumerate(layers):
                exe.transform_to_string(xdm_node=node)
                lap(f"layer{i}")
            return t

        def whole(state: Any = state, fmt: ei.EInvoiceFormat = fmt) -> Stages:
            ei.documents_for_sending(state, fmt, renderer.render(state))
            return {}

        sides: dict[str, Callable[[], Stages]] = {"ours": ours, "raw": raw, "whole": whole}
        rows: dict[str, list[Stages]] = {side: [] for side in sides}
        seen: dict[str, list[list[Collection]]] = {side: [] for side in sides}
        for work in sides.values():
            work()
        for _ in range(args.n):
            for side, work in sides.items():
                collections.clear()
                start = clock()
                stages = work()
                stages["TOTAL"] = clock() - start
                rows[side].append(stages)
                seen[side].append(list(collections))
        print(f"== {name}, n={args.n}, {'wall clock' if args.wall else 'CPU time'}")
        for side, samples in rows.items():
            print(f"  {side}:")
            medians = {k: statistics.median(s[k] for s in samples) for k in samples[0]}
            for stage in samples[0]:
                print(summary(stage, [s[stage] for s in samples]))
            every = [c for run in seen[side] for c in run]
            print(
                f"    Python gc: {len(every)} collections, {sum(g == 2 for g, _ in every)} of "
                f"generation 2, longest {max((p for _, p in every), default=0) * 1000:.2f} ms"
            )
            for i, stages in enumerate(samples):
                if stages["TOTAL"] <= 1.5 * medians["TOTAL"]:
                    continue
                excess = sorted(
                    ((v - medians[k], k) for k, v in stages.items() if k != "TOTAL"),
                    reverse=True,
                )[:2]
                print(
                    f"    long #{i}: {stages['TOTAL'] * 1000:.1f} ms; "
                    + ", ".join(f"{k} +{x * 1000:.1f} ms" for x, k in excess)
                    + f"; gc {[(g, round(p * 1000, 2)) for g, p in seen[side][i]]}"
                )


if __name__ == "__main__":
    main()
