"""Pure parts of the hosted page and the metrics: rate limit, language choice, reason labels."""

from __future__ import annotations

from invoicing.observability.metrics import dead_letter_reason
from invoicing.web.i18n import WORDS, negotiate
from invoicing.web.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_per_client() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.allow("a")[0] for _ in range(4)] == [True, True, True, False]
    allowed, wait = limiter.allow("a")
    assert not allowed and 0.9 < wait <= 1.0  # one token per second
    assert limiter.allow("b")[0]  # another client has its own bucket
    clock.now = 1.0
    assert limiter.allow("a")[0] and not limiter.allow("a")[0]
    clock.now = 100.0
    assert [limiter.allow("a")[0] for _ in range(4)] == [True, True, True, False]  # capped at 3


def test_the_table_of_clients_is_bounded() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, max_clients=100, clock=Clock())
    for i in range(1000):
        limiter.allow(f"10.0.{i // 256}.{i % 256}")
    assert len(limiter._buckets) == 100


def test_language_negotiation() -> None:
    assert negotiate(None) == "en"
    assert negotiate("de-DE,de;q=0.9,en;q=0.8") == "de"
    assert negotiate("fr-BE, nl-BE;q=0.9") == "fr"
    assert negotiate("ja, nl;q=0.5, de;q=0.7") == "de"
    assert negotiate("es, it") == "en"
    assert negotiate("de;q=0, nl;q=bogus, fr;q=0.1") == "fr"
    assert negotiate("," * 10_000) == "en"


def test_language_negotiation_reads_hostile_headers_by_the_rfc() -> None:
    """The q parameter's name is case-insensitive (``DE;Q=0`` refuses German); a q-value that
    is not 0..1 with three decimals counts as refused, not as infinitely preferred; the primary
    subtag names the language, not the first two letters of another."""
    assert negotiate("DE;Q=0, fr;q=0.5") == "fr"
    assert negotiate("de; Q = 0, nl") == "nl"
    assert negotiate("fr;level=1;q=0, de;q=0.2") == "de"
    assert negotiate("de;q=inf, fr;q=0.5") == "fr"
    assert negotiate("de;q=1e400, nl;q=0.1") == "nl"
    assert negotiate("de;q=nan, fr;q=0.001") == "fr"
    assert negotiate("de;q=1.5, fr;q=0.9") == "fr"
    assert negotiate("frr, de;q=0.5") == "de"  # North Frisian is not French
    assert negotiate("deu, english, nl;q=0.1") == "nl"
    assert negotiate("de-AT;q=0.8, fr-CH;q=0.9") == "fr"
    assert negotiate("es_ES, de_AT;q=0.5") == "de"  # underscores, as some clients send them
    assert negotiate("de;q=1.000, fr;q=0.999") == "de"


def test_every_language_has_every_word() -> None:
    keys = set(WORDS["en"])
    for lang, words in WORDS.items():
        assert set(words) == keys, lang


def test_dead_letter_reasons_are_a_bounded_set() -> None:
    assert dead_letter_reason("undecodable: not JSON at /") == "undecodable"
    assert dead_letter_reason("handler failed 5 times: KeyError") == "handler_failed"
    assert dead_letter_reason("redelivered and restarted 3 times, ...") == "poison"
    assert (
        dead_letter_reason("an outside service stayed unavailable for 86400 s: smtp")
        == "service_unavailable"
    )
    assert (
        dead_letter_reason("broker dead-lettered it from q: delivery_limit (count 20)")
        == "broker_delivery_limit"
    )
    assert dead_letter_reason("anything else, with an id 123") == "other"
