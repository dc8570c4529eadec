"""`python -m bot ...`: see `bot.cli`."""

from bot import create_app
from bot.cli import main

main(create_app)
