"""Property: no URL of the app answers 500, whatever a hostile client sends.

The URLs come from the URLconf (every pattern, its ids filled with real ones of a demo
project, or with huge numbers); the parameter names from the code itself (every
`request.GET/POST[...]` the views read, and the fields of the forms they use), plus any
name. Values are what breaks careless code: NUL, lone surrogates (sent as the bytes a
browser would send), Unicode digits, huge integers, deep JSON, very long strings. Pages
go through Django's test client, so an unhandled exception fails the test with its
traceback; API views answer 500 `internal` instead, which is checked by status.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checkpoints.connections import connections_refresh
from checkpoints.models import Job, Membership
from contacts.forms import ContactForm
from tests.api_helpers import token_for
from tests.web_fixtures import HX, engine_project_drop, project_demo, user_make

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
_READ = re.compile(r'request\.(?:GET|POST)(?:\.get\(|\[|\.getlist\()"([A-Za-z_]+)"')


def parameter_names() -> list[str]:
    """Every query/form name the app's code reads, and the fields of its forms."""
    names: set[str] = set(ContactForm.base_fields) | {"username", "password", "csrfmiddlewaretoken"}
    for folder in ("checkpoints", "contacts"):
        for source in (ROOT / folder).rglob("*.py"):
            names.update(_READ.findall(source.read_text()))
    return sorted(names)


def url_templates() -> list[str]:
    """Every path of the URLconf, as `/projects/{pk}/versions/{number}/rollback`."""
    found: list[str] = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if route.startswith("admin/"):
                    continue  # Django's own admin, staff only
                walk(pattern.url_patterns, prefix + route)
            elif isinstance(pattern, URLPattern):
                if route.startswith("^"):  # the API's catch-all regex
                    route = "api/v1/nowhere"
                found.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", prefix + route))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


HUGE = "9" * 5000
SURROGATE = "\ud800"
NASTY = ["\x00", "a\x00b", SURROGATE, "²", "١٢", HUGE, str(2**63), "x" * 20_000, "-1"]
hostile_text = st.one_of(
    st.sampled_from(
        [
            "\x00",
            "a\x00b",
            SURROGATE,
            "x\udfffy",
            "²",
            "١٢٣",
            "-1",
            "0",
            "1",
            HUGE,
            str(2**63),
            str(2**31),
            "1e309",
            "nan",
            "x" * 100_000,
            "[" * 5000,
            "true",
            "viewer",
            "owner",
            "app",
            "meta",
            "activity",
            "create",
            "//evil.example/",
            "javascript:alert(1)",
            "<script>",
            "2026-13-45T99:99",
            "ada",
            "ada@example.com",
        ]
    ),
    st.text(max_size=50),
)


def encode(params: list[tuple[str, str]]) -> str:
    """A query string as a client would send it; lone surrogates as their raw UTF-8 bytes
    (what a hand-made request can hold, and Django has to decode)."""

    def one(text: str) -> str:
        return quote(text.encode("utf-8", "surrogatepass"), safe="")

    return "&".join(f"{one(key)}={one(value)}" for key, value in params)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """A demo project with one version after v0, a second member, a token; shared by the module."""
    with django_db_blocker.unblock():
        ada = user_make("hostile-ada")
        project = project_demo(ada, versions=1)
        bob = user_make("hostile-bob")
        member = Membership.objects.create(team=project.team, user=bob, role="viewer")
        ids = {
            "pk": project.pk,
            "number": 1,
            "member_pk": member.pk,
            "job_pk": Job.objects.filter(project=project).first().pk,
            "preview_pk": 1,
            "token_pk": 1,
            "contact_id": "00000000-0000-0000-0000-000000000000",
            "rest": "nowhere",
        }
        raw_token = token_for(ada)
        yield {"ada": ada, "project": project, "ids": ids, "token": raw_token, "team": project.team}
        engine_project_drop(project)
        project.team.delete()
        ada.delete()
        bob.delete()


