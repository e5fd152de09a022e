// A typed client for the Monotreme hub over gRPC: Execute, StreamEvents (or
// StreamEventBatches) and PublishEvent, with the message types generated from
// proto/monotreme/v1.
//
//   const hub = new MonotremeHub({ target: "http://hub.local:50051", token });
//   for await (const event of hub.streamEvents({ types: ["CustomEvent"] })) ...
//   await hub.realtime("arrived", { who: "alice" });
//   console.log(await hub.execute("procedure.at_home"));

import { type JsonObject, type JsonValue, toJson } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { type Client, Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import {
  HubService,
  type StreamEventBatchesResponse,
  type StreamEventsResponse,
} from "./gen/monotreme/v1/hub_pb.js";

export { Code } from "@connectrpc/connect";

/** What `realtime` publishes: Platypush's CustomEvent, named by its subtype. */
export const CUSTOM_EVENT = "platypush.message.event.custom.CustomEvent";

export interface HubOptions {
  /** The gRPC door, e.g. `http://127.0.0.1:50051`. */
  target: string;
  /** An API token. */
  token?: string;
  /** The origin of the events this client publishes. */
  appId?: string;
  /** Bound on each unary call, in milliseconds (default 60 s). */
  timeoutMs?: number;
}

export interface HubEvent {
  id: string;
  /** The event type's full name. */
  type: string;
  origin: string;
  timestamp: number;
  /** The event's fields, without `type`. */
  args: JsonObject;
  /** Events this subscriber lost just before this one. */
  missed: number;
}

export interface EventFilter {
  /** Full type names or class names (`CustomEvent`). */
  types?: string[];
  /** Only events from these origins. */
  origins?: string[];
  /** Args the event must have; nested objects match as subsets. */
  args?: JsonObject;
}

export interface StreamOptions {
  /** Ends the stream when aborted (the iteration then ends). */
  signal?: AbortSignal;
  /** Start after this event id (the last one a previous stream saw): the
   * events the hub's history holds after it come first, in order. */
  after?: string;
  /** Reconnect when the connection drops or the server restarts (after
   * 0.1 s doubling to 5 s, with jitter), resuming after the last event
   * received: nothing repeated, and what the hub's history no longer holds
   * counted in the next event's `missed`. A refusal still throws. */
  resume?: boolean;
  /** Receive the events in batches (StreamEventBatches): the hub waits up
   * to this many milliseconds (0 to 1000; 0 sends what has queued at once)
   * for more events to fill a message. Under load, fuller messages cost the
   * hub fewer writes per event; each event may arrive up to this much later.
   * The events, their order and `missed` are the same; unset, one message
   * per event (StreamEvents). The hub refuses more than 1000 (INVALID_ARGUMENT). */
  maxDelayMs?: number;
}

// Refusals that retrying cannot fix: a resumed stream throws them at once.
const FATAL = new Set([Code.Unauthenticated, Code.PermissionDenied, Code.InvalidArgument, Code.Unimplemented]);
const FIRST_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

/** A call the hub refused: the gRPC code, the server's reason and message. */
export class HubError extends Error {
  constructor(
    readonly code: Code,
    readonly reason: string,
    message: string,
  ) {
    super(reason ? `${reason}: ${message}` : message);
    this.name = "HubError";
  }

  static from(error: unknown): unknown {
    if (!(error instanceof ConnectError)) return error;
    const [info] = error.findDetails(ErrorInfoSchema);
    return new HubError(error.code, info?.reason ?? Code[error.code], error.rawMessage);
  }
}

/** The action ran and answered errors. */
export class ActionFailedError extends Error {
  constructor(
    readonly action: string,
    readonly errors: string[],
  ) {
    super(`${action}: ${errors.join("; ")}`);
    this.name = "ActionFailedError";
  }
}

export class MonotremeHub {
  readonly appId: string;
  private readonly client: Client<typeof HubService>;
  private readonly timeoutMs: number;

  constructor(options: HubOptions) {
    const token = options.token;
    const auth: Interceptor = (next) => (request) => {
      if (token) request.header.set("authorization", `Bearer ${token}`);
      return next(request);
    };
    this.appId = options.appId ?? "js-client";
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.client = createClient(
      HubService,
      createGrpcTransport({ baseUrl: options.target, interceptors: [auth] }),
    );
  }

  /** Runs an action or procedure and answers its output. */
  async execute(action: string, args: JsonObject = {}): Promise<JsonValue> {
    const response = await this.call(() =>
      this.client.execute({ type: "request", action, args, origin: this.appId }, { timeoutMs: this.timeoutMs }),
    );
    const result = response.response;
    if (result && result.errors.length > 0) throw new ActionFailedError(action, result.errors);
    return result?.output ? toJson(ValueSchema, result.output) : null;
  }

  /** Publishes an event of any type; answers it as published. */
  async publishEvent(type: string, args: JsonObject = {}): Promise<HubEvent> {
    const response = await this.call(() =>
      this.client.publishEvent(
        { event: { origin: this.appId, args: { ...args, type } } },
        { timeoutMs: this.timeoutMs },
      ),
    );
    return toHubEvent(response.event?.args ?? {}, response.event ?? {}, 0);
  }

  /** Publishes a realtime event: a CustomEvent with subtype `name` and args `data`. */
  async realtime(name: string, data: JsonValue = null): Promise<void> {
    await this.publishEvent(CUSTOM_EVENT, { subtype: name, args: data });
  }

  /**
   * The events matching `filter`, as they are published, until the signal
   * aborts (the iteration then ends) or the server refuses (it throws);
   * with `resume`, across dropped connections and server restarts too;
   * with `maxDelayMs`, received in batches. `options` may be the AbortSignal alone.
   */
  async *streamEvents(
    filter: EventFilter = {},
    options: StreamOptions | AbortSignal = {},
  ): AsyncGenerator<HubEvent> {
    const { signal, after = "", resume = false, maxDelayMs } =
      options instanceof AbortSignal ? { signal: options } : options;
    // What the wire (uint32) cannot carry never reaches the hub: refused here as it refuses > 1000.
    if (maxDelayMs !== undefined && !(Number.isInteger(maxDelayMs) && maxDelayMs >= 0 && maxDelayMs <= 0xffff_ffff)) {
      throw new HubError(Code.InvalidArgument, "INVALID_ARGUMENT", `maxDelayMs: whole milliseconds, not ${maxDelayMs}`);
    }
    const request = { types: filter.types ?? [], origins: filter.origins ?? [], args: filter.args, after };
    // One connection's events in order; each reads `request.after` when it opens.
    const connect = (): AsyncIterable<StreamEventsResponse> =>
      maxDelayMs === undefined
        ? this.client.streamEvents(request, { signal })
        : eventsOf(this.client.streamEventBatches({ request, maxDelayMs }, { signal }));
    let backoff = FIRST_BACKOFF_MS;
    for (;;) {
      try {
        for await (const response of connect()) {
          // A batch's other events are here already: none after an abort.
          if (signal?.aborted) return;
          const event = response.event;
          if (!event) continue;
          request.after = event.id; // where a reconnect resumes
          backoff = FIRST_BACKOFF_MS;
          yield toHubEvent(event.args ?? {}, event, response.missed);
        }
      } catch (error) {
        if (signal?.aborted) return;
        const refused = HubError.from(error);
        if (!resume || !(refused instanceof HubError) || FATAL.has(refused.code)) throw refused;
      }
      if (!resume || signal?.aborted) return;
      await sleep(backoff * (0.5 + Math.random() / 2), signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  private async call<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw HubError.from(error);
    }
  }
}

/** Each batch's events in turn. */
async function* eventsOf(batches: AsyncIterable<StreamEventBatchesResponse>): AsyncGenerator<StreamEventsResponse> {
  for await (const batch of batches) yield* batch.events;
}

/** Waits `ms`, or less if the signal aborts. */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
  });
}

function toHubEvent(
  args: JsonObject,
  event: { id?: string; origin?: string; timestamp?: number },
  missed: number,
): HubEvent {
  const { type, ...rest } = args;
  return {
    id: event.id ?? "",
    type: typeof type === "string" ? type : "",
    origin: event.origin ?? "",
    timestamp: event.timestamp ?? 0,
    args: rest,
    missed,
  };
}
