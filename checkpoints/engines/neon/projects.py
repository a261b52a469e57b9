"""Neon projects: create (with root branch `main` and its endpoint), get, delete."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..base import ROOT_BRANCH_NAME, Project, ProjectCreated
from .parse import (
    branch_from,
    endpoint_from,
    operations_from,
    parsed,
    project_from,
    read_write,
    seg,
)
from .resource import NeonResource


class NeonProjects(NeonResource):
    def project_create(self, *, name: str) -> ProjectCreated:
        """Create a project with root branch `main` and its read-write endpoint.

        More info: https://api-docs.neon.tech/reference/createproject"""
        project: dict[str, Any] = {
            "name": name,
            "branch": {
                "name": ROOT_BRANCH_NAME,
                "database_name": self.database_name,
                "role_name": self.role_name,
            },
        }
        if self.org_id:
            project["org_id"] = self.org_id
        if self.region_id:
            project["region_id"] = self.region_id

        def parse(body: dict[str, Any]) -> ProjectCreated:
            created = ProjectCreated(
                project=project_from(body["project"]),
                branch=branch_from(body["branch"]),
                endpoint=endpoint_from(read_write(body["endpoints"])),
                operations=operations_from(body.get("operations", [])),
            )
            self._remember_conn_params(created.project.id, body)
            self._default_branch[created.project.id] = created.branch.id
            return created

        return self.http.post(
            "/projects",
            json={"project": project},
            parse=parse,
            recover=lambda since: self._recover_project(name, since),
        )

    def project_get(self, project_id: str) -> Project:
        """More info: https://api-docs.neon.tech/reference/getproject"""
        body = self._json("GET", f"/projects/{seg(project_id)}")
        return parsed(project_from, body, "project")

    def project_delete(self, project_id: str) -> None:
        """Delete the project; an already deleted one (after a retry) is fine.

        More info: https://api-docs.neon.tech/reference/deleteproject"""
        self.http.request("DELETE", f"/projects/{seg(project_id)}", gone_ok_after_retry=True)
        self._conn_params.pop(project_id, None)
        self._default_branch.pop(project_id, None)

    def _recover_project(self, name: str, since: datetime) -> ProjectCreated | None:
        params: dict[str, Any] = {"search": name, "limit": 100}
        if self.org_id:
            params["org_id"] = self.org_id
        body = self._json("GET", "/projects", params=params)
        candidates = [
            parsed(project_from, raw) for raw in body.get("projects", []) if raw.get("name") == name
        ]
        candidates = [p for p in candidates if p.created_at >= since]
        if not candidates:
            return None
        project = max(candidates, key=lambda p: p.created_at)
        branches = [b for b in self.branch_list(project.id) if b.default]
        endpoints = [e for e in self.endpoint_list(project.id) if e.type == "read_write"]
        if not branches or not endpoints:
            return None
        branch = branches[0]
        endpoint = next((e for e in endpoints if e.branch_id == branch.id), endpoints[0])
        return ProjectCreated(project, branch, endpoint, self._busy_operations(project.id))
