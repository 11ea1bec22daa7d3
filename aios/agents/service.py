"""Agent identity: registration, bearer tokens (stored as SHA-256 hashes), reissue and revocation."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from aios.agents._schema import agents
from aios.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unauthenticated

__all__ = ["Agent", "AgentService", "Principal"]

_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
ADMIN_NAME = "admin"


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    created_at: float
    revoked_at: float | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class Principal:
    """Who a syscall runs for: an agent, or the admin (who has no namespace of its own)."""

    agent_id: str
    name: str
    is_admin: bool = False


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return f"aios_{secrets.token_urlsafe(32)}"


class AgentService:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        # token hash -> principal; tokens are 256-bit random, so a hash lookup is the whole check.
        self._cache: dict[str, Principal] = {}
        # Bumped whenever a token stops being valid: an authentication that read the database before the
        # change must not put the old token back into the cache after it.
        self._generation = 0
        self._lock = threading.Lock()
        self._forget_listeners: list[Callable[[str], None]] = []

    def ensure_admin_token(self, path: Path) -> str:
        """The admin token from `path`, created (mode 0600) and registered on first start."""
        if path.exists():
            token = path.read_text().strip()
        else:
            token = "aios_admin_" + secrets.token_urlsafe(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(token + "\n")
                f.flush()
                os.fsync(f.fileno())
        with self._engine.begin() as conn:
            known = conn.execute(sa.select(agents.c.id).where(agents.c.token_hash == _hash(token))).first()
            if known is None:
                # A new token for this data directory (e.g. a shared PostgreSQL): replace the old one.
                conn.execute(sa.delete(agents).where(agents.c.is_admin))
                conn.execute(
                    sa.insert(agents).values(
                        id=uuid.uuid4().hex,
                        name=ADMIN_NAME,
                        token_hash=_hash(token),
                        is_admin=True,
                        created_at=self._clock(),
                        revoked_at=None,
                    )  # fmt: skip
                )
        return token

    def create(self, name: str) -> tuple[Agent, str]:
        """Register an agent; returns it and its token, which is not stored and cannot be shown again."""
        if not _NAME.match(name or ""):
            raise InvalidArgument("agent name must be 1-64 characters of letters, digits, '.', '_' or '-'")
        if name == ADMIN_NAME:
            raise InvalidArgument(f"agent name {ADMIN_NAME!r} is reserved")
        agent_id = uuid.uuid4().hex
        token = _new_token()
        now = self._clock()
        with self._engine.begin() as conn:
            if conn.execute(sa.select(agents.c.id).where(agents.c.name == name)).first():
                raise AlreadyExists(f"an agent named {name!r} already exists")
            conn.execute(
                sa.insert(agents).values(
                    id=agent_id,
                    name=name,
                    token_hash=_hash(token),
                    is_admin=False,
                    created_at=now,
                    revoked_at=None,
                )  # fmt: skip
            )
        return Agent(agent_id, name, now, None), token

    def list(self, include_revoked: bool = False) -> list[Agent]:
        query = sa.select(agents).where(~agents.c.is_admin).order_by(agents.c.created_at)
        if not include_revoked:
            query = query.where(agents.c.revoked_at.is_(None))
        with self._engine.connect() as conn:
            return [self._agent(row) for row in conn.execute(query)]

    def get(self, agent_id: str) -> Agent:
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(agents).where(agents.c.id == agent_id, ~agents.c.is_admin)).first()
        if row is None:
            raise NotFound(f"no agent with id {agent_id!r}")
        return self._agent(row)

    def revoke(self, agent_id: str) -> Agent:
        agent = self.get(agent_id)
        if agent.revoked:
            return agent
        now = self._clock()
        with self._engine.begin() as conn:
            conn.execute(sa.update(agents).where(agents.c.id == agent_id).values(revoked_at=now))
        self._forget(agent_id)
        return Agent(agent.id, agent.name, agent.created_at, now)

    def reissue(self, agent_id: str) -> tuple[Agent, str]:
        """A new token for an active agent; its old token is refused from now on."""
        agent = self.get(agent_id)
        if agent.revoked:
            raise FailedPrecondition(f"agent {agent.name} is revoked: register a new agent instead")
        token = _new_token()
        with self._engine.begin() as conn:
            conn.execute(sa.update(agents).where(agents.c.id == agent_id).values(token_hash=_hash(token)))
        self._forget(agent_id)
        return agent, token

    def names(self) -> dict[str, str]:
        """Agent id -> name for every agent, revoked ones and the admin included."""
        with self._engine.connect() as conn:
            return {row.id: row.name for row in conn.execute(sa.select(agents.c.id, agents.c.name))}

    @staticmethod
    def id_query() -> sa.Select[tuple[str]]:
        """Every agent's id (revoked ones and the admin included), as SQL for a subsystem on the same database that
        keeps a statement to agents that exist (memory's full-text scopes of shared notes)."""
        return sa.select(agents.c.id)

    def on_token_invalid(self, listener: Callable[[str], None]) -> None:
        """`listener(agent_id)` runs when an agent's token stops being valid (revoke, reissue), after `generation`
        has moved on: the syscall layer ends that agent's open streams with it."""
        self._forget_listeners.append(listener)

    @property
    def generation(self) -> int:
        """Moves on whenever a token stops being valid."""
        with self._lock:
            return self._generation

    def _forget(self, agent_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._cache = {h: p for h, p in self._cache.items() if p.agent_id != agent_id}
        for listener in self._forget_listeners:
            listener(agent_id)

    def cached(self, token: str) -> Principal | None:
        """The principal for a token seen before, without touching the database."""
        with self._lock:
            return self._cache.get(_hash(token))

    def authenticate(self, token: str) -> Principal:
        if not token:
            raise Unauthenticated("missing bearer token: send 'authorization: Bearer <token>' metadata")
        cached = self.cached(token)
        if cached is not None:
            return cached
        digest = _hash(token)
        with self._lock:
            generation = self._generation
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(agents).where(agents.c.token_hash == digest, agents.c.revoked_at.is_(None))
            ).first()
        if row is None:
            raise Unauthenticated("invalid or revoked token")
        principal = Principal(row.id, row.name, row.is_admin)
        with self._lock:
            if self._generation == generation:
                self._cache[digest] = principal
        return principal

    @staticmethod
    def is_agent_id(value: str) -> bool:
        """Whether `value` has the form of the ids this service gives out (`uuid4().hex`), existing or not."""
        try:
            return len(value) == 32 and uuid.UUID(hex=value).hex == value
        except ValueError:
            return False

    def is_admin(self, token: str) -> bool:
        """Whether `token` is the admin's; False for any other token, valid or not."""
        try:
            return self.authenticate(token).is_admin
        except Unauthenticated:
            return False

    def count(self) -> int:
        with self._engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(agents).where(~agents.c.is_admin)
            return conn.execute(query).scalar_one()

    @staticmethod
    def _agent(row: sa.Row) -> Agent:
        return Agent(row.id, row.name, row.created_at, row.revoked_at)
