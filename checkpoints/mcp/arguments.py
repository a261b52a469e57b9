"""The arguments the tools share, typed and described for the model that calls them (the
SDK turns each `Field` into the tool's JSON schema)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from checkpoints.paging import MAX_PAGE, MAX_PER_PAGE

ProjectId = Annotated[int, Field(ge=0, description="The project's id (from list_projects).")]
VersionNumber = Annotated[int, Field(ge=0, description="A version number: v0 is the empty start.")]
Reveal = Annotated[
    bool,
    Field(
        description="Show the password in the connection string (masked by default, to keep "
        "it out of your context; the token must allow it). Leave false unless you must "
        "connect yourself."
    ),
]
PageNumber = Annotated[
    int, Field(ge=1, le=MAX_PAGE, description="Which page of the list, from 1 (`next_page`).")
]
PerPage = Annotated[
    int, Field(ge=1, le=MAX_PER_PAGE, description=f"Items per page (at most {MAX_PER_PAGE}).")
]
