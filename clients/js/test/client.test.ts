// Runs against a real hub: MONOTREME_GRPC (http://host:port) and
// MONOTREME_TOKEN name it, and its config has procedure.at_home(who) and
// procedure.broken (tests/test_js_client.py starts it).

import assert from "node:assert/strict";
import { createServer, type Server, type Socket, connect } from "node:net";
import { test } from "node:test";
import {
  ActionFailedError,
  Code,
  CUSTOM_EVENT,
  type HubEvent,
  HubError,
  MonotremeHub,
  type StreamOptions,
} from "../src/index.js";

const target = process.env.MONOTREME_GRPC ?? "http://127.0.0.1:50051";
const token = process.env.MONOTREME_TOKEN;
const hub = new MonotremeHub({ target, token, appId: "js-test" });

// The stream tests run once for each way of receiving: a message per event
// (StreamEvents), and batches (StreamEventBatches, which maxDelayMs opts into).
const MODES: [string, StreamOptions][] = [
  ["one by one", {}],
  ["batched", { maxDelayMs: 50 }],
];

test("execute answers the action's output", async () => {
  assert.deepEqual(await hub.execute("utils.echo", { n: 1, s: "x", l: [true, null] }), {
    n: 1,
    s: "x",
    l: [true, null],
  });
  assert.equal(await hub.execute("procedure.at_home", { who: "ts" }), "welcome home, ts");
});

for (const [mode, receiving] of MODES) {
  test(`a published event arrives on a filtered stream (${mode})`, async () => {
    const abort = new AbortController();
    const received: HubEvent[] = [];
    const reading = (async () => {
      const options = { ...receiving, signal: abort.signal };
      for await (const event of hub.streamEvents({ types: ["CustomEvent"], origins: ["js-test"] }, options)) {
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
}

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

/** The `n` of each numbered event (subtype "n") among `events`. */
function numbers(events: HubEvent[]): [unknown, number][] {
  return events.filter((e) => e.args.subtype === "n").map((e) => [e.args.args, e.missed]);
}

for (const [mode, receiving] of MODES) {
  test(`a stream starts after an id and ends when aborted (${mode})`, async () => {
    const publisher = new MonotremeHub({ target, token, appId: "js-after" });
    const published = [];
    // Event 3 has arrived too (in the same batch, when batched) but is not yielded.
    for (const n of [0, 1, 2, 3]) published.push(await publisher.publishEvent(CUSTOM_EVENT, { subtype: "n", args: n }));
    const abort = new AbortController();
    const received: HubEvent[] = [];
    const options = { ...receiving, signal: abort.signal, after: published[0].id };
    for await (const event of hub.streamEvents({ origins: ["js-after"] }, options)) {
      received.push(event);
      if (received.length === 2) abort.abort();
    }
    assert.deepEqual(
      received.map((e) => e.id),
      [published[1].id, published[2].id],
    );
    assert.deepEqual(numbers(received), [
      [1, 0],
      [2, 0],
    ]);
  });

  test(`published events all arrive, in order (${mode})`, async () => {
    const publisher = new MonotremeHub({ target, token, appId: "js-order" });
    const abort = new AbortController();
    const received: HubEvent[] = [];
    const reading = (async () => {
      for await (const event of hub.streamEvents({ origins: ["js-order"] }, { ...receiving, signal: abort.signal })) {
        received.push(event);
        if (numbers(received).length === 30) abort.abort();
      }
    })();
    // The stream subscribes when it starts: knock until it answers, then count.
    while (received.length === 0) {
      await publisher.realtime("knock");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (let n = 0; n < 30; n++) await publisher.realtime("n", n);
    await reading;
    assert.deepEqual(
      numbers(received),
      Array.from({ length: 30 }, (_, n) => [n, 0]),
    );
  });
}

/** A TCP relay in front of the hub's gRPC door that can cut every connection
 * and refuse new ones, as a network that goes away does. */
class Relay {
  down = false;
  connections = 0;
  private readonly sockets = new Set<Socket>();
  private readonly server: Server;

  constructor(upstream: URL) {
    this.server = createServer((client) => {
      if (this.down) return client.destroy();
      this.connections += 1;
      const hub = connect(Number(upstream.port), upstream.hostname);
      for (const socket of [client, hub]) {
        this.sockets.add(socket);
        socket.on("error", () => {});
        socket.on("close", () => {
          client.destroy();
          hub.destroy();
          this.sockets.delete(socket);
        });
      }
      client.pipe(hub).pipe(client);
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    const address = this.server.address();
    assert.ok(address && typeof address === "object");
    return `http://127.0.0.1:${address.port}`;
  }

  cut(): void {
    this.down = true;
    for (const socket of this.sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

for (const [mode, receiving] of MODES) {
  const title = `a resumed stream loses and repeats nothing across a dropped connection (${mode})`;
  test(title, { timeout: 30_000 }, async () => {
    const relay = new Relay(new URL(target));
    const listener = new MonotremeHub({ target: await relay.listen(), token });
    const publisher = new MonotremeHub({ target, token, appId: "js-resume" });
    const abort = new AbortController();
    const received: HubEvent[] = [];
    const reading = (async () => {
      const options = { ...receiving, signal: abort.signal, resume: true };
      for await (const event of listener.streamEvents({ origins: ["js-resume"] }, options)) {
        received.push(event);
        if (numbers(received).length === 5) abort.abort();
      }
    })();
    // The stream subscribes when it starts: knock until it answers, then count from 0.
    while (received.length === 0) {
      await publisher.realtime("knock");
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await publisher.realtime("n", 0);
    while (numbers(received).length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    relay.cut();
    for (const n of [1, 2, 3]) await publisher.realtime("n", n); // while the listener is away
    relay.down = false;
    await publisher.realtime("n", 4);
    await reading;
    await relay.close();
    assert.deepEqual(numbers(received), [
      [0, 0],
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 0],
    ]);
    assert.ok(relay.connections >= 2);
  });

  test(`a resumed stream still throws a refusal (${mode})`, async () => {
    const stranger = new MonotremeHub({ target, token: "not-a-token" });
    await assert.rejects(async () => {
      for await (const _ of stranger.streamEvents({}, { ...receiving, resume: true })) break;
    }, { code: Code.Unauthenticated });
  });
}

test("a bad maxDelayMs is refused", async () => {
  const refusals: [number, RegExp][] = [
    [5000, /^INVALID_ARGUMENT: max_delay_ms: at most 1000 \(0 to send at once\)$/], // by the hub
    [-1, /^INVALID_ARGUMENT: maxDelayMs: whole milliseconds, not -1$/], // by the client: uint32 cannot carry them
    [1.5, /^INVALID_ARGUMENT: maxDelayMs: whole milliseconds, not 1.5$/],
  ];
  for (const [maxDelayMs, message] of refusals) {
    for (const resume of [false, true]) {
      await assert.rejects(async () => {
        for await (const _ of hub.streamEvents({}, { maxDelayMs, resume })) break;
      }, (error: unknown) => {
        assert.ok(error instanceof HubError);
        assert.equal(error.code, Code.InvalidArgument);
        assert.equal(error.reason, "INVALID_ARGUMENT");
        assert.match(error.message, message);
        return true;
      });
    }
  }
});
