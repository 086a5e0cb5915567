"""Registry text shared by tests: a valid header that jobs can be appended to."""

BASE = """\
version: 1
project: demo
defaults:
  cluster: app
  task_definition: app-batch
  container: app
  launch_type: FARGATE
  network: {subnets: [subnet-1], security_groups: [sg-1]}
"""
