"""Peer check of `flywheel mcp` with the official MCP Python client: lists the tools, calls each one with the
arguments given as JSON on argv[3], and prints {"tools": [...], "calls": {name: {"is_error", "text"}}} as JSON.

Usage: python mcp_client.py FLYWHEEL_BINARY REPO CALLS_JSON"""
import asyncio, json, sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client


async def main():
    binary, repo, calls = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    params = StdioServerParameters(command=binary, args=["mcp", "--repo", repo])
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            listed = await session.list_tools()
            out = {"server": init.serverInfo.name, "tools": [t.name for t in listed.tools],
                   "read_only": all(bool(t.annotations and t.annotations.readOnlyHint) for t in listed.tools), "calls": {}}
            for name, args in calls:
                result = await session.call_tool(name, args)
                text = "".join(c.text for c in result.content if getattr(c, "type", "") == "text")
                out["calls"].setdefault(name, []).append({"is_error": bool(result.isError), "text": text})
            print(json.dumps(out))


asyncio.run(main())
