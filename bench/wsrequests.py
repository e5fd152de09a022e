"""`/ws/requests` under load: one socket, a fixed number of requests in flight,
from a process of its own (`python -m bench.wsrequests URL TOKEN IN_FLIGHT SECONDS`)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import aiohttp
import orjson


async def _drive(url: str, token: str, in_flight: int, seconds: float) -> dict[str, float]:
    answered = errors = 0
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(f"{url}/ws/requests?token={token}") as ws,
    ):
        seq = 0

        async def send() -> None:
            nonlocal seq
            seq += 1
            await ws.send_str(
                f'{{"type": "request", "id": "{seq}", "action": "utils.echo", "args": {{"n": {seq}}}}}'
            )

        for _ in range(in_flight):
            await send()
        started = time.monotonic()
        async for message in ws:
            frame = orjson.loads(message.data)
            answered += 1
            errors += bool(frame.get("type") != "response" or frame["response"]["errors"])
            if time.monotonic() - started >= seconds:
                break
            await send()
        elapsed = time.monotonic() - started
    return {"rps": answered / elapsed, "errors": errors}


def run(http_target: str, token: str, in_flight: int, seconds: float) -> dict[str, float]:
    args = [f"ws://{http_target}", token, str(in_flight), str(seconds)]
    out = subprocess.run(
        [sys.executable, "-m", "bench.wsrequests", *args], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


if __name__ == "__main__":
    url, token, in_flight, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    print(json.dumps(asyncio.run(_drive(url, token, in_flight, seconds))))
