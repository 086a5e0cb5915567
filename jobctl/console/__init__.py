"""The operator console: a web view of jobs and runs, served on loopback.

`jobctl console` serves it with the operator's own AWS credentials; `jobctl local` serves
the same pages at its API address. It is a presentation layer only: every read and every
action goes through `chalicelib.ops.service.OpsService`, exactly as the CLI's, so it adds
no cloud resource and no authentication surface of its own.
Modules: `humanize` (schedules and durations in words), `views` (pure view models: badges,
durations, lateness, the timeline's geometry), `security` (Host/Origin checks, CSRF
tokens), `app` (routes -> responses, Jinja2 templates with autoescaping), `server` (the
standalone loopback HTTP server).
"""
