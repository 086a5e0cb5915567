"""Random requests against every route: the API answers 2xx/4xx with JSON, never 5xx, and
a 400 or 413 names the field it refuses."""

from __future__ import annotations

import base64
import json
import string
from typing import Any
from urllib.parse import quote, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .test_api import Api, api, deployed  # noqa: F401  (the fixtures)

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
# Deep nesting that fits in the 16 KiB body (json.loads recursed once per level).
nested = st.builds(
    lambda depth, opener, inside: (
        (b'{"reason": ' if inside else b"") + opener * depth + (b"}" if inside else b"")
    ),
    st.integers(min_value=17, max_value=8000),
    st.sampled_from([b"[", b'{"a":']),
    st.booleans(),
).filter(lambda raw: len(raw) <= 16 * 1024)
# Text a terminal would interpret, in reasons (and parameter values).
hostile = st.text(
    st.sampled_from(["a", " ", "\x1b", "\x07", "\x9b", "\u202e", "\u2066", "\n", "\x00"]),
    min_size=1,
    max_size=12,
)
bodies = st.one_of(
    st.binary(max_size=64),
    nested,
    json_values.map(lambda value: json.dumps(value).encode()),
    st.fixed_dictionaries({"reason": hostile}).map(lambda value: json.dumps(value).encode()),
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


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


KEY = {"pk": {"S": "JOB#report"}, "sk": {"S": "RUN#r1"}}
QUERY_VALUES = {
    "status": ["FAILED", "failed", "RUNNING", "nope"],
    "since": [
        "24h",
        "7d",
        "0s",
        "2026-11-22T00:00:00Z",
        "2026-13-01",
        "soon",
        "99999999999d",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "1" * 5000 + "s",
    ],
    "limit": ["1", "5", "100", "0", "101", "-1", "1e3"],
    "next_token": [
        "e30=",
        "eyJwayI6IHsiUyI6ICJ4In19",
        "!!",
        "eyJjdXJzb3JzIjoge319",
        # Tokens as they were before they were signed, tampered: non-string key values,
        # the index's attributes missing, cursors of the wrong shape, 100 KB.
        _b64({**KEY, "job": {"S": "report"}, "job_time": {"S": 1}}),
        _b64({"pk": {"S": ["x"]}, "sk": {"S": {"a": 1}}}),
        _b64(KEY),
        _b64({"cursors": {"FAILED": KEY, "RUNNING": 7}}),
        "A" * 100_000,
        "1.e30.AAAA",
        "1." + _b64({"key": KEY}) + ".",
    ],
    "junk": ["1"],
}
tokens = st.one_of(
    st.sampled_from(QUERY_VALUES["next_token"]),
    st.builds(
        lambda payload, mac: f"1.{_b64(payload)}.{mac}",
        json_values,
        st.text(string.ascii_letters + string.digits + "-_", max_size=50),
    ),
)
queries = st.fixed_dictionaries(
    {},
    optional={
        key: st.one_of(
            tokens if key == "next_token" else st.sampled_from(values), st.text(max_size=20)
        )
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
    assert response.status_code < 500, (method, path[:200], body[:200], response.body)
    if response.status_code >= 400:
        answer = json.loads(response.body)
        assert set(answer) >= {"error", "message"}
        if response.status_code in (400, 413):
            assert answer.get("field"), (method, path[:200], body[:200], answer)
