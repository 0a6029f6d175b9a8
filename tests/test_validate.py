"""Offline row checks; the email fast path agrees with email-validator."""

from __future__ import annotations

import csv

import pytest
from hypothesis import given, settings, strategies as st

from bulkmail.errors import InputError
from bulkmail.files.reading import read_table
from bulkmail.jobs.validate import address_problem, fast_ok, validate
from helpers import write_csv


def rows_of(tmp_path, text: str, **options):
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    return validate(read_table(path), **options)


def outcome(rows):
    return [(r.row, r.status, r.detail) for r in rows]


def test_each_offline_rule_gives_its_own_detail(tmp_path):
    rows = rows_of(tmp_path, "action,email,executive\n"
                             "add,ok@acme.com,yes\n"
                             "ADD , Ok@Acme.com ,YES\n"
                             "delete,x@acme.com,\n"
                             ",y@acme.com,\n"
                             "add,,\n"
                             "add,no-at-sign,\n"
                             "add,exec@acme.com,maybe\n"
                             "remove,exec2@acme.com,maybe\n"
                             "add,bad\x00nul@acme.com,\n")
    assert outcome(rows) == [
        (2, "planned", ""),
        (3, "duplicate", "same as row 2"),
        (4, "invalid", "unknown action 'delete': use add or remove"),
        (5, "invalid", "action is empty: use add or remove"),
        (6, "invalid", "email address is empty"),
        (7, "invalid", "invalid email address 'no-at-sign': An email address must have an @-sign."),
        (8, "invalid", "executive must be 1/0, yes/no, true/false or y/n, not 'maybe'"),
        (9, "planned", ""),  # executive is not used by a remove
        (10, "invalid", "the row contains a NUL character; retype it"),
    ]
    assert rows[0].executive == 1


def test_a_nul_in_any_cell_but_the_name_makes_the_row_invalid_and_one_in_the_name_is_kept(tmp_path):
    rows = rows_of(tmp_path, "action,email,executive,realname,note\n"
                             "add,a@acme.com,y\x00es,Ann,\n"
                             "add,b@acme.com,,Bo\x00b,\n"
                             "remove,c@acme.com,,,x\x00\n")
    assert outcome(rows) == [(2, "invalid", "the row contains a NUL character; retype it"), (3, "planned", ""),
                             (4, "invalid", "the row contains a NUL character; retype it")]
    assert rows[1].realname == "Bo\x00b"


@pytest.mark.parametrize("value,flag", [("1", 1), ("yes", 1), ("TRUE", 1), ("y", 1), ("Y", 1), ("0", 0), ("no", 0),
                                        ("FALSE", 0), ("n", 0), ("", None)])
def test_executive_values(tmp_path, value, flag):
    [row] = rows_of(tmp_path, f"action,email,executive\nadd,a@acme.com,{value}\n")
    assert (row.status, row.executive) == ("planned", flag)


def test_add_and_remove_of_one_address_makes_both_invalid(tmp_path):
    rows = rows_of(tmp_path, "action,email\nadd,a@acme.com\nremove,A@ACME.COM\nadd,a@acme.com\n")
    assert outcome(rows) == [(2, "invalid", "row 3 removes the same address; keep one of the two rows"),
                             (3, "invalid", "row 2 adds the same address; keep one of the two rows"),
                             (4, "duplicate", "same as row 2")]


def test_domain_allow_list(tmp_path):
    rows = rows_of(tmp_path, "action,email\nadd,a@acme.com\nadd,b@partner.org\n", domains=["acme.com"])
    assert outcome(rows)[1] == (3, "invalid", "domain partner.org is not among --domain acme.com")


def test_action_option_fills_a_file_without_an_action_column(tmp_path):
    rows = rows_of(tmp_path, "email\na@acme.com\n", action="remove")
    assert [(r.action, r.status) for r in rows] == [("remove", "planned")]


def test_file_without_action_column_or_option_is_refused(tmp_path):
    with pytest.raises(InputError) as caught:
        rows_of(tmp_path, "email,name\na@acme.com,A\n")
    assert str(caught.value) == ("in.csv has no action column (headers: email, name). Add an 'action' column (add or "
                                 "remove), or pass --action add or --action remove.")


