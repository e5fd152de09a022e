"""The web UI, as a person uses it: Playwright drives the system's chromium,
headless, against a real `monotreme serve`; assertions are on what the page
shows (roles, labels, text). Plus the static files' caching and CSP headers,
through both gateways."""

from __future__ import annotations

import json
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp
import grpc
import pytest
import pytest_asyncio
from aiohttp import web
from monotreme.server import Server
from monotreme_gateway.invoker import RemoteInvoker
from monotreme_gateway.site import create_app, start_site

from tests.conftest import eventually, register_admin, require, start_server

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page, WebSocketRoute

PASSWORD = "a long enough password"
CUSTOM_EVENT = "platypush.message.event.custom.CustomEvent"
# The event log's socket, with or without a query (a reconnect adds `?after=`).
EVENTS_SOCKET = re.compile(r"/ws/events(\?|$)")
# One browser serves the whole module, so the browser tests share its event loop.
in_browser = pytest.mark.asyncio(loop_scope="module")


# Headers: no browser needed.


async def test_static_files_are_cached_by_content_and_guarded_by_csp(
    gateway_url: str, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{gateway_url}/") as r:
        assert (r.status, r.content_type) == (200, "text/html")
        assert r.headers["Cache-Control"] == "no-cache"
        csp = r.headers["Content-Security-Policy"]
        etag = r.headers["ETag"]
        index = await r.text()
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == directives["script-src"] == "'self'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["frame-ancestors"] == "'none'"
    assert "<script>" not in index and " style=" not in index  # nothing inline for the CSP to refuse

    assets = re.findall(r'"(/ui/[0-9a-f]{16}/[\w.]+)"', index)
    assert {a.rsplit("/", 1)[1] for a in assets} == {"app.js", "app.css", "icon.svg"}
    for asset in assets:
        async with http.get(f"{gateway_url}{asset}") as r:
            assert r.status == 200, asset
            assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
    app_js = next(a for a in assets if a.endswith("/app.js"))
    async with http.get(f"{gateway_url}{app_js}") as r:
        assert r.content_type == "text/javascript"  # module scripts need a JavaScript type
    async with http.get(f"{gateway_url}{app_js.rsplit('/', 1)[0]}/pages/execute.js") as r:
        assert r.status == 200  # modules import each other under the same versioned prefix

    # Another version's address is not this content: never cache it as such.
    async with http.get(f"{gateway_url}/ui/0123456789abcdef/app.js") as r:
        assert (r.status, (await r.json())["error"]) == (404, "NOT_FOUND")
    async with http.get(f"{gateway_url}/", headers={"If-None-Match": etag}) as r:
        assert r.status == 304


def test_static_files_fetch_nothing_from_elsewhere() -> None:
    """No CDN, no other origin (the SVG namespace is a name, not a fetch); no HTML from strings."""
    static = Path(__file__).parent.parent / "gateway" / "monotreme_gateway" / "ui" / "static"
    other_origin = re.compile(r"(?:https?:)?//(?!www\.w3\.org/)[\w-]+\.[\w.-]+")
    for path in static.rglob("*.*"):
        text = path.read_text()
        assert not other_origin.search(text), path
        assert "innerHTML" not in text and "eval(" not in text, path


# The browser.


def async_playwright() -> Any:
    """Playwright's entry point; skips without it, or fails when MONOTREME_REQUIRE_SERVICES=1."""
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[dev]')"
        if os.environ.get("MONOTREME_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return async_playwright


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Browser]:
    """The system's chromium (`playwright install` cannot download one here)."""
    chromium = require("chromium")
    async with async_playwright()() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium)
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="module")
async def hub(tmp_path: Path) -> AsyncIterator[Server]:
    """A fresh hub per test, with a procedure and a schedule for the Automation page."""
    config = (
        "procedure.at_home:\n  - action: utils.echo\n    args: {home: true}\n"
        "cron.nightly:\n  cron_expression: '0 3 * * *'\n  actions:\n    - action: utils.echo\n"
    )
    server = await start_server(tmp_path, config)
    yield server
    await server.stop()


