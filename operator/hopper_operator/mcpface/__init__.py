"""The MCP face: the Instance API's operations as tools for agents (docs/mcp.md)."""
