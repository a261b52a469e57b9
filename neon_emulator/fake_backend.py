"""An in-memory `Engine`: the emulator's backend when no PostgreSQL is wanted.

It keeps Neon's semantics (root branches, snapshots of root branches only, restore with and
without finalize, one read-write endpoint per branch) with no data behind them: each branch
carries a `data` label so tests can see which version a branch holds.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime

from checkpoints.engines.base import (
    FINISHED,
    ROOT_BRANCH_NAME,
    Branch,
    Endpoint,
    EndpointCreated,
    Engine,
    Operation,
    Project,
    ProjectCreated,
    Snapshot,
)
from checkpoints.engines.errors import EngineInvalidRequest, EngineNotFound

from .fake_snapshots import _FakeSnapshots, _id


class FakeBackend(_FakeSnapshots, Engine):
    name = "fake"
    supports_point_in_time = True

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.projects: dict[str, Project] = {}
        self.branches: dict[str, dict[str, Branch]] = {}
        self.snapshots: dict[str, dict[str, Snapshot]] = {}
        self.endpoints: dict[str, dict[str, Endpoint]] = {}
        self.passwords: dict[str, str] = {}
        #: branch or snapshot id -> label of the data it holds
        self.data: dict[str, str] = {}
        self.operations: dict[str, Operation] = {}

    # helpers
    def _op(self, project_id: str, action: str, branch_id: str | None = None) -> Operation:
        now = datetime.now(UTC)
        op = Operation(
            id=str(uuid.uuid4()),
            project_id=project_id,
            action=action,
            status=FINISHED,
            created_at=now,
            updated_at=now,
            branch_id=branch_id,
        )
        self.operations[op.id] = op
        return op

    def _project(self, project_id: str) -> Project:
        try:
            return self.projects[project_id]
        except KeyError:
            raise EngineNotFound(f"project {project_id} not found") from None

    def _branch(self, project_id: str, branch_id: str) -> Branch:
        self._project(project_id)
        try:
            return self.branches[project_id][branch_id]
        except KeyError:
            raise EngineNotFound(f"branch {branch_id} not found") from None

    def _check_name(self, project_id: str, name: str, exclude: str | None = None) -> None:
        for b in self.branches[project_id].values():
            if b.name == name and b.id != exclude:
                raise EngineInvalidRequest(f"branch {name!r} already exists")

    # projects
    def project_create(self, *, name: str) -> ProjectCreated:
        with self._lock:
            now = datetime.now(UTC)
            project = Project(id=f"fake-{secrets.token_hex(4)}", name=name, created_at=now)
            branch = Branch(
                id=_id("br-"), project_id=project.id, name=ROOT_BRANCH_NAME, created_at=now,
                default=True,
            )  # fmt: skip
            endpoint = Endpoint(
                id=_id("ep-"), project_id=project.id, branch_id=branch.id, host="fake.invalid"
            )
            self.projects[project.id] = project
            self.branches[project.id] = {branch.id: branch}
            self.snapshots[project.id] = {}
            self.endpoints[project.id] = {endpoint.id: endpoint}
            self.passwords[project.id] = "fake_" + secrets.token_urlsafe(12)
            self.data[branch.id] = "v0"
            return ProjectCreated(
                project, branch, endpoint, [self._op(project.id, "create_timeline", branch.id)]
            )

    def project_get(self, project_id: str) -> Project:
        return self._project(project_id)

    def project_delete(self, project_id: str) -> None:
        with self._lock:
            self._project(project_id)
            for store in (self.projects, self.branches, self.snapshots, self.endpoints):
                store.pop(project_id, None)

    # branches
    def branch_list(self, project_id: str) -> list[Branch]:
        self._project(project_id)
        return list(self.branches[project_id].values())

    def branch_get(self, project_id: str, branch_id: str) -> Branch:
        return self._branch(project_id, branch_id)

    def branch_rename(self, project_id: str, branch_id: str, name: str) -> Branch:
        with self._lock:
            branch = self._branch(project_id, branch_id)
            self._check_name(project_id, name, exclude=branch_id)
            branch = replace(branch, name=name)
            self.branches[project_id][branch_id] = branch
            return branch

    def branch_delete(self, project_id: str, branch_id: str) -> list[Operation]:
        with self._lock:
            branch = self._branch(project_id, branch_id)
            if branch.default:
                raise EngineInvalidRequest("cannot delete the default branch")
            if any(b.parent_id == branch_id for b in self.branches[project_id].values()):
                raise EngineInvalidRequest("cannot delete a branch that has child branches")
            del self.branches[project_id][branch_id]
            for ep in list(self.endpoints[project_id].values()):
                if ep.branch_id == branch_id:
                    del self.endpoints[project_id][ep.id]
            return [self._op(project_id, "delete_timeline", branch_id)]

    # endpoints
    def endpoint_create(self, project_id: str, branch_id: str) -> EndpointCreated:
        with self._lock:
            self._branch(project_id, branch_id)
            if any(e.branch_id == branch_id for e in self.endpoints[project_id].values()):
                raise EngineInvalidRequest("read-write endpoint already exists on the branch")
            ep = Endpoint(id=_id("ep-"), project_id=project_id, branch_id=branch_id, host="fake")
            self.endpoints[project_id][ep.id] = ep
            return EndpointCreated(ep, [self._op(project_id, "start_compute", branch_id)])

    def endpoint_list(self, project_id: str) -> list[Endpoint]:
        self._project(project_id)
        return list(self.endpoints[project_id].values())

    def connection_uri(self, project_id: str, *, branch_id: str | None = None) -> str:
        self._project(project_id)
        if branch_id is None:
            branch_id = next(b.id for b in self.branches[project_id].values() if b.default)
        self._branch(project_id, branch_id)
        for ep in self.endpoints[project_id].values():
            if ep.branch_id == branch_id:
                password = self.passwords[project_id]
                return f"postgresql://neondb_owner:{password}@{ep.id}.fake.invalid/neondb"
        raise EngineNotFound(f"branch {branch_id} has no endpoint")

    # operations
    def operation_get(self, project_id: str, operation_id: str) -> Operation:
        try:
            return self.operations[operation_id]
        except KeyError:
            raise EngineNotFound(f"operation {operation_id} not found") from None
