"""One database transaction per command."""

from __future__ import annotations

from types import TracebackType

from invoicing.handlers.core_writes import write_invoices
from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session, sessionmaker


class UnitOfWork:
    """``with UnitOfWork(factory) as uow: ...; uow.commit()`` — rolls back unless committed."""

    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    @classmethod
    def for_engine(cls, engine: Engine) -> UnitOfWork:
        return cls(sessionmaker(bind=engine, expire_on_commit=False, autoflush=True))

    def __enter__(self) -> UnitOfWork:
        self.session = self._factory()
        self.session.begin()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.session.in_transaction():
                self.session.rollback()
        finally:
            self.session.close()

    def flush(self) -> None:
        """Write what the command changed: invoices through Core where that is safe
        (``core_writes``), everything else through the ORM's flush."""
        write_invoices(self.session)
        self.session.flush()

    def commit(self) -> None:
        write_invoices(self.session)
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def connection(self) -> Connection:
        """The transaction's connection, for SQLAlchemy Core statements (no ORM overhead).
        Asked of the session every time: a savepoint begun on the session is emitted only
        when its connection is asked for next (tests/integration/test_group_commit.py)."""
        return self.session.connection()

    @property
    def dialect(self) -> str:
        bind = self.session.get_bind()
        return bind.dialect.name
