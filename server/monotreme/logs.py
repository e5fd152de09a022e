"""The process's log: Platypush's `logging:` settings or the default, one JSON
object a line when asked (`--log-format json`, or `logging.format: json`)
with the context of the call being served, levels per logger, the access
log on or off, and a repeated message let through once a minute with its count."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monotreme.call import current_call

if TYPE_CHECKING:  # imported only for its type: `monotreme gateway` loads no config module
    from monotreme.config import LoggingSettings

JSON = "json"
ACCESS_LOGGER = "monotreme.access"


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}`, the call being served when
    there is one (`rpc`, `door`, `peer`, `user`, `request_id`, and `outcome`
    once it ended) and `error`, the traceback, when there is one; for log
    collectors that read JSON lines; times in UTC."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if (call := current_call.get()) is not None:
            line.update(
                (key, value)
                for key, value in (
                    ("rpc", call.rpc), ("door", call.door), ("peer", call.peer), ("user", call.user),
                    ("request_id", call.request_id), ("outcome", call.outcome),
                )
                if value
            )  # fmt: skip
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class RepeatFilter(logging.Filter):
    """Lets a message through once per `window` seconds, then once more with
    the count of the repeats it stood for: a flood of one error (a full
    accept queue, a client sending garbage in a loop) is a line a minute,
    not hundreds of thousands of tracebacks."""

    def __init__(self, window: float = 60.0, remembered: int = 1024) -> None:
        super().__init__()
        self._window = window
        self._remembered = remembered
        # message -> (when it was last let through, repeats held back since)
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == ACCESS_LOGGER:  # each line its own request, however alike
            return True
        now = time.monotonic()
        key = (record.name, record.levelno, record.getMessage())
        shown, repeats = self._seen.get(key, (-self._window, 0))
        if now - shown < self._window:
            self._seen[key] = (shown, repeats + 1)
            return False
        if repeats:
            record.msg, record.args = f"{key[2]} (repeated {repeats} times in {now - shown:.0f} s)", None
        if len(self._seen) >= self._remembered:  # forget what is past its window
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self._window}
        self._seen[key] = (now, 0)
        return True


def configure(
    settings: LoggingSettings | None = None, *, json_lines: bool = False, access: bool = False
) -> None:
    """The log as the config's `logging:` section says (Platypush's keys and
    ours), else the default; JSON lines when asked here or by `format: json`;
    the access log when asked here (`--access-log`) or by `access: true`."""
    if settings is None:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    else:
        settings.apply()
        json_lines = json_lines or settings.format == JSON
    if not (access or (settings is not None and settings.access)):  # its lines are INFO
        logging.getLogger(ACCESS_LOGGER).setLevel(logging.WARNING)
    for handler in logging.getLogger().handlers:
        if json_lines:
            handler.setFormatter(JsonFormatter())
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter())
