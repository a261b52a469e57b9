"""Why a use case refuses: the error types and the refusal messages (safe to show).

Imported by every layer that refuses (services, permissions, the job runners); imports
nothing of the app but the models' types."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied

if TYPE_CHECKING:
    from checkpoints.models import Job

PROJECT_BUSY = (
    "This project is busy: “{job}” is still running. Wait for it to finish, then try again."
)
#: A project that does not exist or belongs to a team the user is not in: the same
#: sentence on every door (page, API, MCP, command line); `refusals` maps it to each.
PROJECT_NOT_FOUND = "Project {id} was not found in your teams."
#: What is missing inside a project reads the same on every door too.
VERSION_NOT_FOUND = "Project {project} has no version {number}."
PREVIEW_NOT_FOUND = "Project {project} has no preview {id}."
SHARE_NOT_FOUND = "Project {project} has no share link {id}."
JOB_NOT_FOUND = "Project {project} has no job {id}."
NO_NEXT_VERSION = "v{last} is the last step of the demo script: there is no next version."
PREVIEW_GONE = "This preview has already been discarded or has expired."
VERSION_DELETED = "This version was deleted."
VERSION_EXPIRED = "This version has expired: its snapshot is gone."
NAME_REQUIRED = "Give a name (1 to 200 characters)."
PROMPT_REQUIRED = "Give the prompt that made this version (1 to 10000 characters)."
NOT_STARTED = "The demo has not been started yet."
NAME_TAKEN = "Another version of this project is already called “{name}”: choose another name."
SNAPSHOT_LIMIT = (
    "{engine}'s snapshot limit for this project is reached ({used} of {limit} snapshots): "
    "delete a version or set a restore window."
)
JOB_CANCELLED = "Cancelled by {who} before it started: nothing was applied."
JOB_NOT_RUNNING = "This job has already ended ({state}): there is nothing to cancel."


class ServiceError(Exception):
    """A use case refused: the message is safe to show to the user."""

    status = 400
    #: A stable code for the API (None: looked up by message, else "invalid").
    code: str | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NameTaken(ServiceError):
    """Another version of the project has that name (snapshot names are unique on Neon)."""

    status = 409
    code = "name_taken"


class SnapshotLimitReached(ServiceError):
    """The engine's snapshot limit is reached and no expired version can make room."""

    status = 409
    code = "snapshot_limit"


class ProjectBusy(ServiceError):
    status = 409

    def __init__(self, message: str, *, job: Job | None = None) -> None:
        super().__init__(message)
        self.job = job


class JobNotRunning(ServiceError):
    """The job to cancel has already ended."""

    status = 409


class NotAllowed(ServiceError, PermissionDenied):
    """The user's role does not allow the action (403). Also a PermissionDenied, so a view
    that does not catch it still answers 403 (through `handler403`)."""

    status = 403
