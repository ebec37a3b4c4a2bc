"""Console pages over a real store, through the app (no browser): what each role is
shown, bad filter values kept beside their field, sign-in redirects, error pages."""

from __future__ import annotations

import re

from lakeworks.security.permissions import Role
from tests.integration.api.conftest import PASSWORD, WORKSPACE, Api

NODE = f"/w/{WORKSPACE}/studio/sales_pipeline/02_build_sales_daily"


def test_a_developer_gets_the_editor_controls_and_a_viewer_does_not(api: Api) -> None:
    developer = api.member("dora", Role.DEVELOPER)
    viewer = api.member("vic", Role.VIEWER)
    page = api.client.get(NODE, headers=developer).text
    assert 'id="save"' in page and 'id="run-dev"' in page
    assert "INSERT OVERWRITE TABLE sales_daily" in page  # the file, for the editor
    shown = api.client.get(NODE, headers=viewer).text
    assert 'id="save"' not in shown and 'id="run-dev"' not in shown
    assert 'data-editable="no"' in shown
    nav = re.findall(r'<nav class="side".*?</nav>', shown, re.S)[0]
    assert "Data Studio" in nav and "Ad-hoc SQL" in nav


def test_an_operator_gets_the_operations_controls_in_prod_only(api: Api) -> None:
    operator = api.member("otto", Role.OPERATOR)
    prod = api.client.get(f"/w/{WORKSPACE}/envs/prod/ops", headers=operator).text
    dev = api.client.get(f"/w/{WORKSPACE}/envs/dev/ops", headers=operator).text
    assert 'id="bulk"' in prod and "Rerun with downstream" in prod
    assert 'id="bulk"' not in dev


def test_a_bad_filter_is_explained_beside_its_field_and_kept(api: Api) -> None:
    viewer = api.member("vic", Role.VIEWER)
    page = api.client.get(
        f"/w/{WORKSPACE}/envs/prod/ops?bizdate=2026-13&state=nonsense", headers=viewer
    ).text
    assert 'value="2026-13"' in page
    assert "a business date is YYYYMMDD or YYYY-MM-DD" in page
    assert "unknown state" in page
    assert "Fix the filters above." in page


def test_signing_in_returns_to_the_page_asked_for(api: Api) -> None:
    api.member("vic", Role.VIEWER)
    wanted = f"/w/{WORKSPACE}/envs/prod/ops?state=failed"
    first = api.client.get(wanted, follow_redirects=False)
    assert first.status_code == 303
    login_url = first.headers["location"]
    assert login_url == "/login?next=%2Fw%2Fsales-lab%2Fenvs%2Fprod%2Fops%3Fstate%3Dfailed"
    form = api.client.get(login_url).text
    assert f'data-next="{wanted}"' in form.replace("&amp;", "&")
    api.login("vic", PASSWORD)
    again = api.client.get(login_url, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == wanted
    assert (
        api.client.get("/login?next=//evil.example/x", follow_redirects=False).headers["location"]
        == "/"
    )


def test_an_ended_session_sends_the_browser_to_sign_in_again(api: Api) -> None:
    api.member("vic", Role.VIEWER)
    api.login("vic", PASSWORD)
    page = f"/w/{WORKSPACE}/envs/prod/ops"
    assert api.client.get(page, follow_redirects=False).status_code == 200
    user = api.services.users.find("vic")
    assert user is not None
    api.services.sessions.revoke_all(user.id)
    gone = api.client.get(page, follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login?next=")
    assert "Your session ended" in api.client.get(gone.headers["location"]).text


def test_error_pages_say_what_happened(api: Api) -> None:
    viewer = api.member("vic", Role.VIEWER)
    refused = api.client.get(f"/w/{WORKSPACE}/admin/audit", headers=viewer)
    assert refused.status_code == 403 and "Not allowed" in refused.text
    assert "do not allow audit.read" in refused.text
    missing = api.client.get(f"{NODE}x", headers=viewer)
    assert missing.status_code == 404 and "02_build_sales_dailyx" in missing.text
    nowhere = api.client.get("/no/such/page", headers=viewer)
    assert nowhere.status_code == 404 and "There is no page at /no/such/page" in nowhere.text
    root = api.member("root", superuser=True)
    unknown = api.client.get("/w/not-a-workspace", headers=root)
    assert unknown.status_code == 404
    assert api.client.get("/api/no/such/route", headers=viewer).json()["error"]["code"] == (
        "not_found"
    )
