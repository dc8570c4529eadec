"""The WSGI entry point for gunicorn: `gunicorn bot.wsgi:app`."""

import logging
import os

from bot import create_app

# Gunicorn configures only its own loggers; the bot's go to stderr beside them.
logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                    format="%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")

app = create_app()
