"""The Resource Groups Tagging API lists EventBridge rules, as AWS's does (defect 14).

14. moto 5.2.5's events backend gives the tagging API (`tag:GetResources`) its event buses
    only, so a rule is never listed, and a cheap `jobctl plan` (which reads each rule's
    `jobctl:spec-hash` tag from it, 100 rules a call) falls back to a full read of every
    rule. AWS lists rules as `events:rule` resources ("Services that support the Resource
    Groups Tagging API", Amazon EventBridge: rules and event buses). Fixed by listing every
    rule of every bus too, with the tags moto keeps for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from moto.core.resource_tagging import TaggedResource
from moto.events.models import EventsBackend

from jobctl.local.moto.hook import Patch

_buses_only = EventsBackend.iter_tagged_resources


def iter_tagged_resources(self: EventsBackend) -> Iterator[TaggedResource]:
    yield from _buses_only(self)
    for bus in self.event_buses.values():
        rules: dict[str, Any] = bus.rules
        for rule in rules.values():
            yield TaggedResource(
                arn=rule.arn,
                tags=self.tagger.get_tag_dict_for_resource(rule.arn),
                resource_type="events:rule",
            )


PATCHES = (Patch(EventsBackend, "iter_tagged_resources", iter_tagged_resources),)
