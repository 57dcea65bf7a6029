"""Benchmarks: what the system carries, so each measured chat may send as fast as it can."""

import os

# The per-chat message limit (bot.chat.ratelimit) keeps one person's flood off the others;
# a benchmark's simulated visitors send back-to-back on purpose, so it is off here (and in
# the processes the benchmarks start, which inherit the environment).
os.environ.setdefault("VISITBOT_CHAT_BURST", "0")