CORPUS = ["bob@acme.com", "first.last@sub.acme.co.uk", "a+tag@acme.com", "o'brien@acme.ie", "x@acme.local",
          "x@test", "x@acme.test", ".dot@acme.com", "dot.@acme.com", "a..b@acme.com", "a@-acme.com", "a@acme-.com",
          "a@acme.c", "a@acme.123", "a" * 65 + "@acme.com", "a@" + "b" * 64 + ".com", "a@acme..com", "a b@acme.com",
          "a@acme.com.", "\"quoted\"@acme.com", "a@[127.0.0.1]", "ünï@acme.com", "a@xn--nxasmq6b.com", "A@ACME.COM",
          "a@acme.onion", "a_b%c@acme.com", "a@b.arpa", "user@localhost", "a@xn--abc.com", "a@xn--a.com",
          "a@ac--me.com", "a@ab--cd.com", "a@sub.xn--abc.com", ("x" * 60 + ".") * 4 + "@acme.com"]


def test_fast_path_never_accepts_what_email_validator_refuses_on_a_corpus():
    vouched = fast_ok(CORPUS)
    for address, fast in zip(CORPUS, vouched):
        if fast:
            assert address_problem(address) == "", address
    assert sum(vouched) >= 6  # and it does take the common cases


@settings(max_examples=400, deadline=None)
@given(st.from_regex(r"[A-Za-z0-9_%+'.-]{1,70}@([A-Za-z0-9-]{1,66}\.){1,3}[A-Za-z0-9-]{1,26}", fullmatch=True))
def test_fast_path_agrees_with_email_validator_on_generated_addresses(address):
    if fast_ok([address])[0]:
        assert address_problem(address) == ""


def test_validate_verdicts_equal_email_validators_on_the_corpus(tmp_path):
    path = tmp_path / "corpus.csv"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["action", "email"]] + [["add", a] for a in CORPUS])
    rows = validate(read_table(path))
    assert [r.email_address for r in rows] == CORPUS
    assert [r.status == "invalid" for r in rows] == [address_problem(a) != "" for a in CORPUS]


@pytest.mark.parametrize("rule,cells,problem", [
    ("no_nul", dict(has_nul=True), "the row contains a NUL character; retype it"),
    ("known_action", dict(action="delete"), "unknown action 'delete': use add or remove"),
    ("known_action", dict(action=""), "action is empty: use add or remove"),
    ("has_address", dict(address=""), "email address is empty"),
    ("valid_address", dict(address="a@@b", vouched=False),
     "invalid email address 'a@@b': The part after the @-sign contains invalid characters: '@'."),
    ("allowed_domain", dict(allowed=frozenset({"acme.com"}), allowed_said="acme.com", address="a@Other.org"),
     "domain Other.org is not among --domain acme.com"),
    ("executive_flag", dict(flag="maybe"), "executive must be 1/0, yes/no, true/false or y/n, not 'maybe'"),
])
def test_each_rule_alone_says_what_is_wrong_and_passes_a_good_row(rule, cells, problem):
    from bulkmail.jobs import validate as rules
    good = rules.Cells(address="a@acme.com", action="add", flag="yes", has_nul=False, vouched=True,
                       allowed=frozenset())
    check = getattr(rules, rule)
    assert check(good) == ""
    assert check(good._replace(**cells)) == problem


def test_the_special_use_names_the_fast_path_leaves_to_email_validator_are_email_validators_own():
    from email_validator import SPECIAL_USE_DOMAIN_NAMES

    from bulkmail.jobs import validate

    assert sorted(validate.SPECIAL_USE_DOMAIN_NAMES) == sorted(SPECIAL_USE_DOMAIN_NAMES)


def test_a_nul_typed_into_a_cell_after_reading_makes_its_row_invalid(tmp_path):
    sheet = read_table(write_csv(tmp_path / "w.csv", ["action,email,executive", "add,a@acme.com,yes"]))
    sheet.edit(2, "executive", "y\x00es")  # what the page's grid does with a cell the user retypes
    assert outcome(validate(sheet)) == [(2, "invalid", "the row contains a NUL character; retype it")]
