"""jobctl's tooling: the `jobctl` CLI and everything only it needs.

The registry (load, validate), the compiler, deploy (plan, apply, one gateway per resource
kind), the local platform on moto, the demo and the CLI. Invariant: this package imports
the runtime (`chalicelib`, what runs in Lambda), never the reverse; Chalice does not
package it (tests/unit/test_architecture.py guards both).
"""

__version__ = "0.1.0"
