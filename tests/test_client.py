"""The client against the sandbox over real HTTP: login, headers, paging by meta, errors."""

from __future__ import annotations

import threading

import pytest
import requests
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from bulkmail.api.walk import walk
from bulkmail.api.client import Client
from bulkmail.api.http import check_base_url
from bulkmail.errors import ApiError, AuthError, InputError, RejectedError, UnreachableError
from bulkmail.api.retry import Retry
from bulkmail.sandbox import Fault


def test_login_returns_account_id_and_list_sends_bearer_and_account_headers(client, sandbox):
    assert client.login() == sandbox.settings.account_id
    sandbox.store.add("bob@acme.com")
    page = client.get_page(1)
    assert [m["email_address"] for m in page.items] == ["bob@acme.com"]


def test_sandbox_refuses_a_login_that_is_not_a_multipart_form(sandbox):
    answer = requests.post(sandbox.url + "/auth", data={"username": "admin@acme.com", "password": "sandbox-demo"})
    assert answer.status_code == 400
    assert answer.json() == {"message": "Login expects a multipart form with username and password"}


def test_wrong_password_raises_auth_error_naming_the_user(sandbox, sleeps):
    client = Client(sandbox.url, "admin@acme.com", "wrong", retry=Retry(sleep=sleeps))
    with pytest.raises(AuthError) as caught:
        client.login()
    assert str(caught.value) == ("Login failed for admin@acme.com: 401 Unauthorized for POST /auth: Invalid username "
                                 "or password. Check BULKMAIL_USERNAME and BULKMAIL_PASSWORD.")
    assert "wrong" not in str(caught.value)


@pytest.mark.parametrize("settings", [{"two_factor": True}], indirect=True)
def test_login_answer_without_token_is_reported_as_two_factor(client):
    with pytest.raises(AuthError, match="second factor"):
        client.login()


def test_login_does_not_follow_a_redirect_that_would_carry_the_password():
    received = []

    def elsewhere(environ, start_response):
        received.append(Request(environ).get_data())
        return Response("ok")(environ, start_response)

    def redirecting(environ, start_response):
        return Response(status=307, headers={"Location": target_url + "/auth"})(environ, start_response)

    servers = [make_server("127.0.0.1", 0, app) for app in (elsewhere, redirecting)]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    target_url = f"http://127.0.0.1:{servers[0].server_port}"
    try:
        client = Client(f"http://127.0.0.1:{servers[1].server_port}", "admin@acme.com", "s3cret")
        with pytest.raises(AuthError, match="redirected"):
            client.login()
        assert received == []
    finally:
        for server in servers:
            server.shutdown()


@pytest.mark.parametrize("settings", [{"page_size_max": 7}], indirect=True)
def test_pages_follow_the_granted_page_size_and_cover_every_mailbox_once(client, sandbox):
    sandbox.store.seed(50, sandbox.settings.domains)
    pages = list(walk(client, page_size=1000, concurrency=3))
    assert [len(p.items) for p in pages] == [7] * 7 + [1]
    ids = [m["id"] for p in pages for m in p.items]
    assert sorted(ids) == sorted(sandbox.store.mailboxes) and len(set(ids)) == 50
    # 8 pages, plus page 1 and the last page read again: the check that nothing moved meanwhile
    assert sandbox.store.requests[("GET", "/email/mailbox/v2")] == 10


@pytest.mark.parametrize("settings", [{"ignore_page_size": True, "page_size_default": 20}], indirect=True)
def test_a_server_ignoring_page_size_is_walked_by_its_meta(client, sandbox):
    sandbox.store.seed(45, sandbox.settings.domains)
    pages = list(walk(client, page_size=500))
    assert [len(p.items) for p in pages] == [20, 20, 5]


@pytest.mark.parametrize("settings", [{"send_meta": False, "page_size_max": 10}], indirect=True)
def test_a_server_giving_no_page_count_is_walked_until_a_short_page(client, sandbox):
    sandbox.store.seed(25, sandbox.settings.domains)
    pages = list(walk(client, concurrency=3))
    assert [len(p.items) for p in pages] == [10, 10, 5]
    assert len({m["id"] for p in pages for m in p.items}) == 25


@pytest.mark.parametrize("settings", [{"send_meta": False, "page_size_max": 10, "ignore_page": True}], indirect=True)
def test_a_server_giving_no_page_count_and_ignoring_page_is_still_detected(client, sandbox):
    sandbox.store.seed(25, sandbox.settings.domains)
    with pytest.raises(ApiError, match="returned the same mailboxes for page 2 as for page 1"):
        list(walk(client))


