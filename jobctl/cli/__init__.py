"""The `jobctl` command line, one module per verb group.

    main.py       main(): the root parser (`--version`), dispatch, JobctlError -> exit status
    verbs.py      Verbs.add(): the one way to register a verb (-f/--file, --env, --profile,
                  --json); registry_of(): the one `--env` rule; shared argument types
    authoring.py  validate, build, next, render (no AWS)
    deploy.py     plan, apply, destroy
    ops.py        jobs, runs, show, run, rerun, pause, resume, logs
    local.py      local (the platform on moto)

Each group exposes `register(verbs)`. Invariant: importing these modules (what `--help`
and `--version` do) imports only the standard library and `chalicelib.core.errors`;
handlers import the registry, compiler, rich, pydantic and boto3 when they run.
"""