class Problems:
    """What must never happen on a page: uncaught errors, CSP refusals, requests elsewhere."""

    def __init__(self, page: Page, origin: str) -> None:
        self.seen: list[str] = []
        self._origin = origin
        page.on("pageerror", lambda error: self.seen.append(f"uncaught: {error}"))
        page.on("console", self._console)
        page.on("request", self._request)

    def _request(self, request: Any) -> None:
        if not request.url.startswith(self._origin):
            self.seen.append(f"fetched {request.url}")

    def _console(self, message: Any) -> None:
        # Failed API calls (401 before logging in, 412 before the first user)
        # are logged by the browser itself; anything else is a problem.
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.seen.append(f"console: {message.text}")


@pytest_asyncio.fixture(loop_scope="module")
async def page(browser: Browser, hub: Server) -> AsyncIterator[Page]:
    from playwright.async_api import expect

    expect.set_options(timeout=15_000)  # a busy CI machine; expect still passes as soon as it holds
    context = await browser.new_context(base_url=hub.http_url, viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems = Problems(page, hub.http_url)
    yield page
    await context.close()
    assert problems.seen == []


async def register(page: Page, username: str = "ada") -> None:
    from playwright.async_api import expect

    await page.goto("/")
    await expect(page.get_by_role("heading", name="Create the first user")).to_be_visible()
    await page.get_by_label("Username").fill(username)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Confirm password").fill(PASSWORD)
    await page.get_by_role("button", name="Register").click()
    await expect(page.get_by_role("heading", name="Execute")).to_be_visible()


async def token_for(hub: Server, username: str = "ada") -> str:
    """An API token, made outside the browser as a script would."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{hub.http_url}/auth", json={"username": username, "password": PASSWORD}) as r,
    ):
        token: str = (await r.json())["token"]
        return token


@in_browser
async def test_first_run_registers_then_logs_out_and_back_in(page: Page) -> None:
    from playwright.async_api import expect

    await page.goto("/#/events")
    await expect(page.get_by_role("heading", name="Create the first user")).to_be_visible()
    await page.get_by_label("Username").fill("ada")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Confirm password").fill("another password")
    await page.get_by_role("button", name="Register").click()
    await expect(page.get_by_role("alert")).to_have_text("The passwords do not match.")
    await page.get_by_label("Confirm password").fill(PASSWORD)
    await page.get_by_role("button", name="Register").click()
    await expect(page.get_by_role("heading", name="Events")).to_be_visible()  # where they were going
    await expect(page.get_by_text("ada (admin)")).to_be_visible()

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(page.get_by_role("link", name="Execute")).to_be_hidden()

    # A page asked for while logged out comes back after logging in (?next=).
    await page.goto("/#/settings/tokens")
    await expect(page).to_have_url(re.compile(r"#/login\?next=%2Fsettings%2Ftokens$"))
    await page.get_by_label("Username").fill("ada")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Could not log in: Invalid credentials (INVALID_CREDENTIALS, HTTP 401)"
    )
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Tokens", exact=True)).to_be_visible()
    # The session is the HttpOnly cookie: nothing of it in the page's storage.
    assert await page.evaluate("Object.keys(localStorage).length") == 0


@in_browser
async def test_a_token_generated_in_the_browser_works_outside_until_revoked(page: Page, hub: Server) -> None:
    from playwright.async_api import expect

    await register(page)
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_role("navigation", name="Settings").get_by_role("link", name="Tokens").click()
    await page.get_by_label("Name").fill("laptop")
    await page.get_by_label("Expires").select_option(label="In 7 days")
    await page.get_by_role("button", name="Generate token").click()
    secret = await page.get_by_role("textbox", name="Token").input_value()
    assert secret.startswith("mt_")
    await expect(page.get_by_label("curl command with the token")).to_contain_text(f"Bearer {secret}")
    await expect(page.get_by_role("row", name=re.compile("^laptop api"))).to_be_visible()

    async with aiohttp.ClientSession() as http:
        me = f"{hub.http_url}/api/v1/me"
        async with http.get(me, headers={"Authorization": f"Bearer {secret}"}) as r:
            assert (r.status, (await r.json())["user"]["username"]) == (200, "ada")

        # The hub's refusal, in words.
        await page.get_by_label("Name").fill("laptop")
        await page.get_by_role("button", name="Generate token").click()
        await expect(page.get_by_role("alert")).to_have_text(
            "Could not generate the token: a token named 'laptop' already exists"
            " (TOKEN_NAME_EXISTS, HTTP 409)"
        )

        await page.get_by_role("button", name="Revoke laptop").click()
        dialog = page.get_by_role("dialog", name="Revoke token “laptop”?")
        await dialog.get_by_role("button", name="Cancel").click()
        await expect(dialog).to_be_hidden()
        await page.get_by_role("button", name="Revoke laptop").click()
        await dialog.get_by_role("button", name="Revoke token").click()
        await expect(page.get_by_text("Revoked token “laptop”.")).to_be_visible()
        await expect(page.get_by_role("row", name=re.compile("^laptop"))).to_have_count(0)
        async with http.get(me, headers={"Authorization": f"Bearer {secret}"}) as r:
            assert (r.status, (await r.json())["error"]) == (401, "INVALID_TOKEN")

        await page.get_by_role("button", name="Get owner token").click()
        await expect(page.get_by_role("heading", name="New owner token")).to_be_visible()
        owner = await page.get_by_role("textbox", name="Token").input_value()
        async with http.get(me, headers={"X-Token": owner}) as r:
            assert r.status == 200
    await expect(page.get_by_role("row", name=re.compile(r"^owner-\w+ owner"))).to_be_visible()


@in_browser
async def test_a_scoped_token_generated_in_the_browser_shows_its_scopes(page: Page, hub: Server) -> None:
    from playwright.async_api import expect

    await register(page)
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_label("Name").fill("phone")
    await page.get_by_label("Scopes").fill("execute:procedure.at_home  events:read")
    await page.get_by_role("button", name="Generate token").click()
    secret = await page.get_by_role("textbox", name="Token").input_value()
    await expect(
        page.get_by_role("row", name=re.compile("^phone api execute:procedure.at_home events:read"))
    ).to_be_visible()
    async with aiohttp.ClientSession() as http:
        body = {"type": "request", "action": "variable.get", "args": {"name": "x"}}
        async with http.post(f"{hub.http_url}/execute", json=body, headers={"X-Token": secret}) as r:
            assert (r.status, (await r.json())["error"]) == (403, "MISSING_SCOPE")
    await page.get_by_label("Name").fill("bad")
    await page.get_by_label("Scopes").fill("everything")
    await page.get_by_role("button", name="Generate token").click()
    await expect(page.get_by_role("alert")).to_contain_text("unknown scope 'everything'")


@in_browser
async def test_execute_finds_documents_and_runs_an_action(page: Page) -> None:
    from playwright.async_api import expect

    await register(page)
    action = page.get_by_role("combobox", name="Action")
    await action.fill("ech")
    await expect(page.get_by_role("option", name=re.compile("^utils.echo"))).to_be_visible()
    await expect(page.get_by_role("option", name=re.compile("^utils.sleep"))).to_have_count(0)

    # Keyboard: down to the only match, Enter picks it; its documentation shows.
    await action.fill("sleep")
    await action.press("ArrowDown")
    await action.press("Enter")
    docs = page.get_by_role("region", name="utils.sleep")
    await expect(docs).to_contain_text("Waits, without blocking other calls.")
    await expect(docs.get_by_role("row", name="seconds")).to_contain_text("number")
    await expect(docs.get_by_role("row", name="seconds")).to_contain_text("yes")
    await page.get_by_label("seconds").fill("soon")
    await page.get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_text("seconds: must be a number").first).to_be_visible()

    await action.fill("utils.ec")
    await page.get_by_role("option", name=re.compile("^utils.echo")).click()
    await expect(page.get_by_role("region", name="utils.echo")).to_contain_text("Answers the arguments")
    await page.get_by_role("button", name="Add argument").click()
    await page.get_by_label("Argument name").fill("message")
    await page.get_by_label("Argument value").fill("hello")
    json_editor = page.get_by_label("Arguments (JSON)")
    assert json.loads(await json_editor.input_value()) == {"message": "hello"}
    await json_editor.fill('{"message": "hello", "count": 2}')  # and back into the form
    await expect(page.get_by_label("Argument value").nth(1)).to_have_value("2")
    await page.get_by_role("button", name="Run", exact=True).click()
    output = page.get_by_role("region", name="Output")
    await expect(output).to_contain_text('"message": "hello"')
    await expect(output).to_contain_text('"count": 2')
    await expect(page.get_by_role("region", name="Errors")).to_contain_text("None.")
    await expect(page.get_by_text(re.compile(r"utils.echo finished in \d+ ms"))).to_be_visible()

    await page.get_by_role("button", name="Copy as curl").click()
    await expect(page.get_by_label("curl command")).to_contain_text(
        '\'{"type":"request","action":"utils.echo","args":{"message":"hello","count":2}}\''
    )

    # An action's own failure: the hub's errors, in words.
    await action.fill("variable.get")
    await action.press("Enter")
    await page.get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_role("region", name="Errors")).to_contain_text(
        "variable.get: missing required argument 'name'"
    )
    await expect(page.get_by_text("variable.get failed in")).to_be_visible()

    # History: run the echo again from it.
    await page.get_by_role("button", name="Re-run utils.echo").click()
    await expect(page.get_by_role("region", name="Output")).to_contain_text('"count": 2')
    await expect(action).to_have_value("utils.echo")


@in_browser
async def test_events_arrive_live_filter_pause_and_publish(page: Page, hub: Server) -> None:
    from playwright.async_api import expect

    await register(page)
    await page.get_by_role("link", name="Events").click()
    await expect(page.get_by_text("Connected: new events appear as they happen.")).to_be_visible()
    await eventually(lambda: hub.hub.bus.subscriber_count >= 1)
    token = await token_for(hub)
    events = page.get_by_role("list", name="Events, newest first")

    async def publish(subtype: str, **args: Any) -> None:
        event = {"type": "event", "args": {"type": CUSTOM_EVENT, "subtype": subtype, "args": args}}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{hub.http_url}/api/v1/events", json=event, headers={"X-Token": token}) as r,
        ):
            assert r.status == 200

    await publish("arrived", who="alice")
    await publish("temperature", value=21.5)
    arrived = events.get_by_role("listitem").filter(has_text="arrived")
    temperature = events.get_by_role("listitem").filter(has_text="temperature")
    await expect(arrived).to_be_visible()
    await expect(temperature).to_be_visible()

    await page.get_by_label("Filter by args").fill("subtype=arrived")
    await expect(temperature).to_be_hidden()
    await expect(arrived).to_be_visible()
    await arrived.locator("summary").click()  # expands it
    await expect(arrived.locator("pre")).to_contain_text('"who": "alice"')
    await page.get_by_label("Filter by args").fill("")
    await page.get_by_label("Filter by type").fill("VariableEvent")
    await expect(events).to_have_text("No event matches the filters.")
    await page.get_by_label("Filter by type").fill("")

    await page.get_by_role("button", name="Pause").click()
    await publish("while-paused")
    await expect(page.get_by_text("Paused: 1 new since.")).to_be_visible()
    await expect(events).not_to_contain_text("while-paused")
    await page.get_by_role("button", name="Resume").click()
    await expect(events).to_contain_text("while-paused")

    await page.get_by_role("button", name="Clear").click()
    await expect(events).to_have_text("No events yet.")

    await page.get_by_label("Subtype").fill("from-the-page")
    await page.get_by_label("Event args (JSON)").fill('{"room": "hall"}')
    await page.get_by_role("button", name="Publish event").click()
    await expect(page.get_by_text(re.compile(r"^Published event [0-9a-f]{32}\.$"))).to_be_visible()
    await expect(events.get_by_role("listitem").filter(has_text="from-the-page")).to_be_visible()


@in_browser
async def test_events_count_what_was_missed_and_reconnect(page: Page) -> None:
    """The socket is played by the test, to drop events and the connection at will."""
    from playwright.async_api import expect

    sockets: list[WebSocketRoute] = []
    await page.route_web_socket(EVENTS_SOCKET, lambda socket: sockets.append(socket))
    await register(page)
    await page.get_by_role("link", name="Events").click()
    await eventually(lambda: len(sockets) == 1)
    frame = {"id": "1", "type": "event", "origin": "hub", "args": {"type": CUSTOM_EVENT, "subtype": "late"}}
    sockets[0].send(json.dumps({**frame, "_missed": 3}))
    await expect(page.get_by_text("Missed 3 events: the page fell behind")).to_be_visible()

    await sockets[0].close(code=4000, reason="gone")
    lost = "The connection to the hub was lost (gone). Reconnecting in 1 s…"
    await expect(page.get_by_text(lost)).to_be_visible()
    await eventually(lambda: len(sockets) == 2)
    await expect(
        page.get_by_text("Reconnected. Events published while the connection was down come first.")
    ).to_be_visible()
    # The page resumes after the last event it received.
    assert [urlsplit(s.url).query for s in sockets] == ["", "after=1"]
    sockets[1].send(json.dumps({**frame, "id": "2", "_missed": 2}))
    await expect(page.get_by_text("Missed 5 events")).to_be_visible()


@in_browser
async def test_events_published_while_the_page_was_away_arrive_once_it_reconnects(
    page: Page, hub: Server
) -> None:
    """A relay the test can cut stands between the page and the real hub."""
    from playwright.async_api import expect

    relays: list[WebSocketRoute] = []

    def relay(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        relays.append(socket)

    await page.route_web_socket(EVENTS_SOCKET, relay)
    await register(page)
    await page.get_by_role("link", name="Events").click()
    await expect(page.get_by_text("Connected: new events appear as they happen.")).to_be_visible()
    await eventually(lambda: hub.hub.bus.subscriber_count >= 1)
    token = await token_for(hub)
    events = page.get_by_role("list", name="Events, newest first")

    async def publish(subtype: str) -> str:
        event = {"type": "event", "args": {"type": CUSTOM_EVENT, "subtype": subtype}}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{hub.http_url}/api/v1/events", json=event, headers={"X-Token": token}) as r,
        ):
            event_id: str = (await r.json())["event"]["id"]
            return event_id

    before = await publish("before")
    await expect(events.get_by_role("listitem").filter(has_text="before")).to_be_visible()
    await relays[0].close(code=4000, reason="cut")  # the page reconnects in 1 s
    await publish("while-away")
    await eventually(lambda: len(relays) == 2)
    await expect(events.get_by_role("listitem").filter(has_text="while-away")).to_be_visible()
    await expect(events.get_by_role("listitem")).to_have_count(2)  # nothing twice, nothing missed
    await expect(page.get_by_text("Missed")).to_be_hidden()
    assert [urlsplit(r.url).query for r in relays] == ["", f"after={before}"]


@in_browser
async def test_a_browsers_event_source_resumes_across_a_gateway_restart(
    browser: Browser, hub: Server
) -> None:
    """Not the UI: the SSE stream as a browser's EventSource reads it, in front
    of a gateway (`monotreme gateway --upstream`) that restarts on its port."""
    async with grpc.aio.insecure_channel(hub.grpc_target) as channel:
        token = (await register_admin(channel)).token

    async def gateway(port: int = 0) -> tuple[RemoteInvoker, web.AppRunner, int]:
        invoker = RemoteInvoker(hub.grpc_target, origin=hub.config.server.device_id)
        runner, bound = await start_site(create_app(invoker, max_body_bytes=1 << 20), "127.0.0.1", port)
        return invoker, runner, bound

    async def publish(subtype: str) -> str:
        event = {"type": "event", "args": {"type": CUSTOM_EVENT, "subtype": subtype}}
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{hub.http_url}/api/v1/events", json=event, headers={"X-Token": token}) as r,
        ):
            event_id: str = (await r.json())["event"]["id"]
            return event_id

    invoker, runner, port = await gateway()
    context = await browser.new_context(base_url=f"http://127.0.0.1:{port}")
    try:
        page = await context.new_page()
        await page.goto("/healthz")
        await page.evaluate(
            """token => {
                window.seen = [];
                const source = new EventSource(`/api/v1/events?types=CustomEvent&token=${token}`);
                source.addEventListener("result", (message) => {
                    const subtype = JSON.parse(message.data).result.event.args.subtype;
                    window.seen.push([message.lastEventId, subtype]);
                });
            }""",
            token,
        )
        await eventually(lambda: hub.hub.bus.subscriber_count >= 1)
        ids = [await publish("one")]
        await page.wait_for_function("window.seen.length === 1")
        await invoker.close()  # ends the gateway's streams, as its SIGTERM does
        await runner.cleanup()
        ids.append(await publish("while-the-gateway-was-down"))
        invoker, runner, _ = await gateway(port)
        ids.append(await publish("three"))
        # EventSource reconnects by itself (in a few seconds), sending the last id it saw.
        await page.wait_for_function("window.seen.length === 3")
        seen = await page.evaluate("window.seen")
    finally:
        await context.close()
        await invoker.close()
        await runner.cleanup()
    assert seen == [[ids[0], "one"], [ids[1], "while-the-gateway-was-down"], [ids[2], "three"]]


@in_browser
async def test_an_admin_adds_users(page: Page, browser: Browser, hub: Server) -> None:
    from playwright.async_api import expect

    await register(page)
    await page.get_by_role("link", name="Settings").click()
    await page.get_by_role("link", name="Users").click()
    await expect(page.get_by_role("row", name="ada admin")).to_be_visible()
    await page.get_by_label("Username").fill("bob")
    await page.get_by_label("Password", exact=True).fill("short")
    await page.get_by_label("Confirm password").fill("short")
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Could not add the user: password: at least 8 characters (INVALID_PASSWORD, HTTP 400)"
    )
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Confirm password").fill(PASSWORD)
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_text("Added bob.")).to_be_visible()
    await expect(page.get_by_role("row", name=re.compile("^bob user"))).to_be_visible()
    await page.get_by_label("Username").fill("carol")
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_label("Confirm password").fill(PASSWORD)
    await page.get_by_label("Administrator").check()
    await page.get_by_role("button", name="Add user").click()
    await expect(page.get_by_role("row", name=re.compile("^carol admin"))).to_be_visible()

    # Bob is no admin: no Users page for him.
    context = await browser.new_context(base_url=hub.http_url)
    bob = await context.new_page()
    await bob.goto("/#/settings")
    await bob.get_by_label("Username").fill("bob")
    await bob.get_by_label("Password").fill(PASSWORD)
    await bob.get_by_role("button", name="Log in").click()
    await expect(bob.get_by_role("heading", name="Tokens", exact=True)).to_be_visible()
    await expect(bob.get_by_role("link", name="Users")).to_have_count(0)
    await bob.goto("/#/settings/users")
    await expect(bob.get_by_text("Only administrators can see and add users.")).to_be_visible()
    await context.close()


@in_browser
async def test_automation_lists_procedures_and_schedules_and_says_what_it_cannot(page: Page) -> None:
    from playwright.async_api import expect

    await register(page)
    await page.get_by_role("link", name="Automation").click()
    procedures = page.get_by_role("region", name="Procedures")
    await expect(procedures).to_contain_text("procedure.at_home")
    schedules = page.get_by_role("region", name="Schedules")
    await expect(schedules).to_contain_text("cron.nightly")
    await expect(schedules).to_contain_text("0 3 * * *, next run ")
    await expect(page.get_by_role("link", name="Open cron.nightly in Execute")).to_be_visible()
    await expect(page.get_by_role("region", name="Hooks")).to_contain_text(
        "no inspect action lists event hooks yet"
    )
    await procedures.get_by_text("procedure.at_home").click()
    await expect(procedures.locator("pre")).to_contain_text('"action": "utils.echo"')
    await page.get_by_role("link", name="Open procedure.at_home in Execute").click()
    await expect(page.get_by_role("region", name="procedure.at_home")).to_be_visible()
    await page.get_by_role("button", name="Run", exact=True).click()
    await expect(page.get_by_role("region", name="Output")).to_contain_text('"home": true')


@in_browser
async def test_an_ended_session_sends_the_page_to_log_in(page: Page, hub: Server) -> None:
    from playwright.async_api import expect

    await register(page)
    cookie = next(c for c in await page.context.cookies() if c["name"] == "session_token")
    # The session is revoked elsewhere (by its own secret, as DELETE /auth allows).
    async with (
        aiohttp.ClientSession() as http,
        http.delete(f"{hub.http_url}/auth", json={"token": cookie["value"]}) as r,
    ):
        assert r.status == 200
    await page.get_by_role("link", name="Settings").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(page.get_by_role("status")).to_contain_text(
        "Please log in again: Invalid session (INVALID_CREDENTIALS, HTTP 401)"
    )
    await expect(page).to_have_url(re.compile(r"next=%2Fsettings%2Ftokens"))
