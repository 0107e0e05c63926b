"""Lazily opened databases: HQ, and an LRU-bounded set of site databases."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, cast

from sqlalchemy import Engine, Executable
from sqlalchemy.orm import Session

from vintry.db.engines import (
    READ_ONLY_OPTION,
    SINGLE_STATEMENT_OPTION,
    DatabaseTarget,
    build_engine,
    parse_target,
)


class Database:
    """One database: its URL, an engine opened on first use, and sessions on it."""

    def __init__(self, url: str, *, pool_size: int = 2, max_overflow: int = 4) -> None:
        self.url = url
        self.target: DatabaseTarget = parse_target(url)
        self._pool_size = pool_size
        self._max_overflow = max_overflow
        self._engine: Engine | None = None
        self._reader: tuple[Engine, Engine] | None = None
        self._single: tuple[Engine, Engine] | None = None
        self._lock = threading.Lock()

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.target.backend

    @property
    def engine(self) -> Engine:
        """The engine, created on first access."""
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    self._engine = build_engine(
                        self.target, pool_size=self._pool_size, max_overflow=self._max_overflow
                    )
        return self._engine

    @property
    def is_open(self) -> bool:
        """Whether an engine has been created."""
        return self._engine is not None

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one write transaction, committed on success, rolled back on error."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads only (on SQLite it does not take the write lock)."""
        engine = self.engine
        made = self._reader
        if made is None or made[0] is not engine:
            # Made once per engine: building the option engine per read cost more than
            # the small reads most requests make.
            made = self._reader = (engine, engine.execution_options(**{READ_ONLY_OPTION: True}))
        bind = made[1]
        with Session(bind, expire_on_commit=False) as session, session.begin():
            yield session

    def read_rows(self, statement: Executable, params: dict[str, Any]) -> list[Any]:
        """The rows of one read *statement*, on a pooled connection without a Session.

        For hot reads that are a single statement: one statement is one snapshot, so on
        SQLite no transaction is opened for it (no ``BEGIN``, nothing to roll back); on
        PostgreSQL the connection's transaction ends as it returns to the pool. Core's
        compiled cache, bind and result processing apply as for any statement, and
        statement observers see it.
        """
        engine = self.engine
        made = self._single
        if made is None or made[0] is not engine:
            options = {READ_ONLY_OPTION: True, SINGLE_STATEMENT_OPTION: True}
            made = self._single = (engine, engine.execution_options(**options))
        with made[1].connect() as connection:
            return list(connection.execute(statement, params).all())

    @contextmanager
    def reading_on_demand(self) -> Iterator[Session]:
        """:meth:`reading`, opened only if something uses the session.

        For hot paths whose reads are usually answered from a cache (a placement's prices):
        building, beginning and closing a Session that runs no statement costs more than
        the cache lookups themselves. The first attribute used opens the real session;
        leaving the block closes it as :meth:`reading` would (nothing when never used).
        """
        lazy = _OnDemandSession(self)
        try:
            yield cast(Session, lazy)
        except BaseException as error:
            if not lazy._stack.__exit__(type(error), error, error.__traceback__):
                raise
        else:
            lazy._stack.close()

    def dispose(self) -> None:
        """Close the engine's pooled connections; the next use reopens them."""
        with self._lock:
            self._reader = None
            self._single = None
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


class Databases:
    """The HQ database and the site databases of one platform.

    Site databases open on first use and at most ``cache_size`` stay open: the least
    recently used is disposed when another opens, so hundreds of sites do not hold
    hundreds of pools.
    """

    def __init__(
        self,
        hq_url: str,
        site_url_for: Callable[[str], str],
        *,
        cache_size: int = 64,
    ) -> None:
        self.hq = Database(hq_url, pool_size=5, max_overflow=10)
        self._site_url_for = site_url_for
        self._template_urls: dict[str, str] = {}
        self._cache_size = cache_size
        self._sites: OrderedDict[str, Database] = OrderedDict()
        self._lock = threading.Lock()

    def site_url(self, code: str, explicit_url: str | None = None) -> str:
        """The URL of site *code*: its own if it has one, else the configured template."""
        if explicit_url:
            return explicit_url
        # Remembered: the template's default resolves the data directory on the disk, a
        # few system calls that every request touching a site database would repeat.
        found = self._template_urls.get(code)
        if found is None:
            found = self._template_urls[code] = self._site_url_for(code)
        return found

    def site(self, code: str, explicit_url: str | None = None) -> Database:
        """The database of site *code*, opened lazily."""
        url = self.site_url(code, explicit_url)
        evicted: Database | None = None
        with self._lock:
            database = self._sites.get(code)
            if database is not None and database.url == url:
                self._sites.move_to_end(code)
                return database
            if database is not None:
                evicted = database
            # One idle connection per site engine: hundreds of sites share a server's slots.
            database = Database(url, pool_size=1, max_overflow=4)
            self._sites[code] = database
            if len(self._sites) > self._cache_size:
                _, evicted = self._sites.popitem(last=False)
        if evicted is not None:
            evicted.dispose()
        return database

    @property
    def open_site_codes(self) -> list[str]:
        """Codes of the site databases currently held, least recently used first."""
        with self._lock:
            return [code for code, database in self._sites.items() if database.is_open]

    def forget_site(self, code: str) -> None:
        """Close and drop the cached database of site *code*."""
        with self._lock:
            database = self._sites.pop(code, None)
        if database is not None:
            database.dispose()

    def dispose(self) -> None:
        """Close every engine."""
        with self._lock:
            sites = list(self._sites.values())
            self._sites.clear()
        for database in sites:
            database.dispose()
        self.hq.dispose()


class _OnDemandSession:
    """Stands in for the Session of :meth:`Database.reading_on_demand` until first used."""

    __slots__ = ("_database", "_session", "_stack")

    def __init__(self, database: Database) -> None:
        self._database = database
        self._session: Session | None = None
        self._stack = ExitStack()

    def __getattr__(self, name: str) -> Any:
        session = self._session
        if session is None:
            session = self._session = self._stack.enter_context(self._database.reading())
        return getattr(session, name)
