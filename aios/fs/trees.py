"""Trees and access: each agent's home tree, shared trees, and the read / write grants on them."""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from aios.agents import AgentService
from aios.errors import AlreadyExists, InvalidArgument, PermissionDenied, ResourceExhausted
from aios.fs import paths
from aios.fs._schema import fs_grants, fs_trees
from aios.fs.models import Tree

__all__ = ["TreeRef", "Trees"]

_HOME = "~"  # prefix of home tree names; user tree names cannot contain it
_ACCESS_RANK = {"read": 0, "write": 1, "owner": 2}
_MAX_GRANTS = 256  # agents one tree is shared with


@dataclass(frozen=True)
class TreeRef:
    id: str
    name: str  # stored name
    display: str  # what the caller calls it: "" for its own home
    owner_id: str
    access: str


class Trees:
    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock
        self._homes: dict[str, str] = {}
        self._removal_listeners: list[Callable[[str, str], None]] = []

    def on_access_removed(self, listener: Callable[[str, str], None]) -> None:
        """`listener(tree_id, agent_id)` runs after a grant is removed, once the removal has committed: the
        syscall layer ends the agent's open watches on that tree with it."""
        self._removal_listeners.append(listener)

    def resolve(self, agent_id: str, tree: str, need: str) -> TreeRef:
        """The tree `tree` names for this agent ("" is its home), if it has at least `need` access."""
        if not tree:
            return self._home(agent_id)
        paths.check_tree_name(tree)
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(fs_trees).where(fs_trees.c.name == tree)).first()
            access = None if row is None else "owner" if row.owner_id == agent_id else conn.execute(
                sa.select(fs_grants.c.mode).where(fs_grants.c.tree_id == row.id, fs_grants.c.agent_id == agent_id)
            ).scalar()  # fmt: skip
        if row is None or access is None:
            # One answer for "no such tree" and "another agent's tree": tree names are one namespace, and telling
            # the two apart would show any agent which names others use. PERMISSION_DENIED, as for a grant that
            # was removed (a reader's open watch ends with it too).
            raise PermissionDenied(f"no tree {tree!r} is shared with you (it does not exist, or is not yours)")
        if _ACCESS_RANK[access] < _ACCESS_RANK[need]:
            raise PermissionDenied(f"you have {access} access to tree {tree!r}; this needs {need}")
        return TreeRef(row.id, row.name, tree, row.owner_id, access)

    def _home(self, agent_id: str) -> TreeRef:
        name = _HOME + agent_id
        tree_id = self._homes.get(agent_id)  # home trees are never deleted: their ids can be cached
        if tree_id is None:
            with self._engine.connect() as conn:
                tree_id = conn.execute(sa.select(fs_trees.c.id).where(fs_trees.c.name == name)).scalar()
        if tree_id is None:
            tree_id = uuid.uuid4().hex
            try:
                with self._engine.begin() as conn:
                    conn.execute(sa.insert(fs_trees).values(id=tree_id, name=name, owner_id=agent_id, kind="home",
                                                            created_at=self._clock()))  # fmt: skip
            except IntegrityError:  # created by a concurrent call
                return self._home(agent_id)
        self._homes[agent_id] = tree_id
        return TreeRef(tree_id, name, "", agent_id, "owner")

    def create(self, agent_id: str, name: str) -> Tree:
        paths.check_tree_name(name)
        try:
            with self._engine.begin() as conn:
                conn.execute(sa.insert(fs_trees).values(id=uuid.uuid4().hex, name=name, owner_id=agent_id,
                                                        kind="shared", created_at=self._clock()))  # fmt: skip
        except IntegrityError:
            raise AlreadyExists(f"a tree named {name!r} exists") from None
        return self._tree_info(self.resolve(agent_id, name, "owner"))

    def grant(self, agent_id: str, tree: str, grantee: str, mode: str) -> Tree:
        """Give `grantee` read or write access to a shared tree the caller owns; mode "" revokes."""
        if not tree:
            raise InvalidArgument("home trees cannot be shared: create a shared tree and grant access to it")
        if mode not in ("read", "write", ""):
            raise InvalidArgument(f"mode must be read, write or empty (revoke), got {mode!r}")
        if not AgentService.is_agent_id(grantee):
            raise InvalidArgument(f"an agent id is 32 lowercase hex characters, got {grantee[:40]!r}")
        ref = self.resolve(agent_id, tree, "owner")
        if grantee == agent_id:
            raise InvalidArgument("the owner always has access to its tree")
        # An id no agent has is granted like any other, and reaches nobody: refusing it would tell the caller
        # which ids belong to agents.
        with self._engine.begin() as conn:
            conn.execute(sa.delete(fs_grants).where(fs_grants.c.tree_id == ref.id, fs_grants.c.agent_id == grantee))
            if mode:
                granted = conn.execute(
                    sa.select(sa.func.count()).select_from(fs_grants).where(fs_grants.c.tree_id == ref.id)
                ).scalar_one()
                if granted >= _MAX_GRANTS:  # ids no agent has are kept too: without a bound they would pile up
                    raise ResourceExhausted(f"a tree is shared with at most {_MAX_GRANTS} agents")
                conn.execute(sa.insert(fs_grants).values(tree_id=ref.id, agent_id=grantee, mode=mode))
        if not mode:
            for listener in self._removal_listeners:
                listener(ref.id, grantee)
        return self._tree_info(ref)

    def list(self, agent_id: str) -> builtins.list[Tree]:
        return [self._tree_info(r) for r in self.readable(agent_id)]

    def readable(self, agent_id: str) -> builtins.list[TreeRef]:
        """The agent's home and every tree it owns or was granted, with its access, in one query."""
        self._home(agent_id)
        grant = fs_grants.c.mode
        with self._engine.connect() as conn:
            rows = conn.execute(
                sa.select(fs_trees, grant)
                .outerjoin(fs_grants, sa.and_(fs_grants.c.tree_id == fs_trees.c.id, fs_grants.c.agent_id == agent_id))
                .where(sa.or_(fs_trees.c.owner_id == agent_id, grant.is_not(None)))
                .order_by(fs_trees.c.name)
            ).all()
        return [TreeRef(r.id, r.name, "" if r.kind == "home" else r.name, r.owner_id,
                        "owner" if r.owner_id == agent_id else r.mode) for r in rows]  # fmt: skip

    def _tree_info(self, ref: TreeRef) -> Tree:
        with self._engine.connect() as conn:
            grants = {
                r.agent_id: r.mode for r in conn.execute(sa.select(fs_grants).where(fs_grants.c.tree_id == ref.id))
            }
        return Tree(ref.display, ref.owner_id, "home" if ref.name.startswith(_HOME) else "shared", grants, ref.access)