@pytest.fixture(autouse=True)
def uri_as_the_engine_has_it(world):
    """The module's project is shared, its stored connection string is not: a test that
    rotated its password kept the new one only until its transaction rolled back. Each
    test starts from the engine's (in its own transaction)."""
    world["project"].refresh_from_db()
    connections_refresh(project=world["project"])


def fill(template: str, ids: dict, huge: bool) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "pk" and "teams/" in template:
            return str(ids["team_pk"])
        if huge and name not in {"contact_id", "rest", "uidb64", "token"}:
            return "9" * 30  # beyond a bigint (5,000 digits: test_input_guard)
        return str(ids.get(name, "x"))

    return re.sub(r"\{(\w+)\}", value, template)


@pytest.mark.parametrize("template", url_templates())
@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), method=st.sampled_from(["GET", "POST"]), htmx=st.booleans())
def test_no_page_or_api_answers_500(client, world, template, data, method, htmx):
    if "rotate" in template:
        # Rotating the shared project's password changes its role on the engine for good,
        # while the test transaction rolls the stored connection string back: every later
        # example reading the app's database (contacts pages) would then fail, in whichever
        # order they run (pytest-randomly found it). A rotation takes no input.
        method = "GET"
    ids = dict(world["ids"], team_pk=world["team"].pk)
    path = fill(template, ids, data.draw(st.integers(0, 5), label="huge id") == 0)
    # Every name the app reads gets the same hostile value (so each view meets it in the
    # field it reads), plus a few names and values of Hypothesis' choosing.
    value = data.draw(st.one_of(st.sampled_from(NASTY), hostile_text), label="value")
    params = [(name, value) for name in parameter_names()]
    params += data.draw(st.lists(st.tuples(hostile_text, hostile_text), max_size=2), label="more")
    client.force_login(world["ada"])
    headers = dict(HX) if htmx else {}
    if path.startswith("/api/"):
        headers["Authorization"] = f"Bearer {world['token']}"
    if method == "GET":
        response = client.get(path + "?" + encode(params), headers=headers)
    else:
        response = client.generic(
            "POST",
            path,
            encode(params),
            content_type="application/x-www-form-urlencoded",
            headers=headers,
        )
    assert response.status_code < 500, (path, params, response.content[:500])


json_value = st.recursive(
    st.one_of(
        hostile_text,
        st.integers(min_value=-(2**80), max_value=2**80),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(hostile_text, children, max_size=3)
    ),
    max_leaves=8,
)
API_FIELDS = ["name", "prompt", "sql", "version", "timestamp", "from", "to"]


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), method=st.sampled_from(["POST", "PATCH", "DELETE"]))
def test_no_api_body_answers_500(client, world, data, method):
    # (Not rotate: see test_no_page_or_api_answers_500.)
    api_urls = [u for u in url_templates() if u.startswith("/api/v1/") and "rotate" not in u]
    if method == "DELETE":  # deleting the shared project would leave only 404s to explore
        api_urls.remove("/api/v1/projects/{pk}")
    path = fill(data.draw(st.sampled_from(api_urls), label="url"), world["ids"], False)
    shape = data.draw(st.sampled_from(["object", "deep", "raw"]), label="shape")
    if shape == "object":
        body = data.draw(
            st.dictionaries(st.one_of(st.sampled_from(API_FIELDS), hostile_text), json_value),
            label="body",
        )
        raw = json.dumps(body, ensure_ascii=True).encode()  # \ud800 escapes stay as sent
    elif shape == "deep":
        depth = data.draw(st.integers(min_value=1000, max_value=200_000), label="depth")
        raw = data.draw(st.sampled_from(["[", '{"a":']), label="opener").encode() * depth
    else:
        raw = data.draw(st.binary(max_size=200), label="bytes")
    response = client.generic(
        method,
        path,
        raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {world['token']}"},
    )
    assert response.status_code < 500, (path, raw[:300], response.content[:500])
    if response.status_code != 204:
        assert isinstance(response.json(), dict)  # JSON, never an HTML error page
