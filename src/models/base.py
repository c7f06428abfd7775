"""Declarative base and column types that are exact on every backend."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, MetaData, Numeric, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: PostgreSQL's type OID of NUMERIC (``pg_type``), as psycopg's cursor describes a column
_NUMERIC = 1700


def numeric_text(value: Decimal) -> str:
    """The decimal as PostgreSQL's NUMERIC keeps it: positional notation with the value's
    scale, and no negative zero (``1.5E+1`` -> ``15``, ``1.50E+1`` -> ``15.0``, ``-0.00`` ->
    ``0.00``). SQLite stores this text: a value read back is the same on both backends, and
    the money keys of ``queries.common`` (which read the text's digits) see plain digits."""
    if value.is_zero():
        value = value.copy_abs()
    return format(value, "f")


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC (unconstrained, keeps the scale) on PostgreSQL; text on SQLite.

    SQLite has no decimal type and SQLAlchemy would pass values through float there, so the
    embedded default stores the exact decimal string instead.
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(48))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":  # an int or float given to a Core statement: as text too
            return numeric_text(value if isinstance(value, Decimal) else Decimal(str(value)))
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """None (no call per value) where the driver already returns ``Decimal``: psycopg for
        PostgreSQL's NUMERIC, which every column of this type is there. A list page reads
        about 850 amounts; ``process_result_value`` would return each unchanged."""
        if dialect.name == "postgresql" and dialect.driver == "psycopg" and coltype == _NUMERIC:
            return None
        return super().result_processor(dialect, coltype)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on both backends."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use UTC-aware datetimes")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        """psycopg on PostgreSQL: one plain function per value, which returns a value already in
        ``dt.UTC`` as it is. The service's connections run with ``TimeZone=UTC``
        (``db.make_engine``), for which psycopg hands out ``timestamptz`` values with
        ``dt.UTC`` itself; any other zone is converted as ``process_result_value`` does. A list
        page reads about 400 timestamps, each through the generic processor chain before."""
        if dialect.name == "postgresql" and dialect.driver == "psycopg":
            utc = dt.UTC

            def process(value: dt.datetime | None) -> dt.datetime | None:
                if value is None or value.tzinfo is utc:
                    return value
                return self.process_result_value(value, dialect)

            return process
        return super().result_processor(dialect, coltype)


JSONType = JSON().with_variant(JSONB(), "postgresql")
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {
        Decimal: ExactDecimal(),
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
