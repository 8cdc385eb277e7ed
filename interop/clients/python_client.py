"""The Python SDK client (`mcp==2.3.0`) against one Streamable HTTP endpoint fronting
@modelcontextprotocol/server-everything: the same calls as sdk-client.mjs, each checked against
what server-everything answers. Prints a JSON summary on stdout; exits non-zero on any failure.

    python python_client.py --url http://127.0.0.1:PORT/mcp [--prefix everything_]
    env MCP_TOKEN: sent as "Authorization: Bearer <token>" on every request.

The 2.x transport hides the session id; the session is ended with DELETE when the transport
closes (terminate_on_close), and a failing DELETE surfaces as an error there.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Awaitable, Callable

import anyio
from mcp import types
from mcp.client import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


class Steps:
    """Runs named steps, recording each outcome instead of stopping at the first failure."""

    def __init__(self) -> None:
        self.results: list[dict[str, Any]] = []

    async def run(self, name: str, action: Callable[[], Awaitable[Any]]) -> bool:
        try:
            detail = await action()
            self.results.append({"step": name, "ok": True, "detail": detail})
            return True
        except Exception as error:  # noqa: BLE001 - every failure is reported, none is fatal
            self.results.append({"step": name, "ok": False, "error": f"{type(error).__name__}: {error}"})
            return False


def expect(condition: object, message: str) -> None:
    if not condition:
        raise AssertionError(message)


async def exercise(session: ClientSession, prefix: str, steps: Steps) -> None:
    async def initialize() -> dict[str, Any]:
        result = await session.initialize()
        return {"server": result.server_info.name, "protocolVersion": result.protocol_version}

    if not await steps.run("initialize", initialize):
        return

    async def list_tools() -> dict[str, Any]:
        tools = (await session.list_tools()).tools
        expect(any(t.name == f"{prefix}echo" for t in tools), f"no {prefix}echo tool")
        return {"count": len(tools)}

    async def call_tool() -> dict[str, Any]:
        result = await session.call_tool(f"{prefix}echo", {"message": "hello from the Python SDK"})
        text = next((c.text for c in result.content if isinstance(c, types.TextContent)), "")
        expect(not result.is_error and "hello from the Python SDK" in text, f"unexpected echo result {result}")
        return {"text": text}

    listed: dict[str, str] = {}

    async def list_resources() -> dict[str, Any]:
        resources = (await session.list_resources()).resources
        demo = [r for r in resources if str(r.uri).startswith("demo://")]
        expect(demo, "no demo:// resource listed")
        listed["uri"] = str(demo[0].uri)
        return {"count": len(resources)}

    async def read_resource() -> dict[str, Any]:
        expect("uri" in listed, "nothing to read (resources/list failed)")
        contents = (await session.read_resource(listed["uri"])).contents
        expect(contents and str(contents[0].uri) == listed["uri"], "empty or foreign contents")
        return {"uri": listed["uri"]}

    async def list_prompts() -> dict[str, Any]:
        prompts = (await session.list_prompts()).prompts
        expect(any(p.name == f"{prefix}simple-prompt" for p in prompts), f"no {prefix}simple-prompt")
        return {"count": len(prompts)}

    async def get_prompt() -> dict[str, Any]:
        messages = (await session.get_prompt(f"{prefix}simple-prompt")).messages
        expect(messages, "no messages")
        return {"messages": len(messages)}

    async def complete() -> dict[str, Any]:
        ref = types.PromptReference(name=f"{prefix}completable-prompt")
        values = (await session.complete(ref, {"name": "department", "value": "Eng"})).completion.values
        expect("Engineering" in values, f"values {values}")
        return {"values": values}

    async def ping() -> dict[str, Any]:
        await session.send_ping()
        return {}

    await steps.run("tools/list", list_tools)
    await steps.run("tools/call", call_tool)
    await steps.run("resources/list", list_resources)
    await steps.run("resources/read", read_resource)
    await steps.run("prompts/list", list_prompts)
    await steps.run("prompts/get", get_prompt)
    await steps.run("completion/complete", complete)
    await steps.run("ping", ping)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--prefix", default="")
    options = parser.parse_args()
    token = os.environ.get("MCP_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    steps = Steps()

    async def session_lifecycle() -> dict[str, Any]:
        async with create_mcp_http_client(headers=headers) as http_client:
            async with streamable_http_client(options.url, http_client=http_client) as (read, write):
                async with ClientSession(read, write) as session:
                    await exercise(session, options.prefix, steps)
        return {"closed": True}

    # The inner steps record themselves first; this one lands last, as its DELETE happens last.
    await steps.run("session (DELETE on close)", session_lifecycle)
    failed = sum(1 for r in steps.results if not r["ok"])
    summary = {
        "client": "python-mcp@2.3.0",
        "url": options.url,
        "passed": len(steps.results) - failed,
        "failed": failed,
        "steps": steps.results,
    }
    print(json.dumps(summary, indent=2, default=str))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(anyio.run(main))
