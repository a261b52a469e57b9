"""The MCP server: the app's use cases as Model Context Protocol tools and resources.

`server.py` declares the tools and resources (async, what an agent sees), `calls.py` does
the work through the same services, selectors and serializers as the pages and /api/v1,
`auth.py` knows whose token a call carries, `http.py` serves Streamable HTTP at /mcp and
`manage.py mcp` serves stdio.
"""
