"""`python -m bot ...`: see `bot.cli`."""

from bot.cli import main

main()
