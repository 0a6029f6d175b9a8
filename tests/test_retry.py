"""The retry policy decides what may be sent again, and for how long; the throttle waits."""

from __future__ import annotations

import threading

import pytest

from bulkmail.api.retry import Retry, Throttle


@pytest.mark.parametrize("method,status,reached,retry", [
    ("GET", None, True, True),        # a dropped read: read again
    ("GET", 503, True, True),
    ("GET", 404, True, False),        # an answer, not a fault
    ("POST", None, False, True),      # refused connection: the change never left
    ("POST", None, True, False),      # dropped after sending: in doubt, re-read instead
    ("DELETE", 502, True, False),     # a 5xx may come after the change was made
    ("POST", 429, True, True),        # refused before anything was done
    ("POST", 409, True, False),
])
def test_is_retry_sends_again_only_what_surely_changed_nothing(method, status, reached, retry):
    assert Retry().is_retry(method, status, reached=reached) is retry


def test_the_login_is_no_change_of_mailboxes():
    assert Retry().is_retry("POST", 503, change=False) is True


def test_is_exhausted_counts_every_try_and_gives_an_unreachable_login_two():
    policy = Retry(attempts=6)
    assert [policy.is_exhausted(n) for n in (1, 5, 6)] == [False, False, True]
    assert [policy.is_exhausted(n, login_unreachable=True) for n in (1, 2)] == [False, True]


def test_delay_grows_with_jitter_up_to_the_cap_and_honours_retry_after_up_to_its_cap():
    policy = Retry(backoff=0.5, cap=4, retry_after_cap=60, random=lambda: 1.0)
    assert [policy.delay(n) for n in (1, 2, 3, 4, 5)] == [0.5, 1.0, 2.0, 4, 4]
    assert Retry(random=lambda: 0.25).delay(3) == 0.5
    assert policy.delay(1, retry_after=7) == 7 and policy.delay(1, retry_after=900) == 60


def test_wait_sleeps_the_delay():
    slept = []
    assert Retry(random=lambda: 1.0, sleep=slept.append).wait(2) == 1.0
    assert slept == [1.0]


def test_the_throttle_really_holds_a_caller_until_a_place_frees():
    throttle = Throttle(1)
    inside, entered = threading.Event(), threading.Event()
    order = []

    def second():
        with throttle:
            order.append("second")
            entered.set()

    with throttle:
        inside.set()
        waiter = threading.Thread(target=second)
        waiter.start()
        assert not entered.wait(0.2)  # held while the first holds the only place
        order.append("first done")
    assert entered.wait(5)
    waiter.join()
    assert order == ["first done", "second"]
