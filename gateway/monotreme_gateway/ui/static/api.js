// The hub's public HTTP API as the page calls it. The browser sends the
// HttpOnly session cookie by itself; state-changing requests add the
// session's CSRF token, which lives only in this module's memory.

/** A refused call: the hub's `{"code", "error", "message"}`, or why it never answered. */
export class ApiError extends Error {
  constructor(status, reason, message) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

/** An error in words for the page: `what` failed, why, and the hub's reason code. */
export function describe(error, what) {
  const reason = error instanceof ApiError
    ? ` (${error.reason}${error.status ? `, HTTP ${error.status}` : ""})`
    : "";
  return `${what}: ${error.message}${reason}`;
}

let csrfToken = "";
let signedOut = () => {};

/** Who is logged in: `{user, session}` from GetCurrentUser; keeps the session's CSRF token. */
export async function currentUser() {
  const me = await api("GET", "/api/v1/me", undefined, { auth: false });
  csrfToken = me.session?.csrf_token ?? "";
  return me;
}

/** Called with the error when the hub no longer knows the caller (401) or has no user yet (412). */
export function onSignedOut(handler) {
  signedOut = handler;
}

export function forgetSession() {
  csrfToken = "";
}

async function send(method, path, body) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, "UNREACHABLE", `the hub did not answer (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // Not JSON (a proxy's error page, say): reported as text below.
  }
  return { status: response.status, ok: response.ok, data, text };
}

/** Sends a request; a stale CSRF token (after logging in again in another tab) is renewed once. */
async function sendFresh(method, path, body) {
  const answer = await send(method, path, body);
  if (answer.status === 403 && answer.data?.error === "INVALID_CSRF" && method !== "GET") {
    await currentUser();
    return send(method, path, body);
  }
  return answer;
}

function refusal(answer, auth) {
  const { status, data, text } = answer;
  const error = data && typeof data.error === "string"
    ? new ApiError(status, data.error, data.message || data.error)
    : new ApiError(status, `HTTP_${status}`, text.trim().slice(0, 200) || "no explanation given");
  if (auth && (status === 401 || error.reason === "REGISTRATION_REQUIRED")) signedOut(error);
  return error;
}

/**
 * Calls the API and answers its JSON; throws ApiError when refused.
 * `auth: false` for the calls that log in, whose refusals are the page's own business.
 */
export async function api(method, path, body, { auth = true } = {}) {
  const answer = await sendFresh(method, path, body);
  if (answer.ok) return answer.data;
  throw refusal(answer, auth);
}

/**
 * Runs an action through /execute and answers Platypush's envelope. An action
 * that failed (even unknown, or given bad arguments) still answers the
 * envelope with `response.errors` filled; only a refused call throws.
 */
export async function execute(action, args) {
  const answer = await sendFresh("POST", "/execute", { type: "request", action, args });
  if (answer.data?.response) return answer.data;
  throw refusal(answer, true);
}
