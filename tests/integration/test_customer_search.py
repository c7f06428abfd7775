"""full_query's customer match (``customers_matching``) on one search text per customer
(migration 0026_customer_search): it finds exactly the customers the three separate matches
found before (company, person name, email), on SQLite and PostgreSQL, and on PostgreSQL the
trigram index ``ix_customers_search`` serves it (the queries' expression is the index's)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator

import pytest
from invoicing.models import Customer, Organization
from invoicing.queries.common import contains, like_pattern
from invoicing.queries.filters import customer_search_text, customers_matching
from sqlalchemy import ColumnElement, Engine, func, or_, select, text
from sqlalchemy.orm import Session

from tests.support.databases import migrated_engine

pytestmark = pytest.mark.integration

COMPANIES = [
    None,
    "",
    "Nordwind Bau GmbH",
    "Müller & Söhne",
    "ÖKO_Bau",
    "100% Rhein",
    "Back\\slash",
]
GIVEN = [None, "", "Anna", "Jürgen", "O'Brien", "Zoë_"]
FAMILY = [None, "", "Sonnenberg", "Wind", "Q]", "50%"]
EMAILS = ["a@b.example", "kontakt@nordwind.example", "JUERGEN@Sonnen.example", "x_y%z@t.example"]
#: parts of each text, case variants, LIKE wildcards and escapes, and words that would only
#: match across the space joining two texts (they must find nothing through the join)
WORDS = [
    "nordwind", "NORD", "bau", "gmbh", "müller", "söhne", "&", "öko_bau", "_", "%", "100%",
    "back\\slash", "\\", "anna", "jürgen", "o'brien", "zoë_", "sonnenberg", "wind", "q]", "50%",
    "@", "@b.example", "kontakt@", "juergen@sonnen", "x_y%z", "annasonnenberg", "gmbhanna",
    "bergkontakt", "windq]", "example", "a", "zzz", "'",
]  # fmt: skip


def _before_0026(word: str) -> ColumnElement[bool]:
    """The match of the three texts one by one, as the service spelt it before 0026."""
    person = (
        func.coalesce(Customer.data["given_name"].as_string(), "")
        .concat(" ")
        .concat(func.coalesce(Customer.data["family_name"].as_string(), ""))
    )
    return or_(
        contains(func.coalesce(Customer.data["company"].as_string(), ""), word),
        contains(person, word),
        contains(Customer.email, word),
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    with migrated_engine(
        request.param, tmp_path_factory.mktemp("search"), "invoicing_t_cs"
    ) as engine:
        yield engine


def _populate(engine: Engine) -> uuid.UUID:
    org = uuid.uuid4()
    with Session(engine) as s, s.begin():
        s.add(Organization(id=org, name="Suche GmbH", profile={}))
        texts = itertools.product(COMPANIES, GIVEN, FAMILY)
        for i, (company, given, family) in enumerate(texts):
            data = {"company": company, "given_name": given, "family_name": family}
            s.add(
                Customer(
                    organization_id=org,
                    id=uuid.uuid4(),
                    email=EMAILS[i % len(EMAILS)],
                    email_normalized=f"{i}@example",
                    locale="de",
                    # a text left out of the JSON, or stored as null
                    data={k: v for k, v in data.items() if v is not None or i % 2},
                )
            )
    return org


def test_one_search_text_finds_what_the_three_matches_found(engine: Engine) -> None:
    org = _populate(engine)
    dialect = engine.dialect.name
    found_any = 0
    with Session(engine) as s:
        for word in WORDS:
            now = set(s.scalars(customers_matching(word, org, dialect)))
            before = set(
                s.scalars(
                    select(Customer.id).where(Customer.organization_id == org, _before_0026(word))
                )
            )
            assert now == before, word
            found_any += bool(now)
    assert found_any >= len(WORDS) - 8  # the words mostly match something


@pytest.fixture(scope="module")
def pg_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    with migrated_engine(
        "postgresql", tmp_path_factory.mktemp("index"), "invoicing_t_ci"
    ) as engine:
        yield engine


def test_the_trigram_index_serves_the_customer_match(pg_engine: Engine) -> None:
    """With the table read out of the question, the plan reads ``ix_customers_search``: the
    expression of ``customer_search_text`` is the index's, as PostgreSQL sees them."""
    _populate(pg_engine)
    pattern = like_pattern("sonnenberg")
    statement = select(Customer.id).where(
        customer_search_text("postgresql").like(pattern, escape="\\")
    )
    compiled = statement.compile(pg_engine)
    with pg_engine.connect() as conn:
        conn.execute(text("SET enable_seqscan = off"))
        rows = conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params)
        plan = "\n".join(row[0] for row in rows)
    assert "Bitmap Index Scan on ix_customers_search" in plan, plan
