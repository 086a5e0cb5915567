"""jobctl's Lambda entry point (AWS Chalice).

Thin by design: routes and event handlers parse the request, call a service in
`chalicelib`, and return its response model. The operator API and the Slack notifier are
added here as they are built; the app never reads jobs.yaml (deploy stores what it needs
in AWS).
"""

from chalice import Chalice

app = Chalice(app_name="jobctl")
