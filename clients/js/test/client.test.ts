// Runs against a real hub: MONOTREME_GRPC (http://host:port) and
// MONOTREME_TOKEN name it, and its config has procedure.at_home(who) and
// procedure.broken (tests/test_js_client.py starts it).

import assert from "node:assert/strict";
import { test } from "node:test";
import { ActionFailedError, Code, CUSTOM_EVENT, type HubEvent, HubError, MonotremeHub } from "../src/index.js";

const target = process.env.MONOTREME_GRPC ?? "http://127.0.0.1:50051";
const token = process.env.MONOTREME_TOKEN;
const hub = new MonotremeHub({ target, token, appId: "js-test" });

test("execute answers the action's output", async () => {
  assert.deepEqual(await hub.execute("utils.echo", { n: 1, s: "x", l: [true, null] }), {
    n: 1,
    s: "x",
    l: [true, null],
  });
  assert.equal(await hub.execute("procedure.at_home", { who: "ts" }), "welcome home, ts");
});

test("a published event arrives on a filtered stream", async () => {
  const abort = new AbortController();
  const received: HubEvent[] = [];
  const reading = (async () => {
    for await (const event of hub.streamEvents({ types: ["CustomEvent"], origins: ["js-test"] }, abort.signal)) {
      received.push(event);
      abort.abort();
    }
  })();
  // The stream subscribes when it starts; publish until it has seen one.
  while (received.length === 0) {
    await hub.realtime("arrived", { who: "alice" });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await reading;
  const [event] = received;
  assert.equal(event.type, CUSTOM_EVENT);
  assert.equal(event.origin, "js-test");
  assert.deepEqual(event.args, { subtype: "arrived", args: { who: "alice" } });
  assert.equal(event.id.length, 32);
});

test("publishEvent answers the event as published", async () => {
  const event = await hub.publishEvent("platypush.message.event.variable.VariableEvent", { variables: { x: 1 } });
  assert.equal(event.type, "platypush.message.event.variable.VariableEvent");
  assert.deepEqual(event.args, { variables: { x: 1 } });
  assert.ok(event.timestamp > 1.7e9);
});

test("refusals are typed", async () => {
  await assert.rejects(hub.execute("nothing.here"), (error: unknown) => {
    assert.ok(error instanceof HubError);
    assert.equal(error.code, Code.NotFound);
    assert.equal(error.reason, "UNKNOWN_ACTION");
    return true;
  });
  await assert.rejects(hub.execute("procedure.broken"), (error: unknown) => {
    assert.ok(error instanceof ActionFailedError);
    assert.match(error.errors[0], /nothing\.here/);
    return true;
  });
  const stranger = new MonotremeHub({ target, token: "not-a-token" });
  await assert.rejects(stranger.execute("utils.echo"), { code: Code.Unauthenticated });
  await assert.rejects(async () => {
    for await (const _ of stranger.streamEvents()) break;
  }, { code: Code.Unauthenticated });
  await assert.rejects(hub.publishEvent(""), { code: Code.InvalidArgument });
});
