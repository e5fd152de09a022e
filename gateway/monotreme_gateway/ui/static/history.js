// Recent runs of the Execute page, newest first. They live in this tab only
// (sessionStorage) and go on log-out: arguments may hold secrets.

const KEY = "monotreme.runs";
const LIMIT = 20;

export function loadHistory() {
  try {
    const runs = JSON.parse(sessionStorage.getItem(KEY) ?? "[]");
    return Array.isArray(runs) ? runs : [];
  } catch {
    return [];
  }
}

/** Adds a run `{action, args, ok, ms, at}`; an identical earlier run moves to the top. */
export function remember(run) {
  const same = (r) => r.action === run.action && JSON.stringify(r.args) === JSON.stringify(run.args);
  const runs = [run, ...loadHistory().filter((r) => !same(r))].slice(0, LIMIT);
  sessionStorage.setItem(KEY, JSON.stringify(runs));
  return runs;
}

export function clearHistory() {
  sessionStorage.removeItem(KEY);
}
