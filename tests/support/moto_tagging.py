"""moto 5.2.5's Resource Groups Tagging API lists EventBridge rules, as AWS's does.

moto's events backend gives the tagging API its event buses only, so `GetResources` never
returns a rule and a cheap `jobctl plan` (which reads rule tags from it, 100 rules a call)
falls back to full reads of every rule on moto. AWS lists rules (`events:rule`). The deploy
tests and `benchmarks/deploy_bench.py` count calls as AWS would get them, so they add the
rules for the duration of `rules_in_tagging_api()`. `jobctl local` runs without it: there a
cheap plan is as correct, with the rules read in full.
Invariant: on exit the backend's method is the very one it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.core.resource_tagging import TaggedResource
from moto.events.models import EventsBackend


@contextmanager
def rules_in_tagging_api() -> Iterator[None]:
    moto_own = EventsBackend.iter_tagged_resources

    def with_rules(self: EventsBackend) -> Iterator[TaggedResource]:
        yield from moto_own(self)
        for bus in self.event_buses.values():
            rules: dict[str, Any] = bus.rules
            for rule in rules.values():
                yield TaggedResource(
                    arn=rule.arn,
                    tags=self.tagger.get_tag_dict_for_resource(rule.arn),
                    resource_type="events:rule",
                )

    EventsBackend.iter_tagged_resources = with_rules  # type: ignore[method-assign]
    try:
        yield
    finally:
        EventsBackend.iter_tagged_resources = moto_own  # type: ignore[method-assign]
