"""Alerts: the `jobctl.alert/1` message contract, the Slack notifier, the missed-run watchdog
and the Slack re-run button (chalicelib/alerts/CONTRACT.md)."""
