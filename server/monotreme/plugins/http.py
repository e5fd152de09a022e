"""`http`: HTTP requests from actions and procedures, as Platypush's `http`
plugin makes them (`http.request` until Platypush 0.99, still in many
configs: both names work), over one aiohttp client session.

As in Platypush, a response that is not 2xx is an error, the answer is the
body as JSON when it parses as JSON and as text otherwise, and a Platypush
response envelope (another hub's `/execute`) answers its own output and
errors. Unlike Platypush, every request has a time limit and a size limit,
and no cookie outlives its request: the session is shared by all callers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp

from monotreme.actions.plugin import Plugin, action
from monotreme.plugins.file import FilePlugin
from monotreme.values import from_json

_CHUNK = 1 << 16
# The arguments every request action takes, as Platypush passes them on to `requests`.
_REQUEST_DOCS = """
:param url: The URL.
:param params: Query parameters, added to the URL's.
:param headers: Request headers.
:param data: The body: text as is, a mapping as form fields.
:param json: The body as JSON (instead of ``data``).
:param username: User name for HTTP basic authentication, with ``password``.
:param password: Password for HTTP basic authentication.
:param timeout: Time limit in seconds; the plugin's default when omitted.
:param verify: Whether to check the server's TLS certificate.
:param allow_redirects: Whether to follow redirects.
"""


def _sends(method: str) -> Callable[..., Awaitable[Any]]:
    """The action sending a `method` request: every method takes the same arguments."""

    async def send(
        self: HttpPlugin,
        url: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: Any = None,
        json: Any = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (an action argument)
        verify: bool = True,
        allow_redirects: bool = True,
        output: str | None = None,
    ) -> Any:
        options = _options(params, headers, data, json, username, password, timeout, verify, allow_redirects)
        return await self._answer(method, url, options)

    send.__name__ = send.__qualname__ = method.lower()
    send.__doc__ = (
        f"Sends an HTTP {method} request and answers the response's body: JSON when it"
        " parses as JSON, else text.\n"
        + _REQUEST_DOCS
        + ":param output: Accepted as Platypush accepts it; the answer is JSON or text whatever it says.\n"
    )
    return action(send)


def _options(
    params: dict[str, Any] | None,
    headers: dict[str, str] | None,
    data: Any,
    json: Any,
    username: str | None,
    password: str | None,
    timeout: float | None,
    verify: bool,
    allow_redirects: bool,
) -> dict[str, Any]:
    """aiohttp's request options for an action's arguments."""
    if username is not None:
        credentials = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        headers = {**(headers or {}), "Authorization": f"Basic {credentials}"}
    options = {
        "params": params,
        "headers": headers,
        "data": data,
        "json": json,
        "ssl": verify,
        "allow_redirects": allow_redirects,
    }
    if timeout:  # else the session's; aiohttp reads `timeout=None` as no limit at all
        options["timeout"] = aiohttp.ClientTimeout(total=timeout)
    return options


class HttpPlugin(Plugin):
    name = "http"
    # Requests leave from the hub, so they reach what a user's own device
    # cannot: the hub's loopback services, the LAN's admin pages, cloud
    # metadata addresses (SSRF); and `download` writes files. Admins only;
    # procedures an admin wrote may still use them for anyone.
    admin_only = True

    def __init__(
        self, timeout: float = 60.0, max_response_bytes: int = 4 << 20, max_download_bytes: int = 1 << 30
    ) -> None:
        """:param timeout: Default time limit of a request, in seconds, from
            connecting to the last byte of the answer.
        :param max_response_bytes: Largest answer ``get``, ``post``... accept, in bytes.
        :param max_download_bytes: Largest file ``download`` writes, in bytes."""
        self._timeout = timeout
        self._max_response = max_response_bytes
        self._max_download = max_download_bytes
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._timeout), cookie_jar=aiohttp.DummyCookieJar()
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()

    get = _sends("GET")
    post = _sends("POST")
    put = _sends("PUT")
    delete = _sends("DELETE")
    head = _sends("HEAD")
    options = _sends("OPTIONS")

    @action
    async def download(
        self,
        url: str,
        path: str,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (an action argument)
        verify: bool = True,
        allow_redirects: bool = True,
    ) -> None:
        """Saves what a URL answers to a GET request into a file, within the
        ``file`` plugin's roots (which must be enabled). The file appears whole
        or not at all.

        :param url: The URL.
        :param path: The file to write (a relative path is relative to the
            ``file`` plugin's first root).
        :param params: Query parameters, added to the URL's.
        :param headers: Request headers.
        :param username: User name for HTTP basic authentication, with ``password``.
        :param password: Password for HTTP basic authentication.
        :param timeout: Time limit in seconds; the plugin's default when omitted.
        :param verify: Whether to check the server's TLS certificate.
        :param allow_redirects: Whether to follow redirects.
        """
        files = self.context.catalog.plugins.get(FilePlugin.name)
        if not isinstance(files, FilePlugin):
            raise RuntimeError("http.download writes within the file plugin's roots: enable `file`")
        target = files.path(path)
        partial = target.with_name(f".{target.name}.part")
        options = _options(params, headers, None, None, username, password, timeout, verify, allow_redirects)
        async with self._request("GET", url, options) as response:
            _check_size(url, response.content_length, self._max_download)
            try:
                with await asyncio.to_thread(partial.open, "wb") as out:
                    written = 0
                    async for chunk in response.content.iter_chunked(_CHUNK):
                        written += len(chunk)
                        _check_size(url, written, self._max_download)
                        await asyncio.to_thread(out.write, chunk)
                await asyncio.to_thread(os.replace, partial, target)
            finally:
                await asyncio.to_thread(partial.unlink, missing_ok=True)

    async def _answer(self, method: str, url: str, options: dict[str, Any]) -> Any:
        """The response's body as Platypush answers it, or an error for a non-2xx status."""
        async with self._request(method, url, options) as response:
            _check_size(url, response.content_length, self._max_response)
            body = bytearray()
            async for chunk in response.content.iter_chunked(_CHUNK):
                body += chunk
                _check_size(url, len(body), self._max_response)
            answer = from_json(body.decode(response.charset or "utf-8", errors="replace"))
        if isinstance(answer, dict) and answer.get("type") == "response":
            envelope = answer.get("response")
            if isinstance(envelope, dict):  # another hub's answer: its output and errors are ours
                return envelope.get("output"), envelope.get("errors") or []
        return answer

    @contextlib.asynccontextmanager
    async def _request(
        self, method: str, url: str, options: dict[str, Any]
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The response to a request, once its status says it succeeded."""
        assert self._session is not None, "the plugin is not started"
        try:
            async with self._session.request(method, url, **options) as response:
                if response.status >= 400:
                    # As `requests` words it, which Platypush users' error handling may look for.
                    side = "Client" if response.status < 500 else "Server"
                    raise RuntimeError(f"{response.status} {side} Error: {response.reason} for url: {url}")
                yield response
        except TimeoutError:
            limit = options["timeout"].total if "timeout" in options else self._timeout
            raise RuntimeError(f"{method} {url}: no complete answer within {limit} s") from None
        except aiohttp.ClientError as e:
            raise RuntimeError(f"{method} {url}: {e}") from None


class HttpRequestPlugin(HttpPlugin):
    """The same actions under their name until Platypush 0.99 (`http.request.get`)."""

    name = "http.request"


def _check_size(url: str, size: int | None, limit: int) -> None:
    if size is not None and size > limit:
        raise RuntimeError(f"{url}: the answer is larger than {limit} bytes")
