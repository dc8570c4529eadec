"""The WSGI entry point for gunicorn: `gunicorn bot.wsgi:app`."""

import os

from bot import create_app
from bot.logs import setup_logging

# Gunicorn configures only its own loggers; the bot's go to stderr beside them (LOG_FORMAT, LOG_LEVEL).
setup_logging(os.environ, "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")

app = create_app()
