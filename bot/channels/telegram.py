"""Telegram on python-telegram-bot 22: what `visitbot run` and the wiring use.

The parts live in telegram_api (the Bot client, keyboards, errors), telegram_parse
(Update → Incoming), telegram_handler (shared by webhook and polling), telegram_webhook,
telegram_polling and telegram_channel (sending through the outbox dispatcher).
"""

from __future__ import annotations

from bot.channels.telegram_channel import TelegramChannel
from bot.channels.telegram_polling import run_polling
from bot.channels.telegram_webhook import setup_webhook, webhook_routes

__all__ = ["TelegramChannel", "run_polling", "setup_webhook", "webhook_routes"]
