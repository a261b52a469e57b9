"""The MCP server: the app's use cases as Model Context Protocol tools and resources.

`server.py` gathers the tools (`*_tools.py`, async, what an agent sees) and `resources.py`
on the instance in `app.py`; the `*_calls.py` modules do the work through the same
services, selectors and serializers (`checkpoints.serialize`) as the pages and /api/v1;
`failures.py` maps refusals to the API's codes (`checkpoints.refusals`), `auth.py` knows
whose token a call carries, `http.py` serves Streamable HTTP at /mcp and `manage.py mcp`
serves stdio. Nothing here imports `checkpoints.api`: what both need lives below them.
"""
