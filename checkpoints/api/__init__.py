"""The agent API (`/api/v1/`): JSON over the same services as the web pages, token auth."""
