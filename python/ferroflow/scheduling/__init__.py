"""Scheduling: cron and interval schedules, their table in the store, the tick loop and the daemon."""
