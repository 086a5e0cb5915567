"""Random requests against every route: the API answers 2xx/4xx with JSON, never 5xx."""

from __future__ import annotations

import json
import string
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_api import Api, api  # noqa: F401  (the fixture)

TEMPLATES = [
    ("GET", "/jobs"),
    ("GET", "/jobs/{name}"),
    ("GET", "/jobs/{name}/runs"),
    ("GET", "/runs"),
    ("GET", "/runs/{name}"),
    ("POST", "/jobs/{name}/runs"),
    ("POST", "/runs/{name}/rerun"),
    ("POST", "/jobs/{name}/pause"),
    ("POST", "/jobs/{name}/resume"),
]
names = st.one_of(
    st.sampled_from(["report", "zoned", "off", "r1"]),
    st.text(string.printable, min_size=1, max_size=90),
)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=8,
)
bodies = st.one_of(
    st.binary(max_size=64),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries(
        {"reason": st.one_of(st.text(max_size=20), scalars)},
        optional={
            "parameters": st.dictionaries(
                st.sampled_from(["DAY", "LEVEL", "AWS_X", "LD_PRELOAD", "X"]) | st.text(max_size=8),
                st.one_of(st.text(max_size=20), st.integers()),
                max_size=3,
            )
        },
    ).map(lambda value: json.dumps(value).encode()),
)
QUERY_VALUES = {
    "status": ["FAILED", "failed", "RUNNING", "nope"],
    "since": ["24h", "7d", "0s", "2026-11-22T00:00:00Z", "2026-13-01", "soon"],
    "limit": ["1", "5", "100", "0", "101", "-1", "1e3"],
    "next_token": ["e30=", "eyJwayI6IHsiUyI6ICJ4In19", "!!", "eyJjdXJzb3JzIjoge319"],
    "junk": ["1"],
}
queries = st.fixed_dictionaries(
    {},
    optional={
        key: st.one_of(st.sampled_from(values), st.text(max_size=20))
        for key, values in QUERY_VALUES.items()
    },
)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    route=st.sampled_from(TEMPLATES),
    name=names,
    query=queries,
    body=bodies,
)
def test_no_request_gets_a_5xx(
    api: Api,  # noqa: F811
    route: tuple[str, str],
    name: str,
    query: dict[str, str],
    body: bytes,
) -> None:
    method, template = route
    path = template.replace("{name}", quote(name, safe=""))
    if query:
        path += "?" + urlencode(query)
    headers = {"Content-Type": "application/json"}
    response: Any
    if method == "GET":
        response = api.client.http.get(path, headers=headers)
    else:
        response = api.client.http.post(path, headers=headers, body=body)
    assert response.status_code < 500, (method, path, body, response.body)
    if response.status_code >= 400:
        assert set(json.loads(response.body)) >= {"error", "message"}
