"""The shared core: concepts every stage agrees on, owned once.

AWS names and ARNs (`names`, `arns`), the history table's schema and run statuses
(`history`), durations, EventBridge schedule evaluation (`schedule`), a job's worst-case
run time (`runtime`), the typed contracts that cross stages (`deployed`: what deploy
records about a job; the alert message lives in `chalicelib.alerts.message`), and the
error base class (`errors`). Invariant: the core imports nothing else of jobctl's, and
nothing heavier than pydantic.
"""
