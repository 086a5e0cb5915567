"""`jobctl import`: Kubernetes CronJobs, Copilot Scheduled Jobs and ecschedule rules -> jobs.yaml.

Pipeline: `source` reads the input files (bounded YAML with line numbers, refusing templates),
a source module (`kubernetes`, `copilot`, `ecschedule`) turns each job into `ImportedJob`s
whose every source field lands in a `report.Ledger` entry, `equivalence` proves each
generated schedule fires when the source's would, `taskdef` builds ECS task definitions and
`merge` writes jobs.yaml (new or merged) and `taskdefs/<family>.json`.

Invariants: nothing in an input is evaluated; every source field is reported as mapped,
defaulted, unsupported or dropped; a job whose schedule is not proven equivalent is not
written (its split is offered); the written registry passes `jobctl validate`.
"""
