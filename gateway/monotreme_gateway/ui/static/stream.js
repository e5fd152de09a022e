// The live event stream (/ws/events), kept across visits to the Events page:
// it opens on the first visit and closes on log-out, so events that arrive
// while another page is shown are there on return. The browser sends the
// session cookie with the handshake. A lost connection comes back by itself,
// after a pause that grows to MAX_DELAY seconds, and the status says so; it
// resumes after the last event received (`?after=`), so the events published
// meanwhile come first and none is lost unless the hub no longer has it.

import { api } from "./api.js";

export const KEPT = 500; // events kept in memory, newest first; older ones drop off
const MAX_DELAY = 15;

class EventStream extends EventTarget {
  events = [];
  received = 0;
  // Events the hub dropped because this page read too slowly, or no longer had
  // when it reconnected (frames' `_missed`).
  missed = 0;
  // What the connection is doing, in words, for a status line.
  message = "";
  #socket = null;
  #timer = null;
  #failures = 0;
  #lastId = ""; // of the last event received: where a reconnect resumes

  get running() {
    return this.#socket !== null || this.#timer !== null;
  }

  start() {
    if (!this.running) this.#connect();
  }

  stop() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#failures = 0;
    this.#lastId = "";
    const socket = this.#socket;
    this.#socket = null;
    socket?.close(1000);
    this.message = "";
    this.clear();
  }

  clear() {
    this.events = [];
    this.received = 0;
    this.missed = 0;
    this.#changed();
  }

  #changed(frame) {
    this.dispatchEvent(new CustomEvent("change", { detail: frame }));
  }

  #connect() {
    this.#timer = null;
    const url = new URL("/ws/events", location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    if (this.#lastId) url.searchParams.set("after", this.#lastId);
    const socket = new WebSocket(url);
    this.#socket = socket;
    this.message = this.#failures ? this.message : "Connecting to the hub…";
    this.#changed();
    socket.addEventListener("open", () => {
      this.message = !this.#failures
        ? "Connected: new events appear as they happen."
        : url.searchParams.has("after")
          ? "Reconnected. Events published while the connection was down come first."
          : "Reconnected. Events published while the connection was down are not shown.";
      this.#failures = 0;
      this.#changed();
    });
    socket.addEventListener("message", (message) => this.#receive(message.data));
    socket.addEventListener("close", (event) => {
      if (this.#socket !== socket) return; // stopped on purpose
      this.#socket = null;
      const delay = Math.min(MAX_DELAY, 2 ** this.#failures);
      this.#failures += 1;
      const why = event.reason ? ` (${event.reason})` : "";
      this.message = `The connection to the hub was lost${why}. Reconnecting in ${delay} s…`;
      this.#timer = setTimeout(() => this.#connect(), delay * 1000);
      this.#changed();
      // 1008: the hub refused the credentials. If the session is over, asking
      // who we are sends the app to the log-in page, which stops the stream.
      if (event.code === 1008) api("GET", "/api/v1/me").catch(() => {});
    });
  }

  #receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // the hub sends JSON only
    }
    if (frame.type === "error") {
      this.message = `The hub sent an error: ${frame.message} (${frame.error}).`;
      this.#changed();
      return;
    }
    this.received += 1;
    if (frame.id) this.#lastId = frame.id;
    this.missed += frame._missed ?? 0;
    this.events.unshift(frame);
    this.events.length = Math.min(this.events.length, KEPT);
    this.#changed(frame);
  }
}

export const stream = new EventStream();
