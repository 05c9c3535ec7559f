"""Login, token checks, expiry, refresh, logout and revocation over real HTTP."""

from __future__ import annotations

import base64
import json
import time

from sandfly_assets.simulator import SandflySimulator

from .conftest import PASSWORD, USER, ApiClient, make_config

UNAUTHORIZED = {"status": 401, "title": "Unauthorized", "detail": "authentication failed", "data": ""}


def _claims(token: str) -> dict:
    """Decode the claims part of a JWT."""
    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def test_login_returns_two_jwt_shaped_tokens(shared_sim: SandflySimulator) -> None:
    api = ApiClient(shared_sim.url)
    response = api.login()
    assert response.status_code == 200
    body = response.json()
    assert sorted(body) == ["access_token", "refresh_token"]
    assert [len(body["access_token"].split(".")), len(body["refresh_token"].split("."))] == [3, 3]
    access = _claims(body["access_token"])
    assert (access["sub"], access["type"], access["fresh"]) == (USER, "access", True)
    assert access["exp"] - access["iat"] == 1800
    assert _claims(body["refresh_token"])["type"] == "refresh"


def test_wrong_password_gets_the_spec_401_body(shared_sim: SandflySimulator) -> None:
    response = ApiClient(shared_sim.url).login(password="nope")
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_wrong_username_gets_401(shared_sim: SandflySimulator) -> None:
    response = ApiClient(shared_sim.url).login(username="root", password=PASSWORD)
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED


def test_login_without_password_is_a_400(shared_sim: SandflySimulator) -> None:
    response = ApiClient(shared_sim.url).post("/auth/login", json={"username": USER})
    assert response.status_code == 400
    assert response.json()["status"] == 400
    assert response.json()["title"] == "Bad Request"


def test_full_details_adds_dates_claims_user_and_license(shared_sim: SandflySimulator) -> None:
    body = ApiClient(shared_sim.url).login(full_details=True).json()
    assert sorted(body) == sorted(
        [
            "access_token",
            "refresh_token",
            "access_token_issue_date",
            "access_token_expire_date",
            "session_expiration_date",
            "access_token_data",
            "refresh_token_issue_date",
            "refresh_token_expire_date",
            "refresh_token_data",
            "user",
            "license",
            "llm",
            "response_actions",
            "saved_views",
        ]
    )
    assert body["access_token_data"] == _claims(body["access_token"])
    assert body["user"]["username"] == USER
    assert body["user"]["roles"] == ["api_result_read"]
    assert body["license"]["version"] == 3


def test_data_calls_need_a_bearer_token(shared_sim: SandflySimulator) -> None:
    anonymous = ApiClient(shared_sim.url)
    response = anonymous.get("/hosts")
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    anonymous.use_token("not-a-token")
    assert anonymous.get("/version").json() == UNAUTHORIZED


def test_head_on_base_url_answers_401(shared_sim: SandflySimulator) -> None:
    response = ApiClient(shared_sim.url).session.head(shared_sim.url, timeout=10)
    assert response.status_code == 401


def test_access_token_expires_after_its_ttl() -> None:
    with SandflySimulator(make_config(days=1, results_per_day=5, token_ttl_seconds=1)) as sim:
        api = ApiClient(sim.url)
        api.login()
        assert api.get("/version").status_code == 200
        time.sleep(1.2)
        expired = api.get("/version")
        assert expired.status_code == 401
        assert expired.json() == UNAUTHORIZED
        refreshed = api.post("/auth/login_refresh", headers={"Authorization": f"Bearer {api.refresh_token}"})
        assert refreshed.status_code == 200
        api.use_token(refreshed.json()["access_token"])
        assert api.get("/version").status_code == 200


def test_refresh_returns_a_new_non_fresh_access_token(shared_sim: SandflySimulator) -> None:
    api = ApiClient(shared_sim.url)
    api.login()
    old_access = api.access_token
    response = api.post(
        "/auth/login_refresh",
        headers={"Authorization": f"Bearer {api.refresh_token}"},
        json={"full_details": False},
    )
    assert response.status_code == 200
    new_access = response.json()["access_token"]
    assert new_access != old_access
    assert response.json()["refresh_token"] == api.refresh_token
    assert _claims(new_access)["fresh"] is False
    api.use_token(new_access)
    assert api.get("/version").status_code == 200


def test_tokens_cannot_stand_in_for_each_other(shared_sim: SandflySimulator) -> None:
    api = ApiClient(shared_sim.url)
    api.login()
    as_refresh = api.post("/auth/login_refresh", headers={"Authorization": f"Bearer {api.access_token}"})
    assert as_refresh.status_code == 401
    api.use_token(api.refresh_token)
    assert api.get("/version").status_code == 401


def test_logout_revokes_the_session(shared_sim: SandflySimulator) -> None:
    api = ApiClient(shared_sim.url)
    api.login()
    refresh = api.refresh_token
    response = api.delete("/auth/logout")
    assert (response.status_code, response.json()) == (200, {})
    assert api.get("/version").status_code == 401
    assert api.post("/auth/login_refresh", headers={"Authorization": f"Bearer {refresh}"}).status_code == 401


def test_revoke_all_tokens_then_login_again(fresh_sim: SandflySimulator, fresh_client: ApiClient) -> None:
    assert fresh_client.get("/version").status_code == 200
    fresh_sim.revoke_all_tokens()
    response = fresh_client.get("/version")
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert fresh_client.login().status_code == 200
    assert fresh_client.get("/version").status_code == 200


def test_call_counts_name_endpoints_by_template(fresh_sim: SandflySimulator, fresh_client: ApiClient) -> None:
    fresh_client.get("/hosts")
    fresh_client.get("/hosts/1")
    fresh_client.get("/results/getMaxID")
    assert fresh_sim.call_counts == {
        "POST /auth/login": 1,
        "GET /hosts": 1,
        "GET /hosts/{host_id}": 1,
        "GET /results/getMaxID": 1,
    }
