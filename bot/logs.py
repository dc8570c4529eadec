"""Log output for every process: text for people (the default), or one JSON object a line (LOG_FORMAT=json).

Log lines name messages by id and followers by pseudonym, never by text or openid; the JSON form carries
those as fields (see FIELDS) so a log pipeline can count and search without parsing sentences.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime

from bot.config import ConfigError

# Structured fields a log call may pass with `extra=`: a push's id, kind, pseudonymous sender, router,
# outcome and duration.
FIELDS = ("msg_id", "kind", "follower", "router", "outcome", "duration_ms")
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, process, message, the FIELDS given, the error."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "process": record.process,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(env: Mapping[str, str], text_format: str, default_level: str = "INFO") -> None:
    """Configure the root logger from LOG_FORMAT and LOG_LEVEL; a bad value is a ConfigError naming it."""
    kind = env.get("LOG_FORMAT", "text").strip().lower() or "text"
    if kind not in ("text", "json"):
        raise ConfigError(f"environment: LOG_FORMAT: must be text or json, got {kind!r}")
    level = env.get("LOG_LEVEL", default_level).strip().upper() or default_level
    if level not in LEVELS:
        raise ConfigError(f"environment: LOG_LEVEL: must be one of {', '.join(LEVELS)}, got {level!r}")
    formatter = JsonFormatter() if kind == "json" else logging.Formatter(text_format)
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    if kind == "json":
        # gunicorn's own logger keeps its handlers; in a worker they get the same one-object-a-line form.
        for existing in logging.getLogger("gunicorn.error").handlers:
            existing.setFormatter(formatter)
