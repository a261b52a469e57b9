"""The MCP server: every tool and resource an agent sees, registered on one `MCPServer`.

Importing this module registers them (`*_tools.py`, `resources.py`) on `app.mcp`. To add a
tool: one function in a `*_calls.py` module for the work (synchronous, through the
services) and one `@tool(...)` function in a `*_tools.py` module that runs it through
`call` (and `job_outcome` if it starts a job).
"""

from __future__ import annotations

from checkpoints.mcp import (
    event_tools,
    job_tools,
    move_tools,
    preview_tools,
    project_tools,
    resources,
    sql_tools,
    version_life_tools,
    version_tools,
)
from checkpoints.mcp.app import mcp

__all__ = ["mcp"]
#: The modules whose import registers the tools and resources.
REGISTERED = (
    project_tools,
    version_tools,
    version_life_tools,
    preview_tools,
    job_tools,
    sql_tools,
    move_tools,
    event_tools,
    resources,
)