@pytest.mark.parametrize("settings", [{"ignore_page": True, "page_size_max": 10}], indirect=True)
def test_a_server_repeating_the_same_page_is_detected_instead_of_looped(client, sandbox):
    sandbox.store.seed(30, sandbox.settings.domains)
    with pytest.raises(ApiError, match=r"returned the same mailboxes for page \d+ as for page 1; the server ignores paging"):
        list(walk(client, concurrency=1))


def test_expired_token_gets_one_new_login_and_the_call_is_replayed(client, sandbox):
    client.login()
    sandbox.store.add("bob@acme.com")
    sandbox.store.expire_tokens()
    assert client.get_page(1).items[0]["email_address"] == "bob@acme.com"
    assert sandbox.store.requests[("POST", "/auth")] == 2


def test_wrong_account_header_is_an_auth_error_with_the_server_message(sandbox, sleeps):
    client = Client(sandbox.url, "admin@acme.com", "sandbox-demo", account_id="someone-else", retry=Retry(sleep=sleeps))
    with pytest.raises(AuthError) as caught:
        client.get_page(1)
    assert str(caught.value) == "403 Forbidden for GET /email/mailbox/v2: Access to this account is forbidden"


@pytest.mark.parametrize("settings", [{"error_style": "error"}, {"error_style": "html"}, {"error_style": "message"}], indirect=True)
def test_rejection_message_is_taken_from_json_message_error_or_an_html_page(client):
    with pytest.raises(RejectedError) as caught:
        client.add([{"email_address": "x@partner.org"}])
    assert "400 Bad Request for POST /email/mailbox:" in str(caught.value)
    assert str(caught.value).endswith("Domain not registered for this account: partner.org")


def test_get_retries_429_waiting_what_retry_after_says(client, sandbox, sleeps):
    client.login()
    sandbox.script(Fault(429, retry_after=7), Fault(503))
    assert client.get_page(1).items == []
    assert sleeps[0] == 7.0 and len(sleeps) == 2
    assert sandbox.store.requests[("GET", "/email/mailbox/v2")] == 3


def test_persistent_503_gives_up_with_growing_capped_waits(sandbox, sleeps):
    client = Client(sandbox.url, "admin@acme.com", "sandbox-demo",
                    retry=Retry(attempts=8, backoff=1, cap=5, sleep=sleeps, random=lambda: 1.0))
    client.login()
    sandbox.script(*[Fault(503, method="GET")] * 8)
    with pytest.raises(UnreachableError, match=r"The service kept failing \(503 Service Unavailable"):
        client.get_page(1)
    assert sleeps == [1, 2, 4, 5, 5, 5, 5]


def test_unreachable_server_is_reported_after_the_tries(sleeps):
    client = Client("http://127.0.0.1:9", "a", "b", retry=Retry(attempts=2, sleep=sleeps))
    with pytest.raises(UnreachableError) as caught:
        client.login()
    assert str(caught.value) == ("Cannot reach http://127.0.0.1:9 (POST /auth: connection refused or host not found); "
                                 "gave up after 2 attempts. Check --base-url and the network.")


@pytest.mark.parametrize("url", ["http://example.com", "http://10.0.0.5:8080"])
def test_plain_http_is_refused_for_a_remote_host(url):
    with pytest.raises(InputError, match="Refusing to send credentials over plain http://"):
        check_base_url(url)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8025/", "http://localhost", "http://[::1]:80", "https://api.example.com"])
def test_https_and_loopback_http_are_accepted(url):
    assert check_base_url(url) == url.rstrip("/")


def test_add_sends_numbered_placeholder_ids_and_remove_sends_both_ids(client, sandbox):
    client.add([{"email_address": "a@acme.com", "executive": 1}, {"email_address": "b@acme.com"}])
    a = sandbox.store.find("a@acme.com")
    assert a["executive"] == 1 and sandbox.store.find("b@acme.com")["executive"] == 0
    client.remove([a])
    assert sandbox.store.addresses() == {"b@acme.com"}


@pytest.mark.parametrize("settings", [{"post_answer": v, "delete_answer": d} for v, d in
                                      [("success", "body"), ("list", "empty"), ("created", "body"), ("empty", "empty")]],
                         indirect=True)
def test_every_documented_answer_style_counts_as_accepted(client, sandbox):
    client.add([{"email_address": "a@acme.com"}])
    client.remove([sandbox.store.find("a@acme.com")])
    assert sandbox.store.addresses() == set()
