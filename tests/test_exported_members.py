"""The public surface: ``__all__`` is real, sorted, and holds every name SPEC section 2 promises."""

from __future__ import annotations

import inspect

import pytest

import smspartner_async as sp

#: The names SPEC section 2 makes public (bulk aside: it arrives with its own issue).
SPEC_NAMES = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AccountInfo",
    "AsyncSMSPartner",
    "AsyncSubaccounts",
    "AuthenticationError",
    "ConflictError",
    "CreatedSubaccount",
    "CreditTransfer",
    "Credits",
    "DecodeError",
    "InsufficientCreditError",
    "InvalidRequestError",
    "NotFoundError",
    "OutcomeUnknownError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryPolicy",
    "SMSPartnerError",
    "ServerError",
    "Subaccount",
    "SubaccountPage",
    "ValidationError",
]
BULK_NAMES = ["BulkReport", "BulkResult"]
#: Public names the team added to SPEC's tree.
OWN_ERROR_NAMES = ["RouteNotFoundError"]
#: The journal of resumable bulk runs and its settlement.
JOURNAL_NAMES = [
    "BulkJournal",
    "JournalError",
    "JournalStatus",
    "Settlement",
    "SettlementVerdict",
]

#: Methods SPEC section 2 calls, per class (bulk_add_credit aside).
SPEC_METHODS = {
    "AsyncSMSPartner": ["account", "aclose", "__aenter__", "__aexit__"],
    "AsyncSubaccounts": [
        "create",
        "list_page",
        "list",
        "add_credit",
        "remove_credit",
        "delete",
    ],
}

#: Model fields of SPEC section 2, in order.
SPEC_FIELDS = {
    "CreatedSubaccount": ["email", "token", "send_confirm_mail_to", "parent_email"],
    "Subaccount": ["id", "email", "type", "token", "api_key", "created_at", "credits"],
    "Credits": ["balance", "currency"],
    "SubaccountPage": ["total", "per_page", "page", "items"],
    "CreditTransfer": ["account_balance", "subaccount_balance", "currency"],
}


@pytest.mark.parametrize("name", sp.__all__)
def test_every_exported_name_exists(name: str) -> None:
    assert hasattr(sp, name)


def test_all_is_sorted_and_unique() -> None:
    assert sp.__all__ == sorted(sp.__all__)
    assert len(sp.__all__) == len(set(sp.__all__))


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_spec_names_are_exported(name: str) -> None:
    assert name in sp.__all__
    assert getattr(sp, name).__module__ == "smspartner_async"


@pytest.mark.parametrize("name", OWN_ERROR_NAMES)
def test_own_error_names_are_exported_api_errors(name: str) -> None:
    assert name in sp.__all__
    cls = getattr(sp, name)
    assert cls.__module__ == "smspartner_async"
    assert issubclass(cls, sp.APIError)
    assert not issubclass(cls, sp.NotFoundError)  # a routing miss never reads as "not found"


@pytest.mark.parametrize("name", BULK_NAMES)
def test_bulk_names_are_exported_once_bulk_lands(name: str) -> None:
    if not hasattr(sp.AsyncSubaccounts, "bulk_add_credit"):
        pytest.skip("bulk_add_credit arrives with its own issue")
    assert name in sp.__all__


@pytest.mark.parametrize("name", JOURNAL_NAMES)
def test_journal_names_are_exported(name: str) -> None:
    assert name in sp.__all__


def test_bulk_methods_take_a_journal() -> None:
    for method in (sp.AsyncSubaccounts.bulk_add_credit, sp.AsyncSubaccounts.bulk_remove_credit):
        assert inspect.signature(method).parameters["journal"].default is None


def test_version_is_a_string() -> None:
    assert isinstance(sp.__version__, str)
    assert sp.__version__


def test_set_testing_is_public() -> None:
    assert callable(sp.set_testing)
    assert "set_testing" in sp.__all__


@pytest.mark.parametrize(("cls", "methods"), SPEC_METHODS.items())
def test_spec_methods(cls: str, methods: list[str]) -> None:
    for method in methods:
        assert callable(getattr(getattr(sp, cls), method))


@pytest.mark.parametrize(
    "method", ["account", "create", "list_page", "add_credit", "remove_credit", "delete"]
)
def test_calls_are_coroutines(method: str) -> None:
    owner = sp.AsyncSMSPartner if method == "account" else sp.AsyncSubaccounts
    assert inspect.iscoroutinefunction(getattr(owner, method))


def test_list_is_not_a_coroutine() -> None:
    assert not inspect.iscoroutinefunction(sp.AsyncSubaccounts.list)


def test_constructor_signature() -> None:
    params = inspect.signature(sp.AsyncSMSPartner).parameters
    assert list(params)[:5] == ["api_key", "base_url", "timeout", "retry", "http_client"]
    assert params["api_key"].default is None
    # None stands for SPEC's defaults: the real API unless SMSPARTNER_BASE_URL names another,
    # and 10 s unless a caller's http_client has a timeout of its own (tests/test_options.py).
    assert params["base_url"].default is None
    assert sp.AsyncSMSPartner().base_url == "https://api.smspartner.fr/v1/"
    assert params["timeout"].default is None
    assert params["http_client"].default is None


def test_create_signature() -> None:
    params = inspect.signature(sp.AsyncSubaccounts.create).parameters
    assert list(params) == [
        "self",
        "type",
        "email",
        "is_buyer",
        "credit_to_attribute",
        "title",
        "firstname",
        "lastname",
    ]
    for name in list(params)[2:]:
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY
        assert params[name].default is None


def test_list_signature() -> None:
    assert inspect.signature(sp.AsyncSubaccounts.list).parameters["prefetch"].default == 4
    assert inspect.signature(sp.AsyncSubaccounts.list_page).parameters["page"].default == 1


def test_retry_policy_signature() -> None:
    policy = sp.RetryPolicy()
    assert (policy.max_attempts, policy.initial_delay, policy.max_delay, policy.jitter) == (
        4,
        0.5,
        8.0,
        True,
    )


@pytest.mark.parametrize(("cls", "fields"), SPEC_FIELDS.items())
def test_model_fields(cls: str, fields: list[str]) -> None:
    import attrs  # noqa: PLC0415

    model = getattr(sp, cls)
    assert [f.name for f in attrs.fields(model)] == fields
    assert model.__setattr__ is not object.__setattr__  # frozen


def test_account_info_fields() -> None:
    import attrs  # noqa: PLC0415

    names = [f.name for f in attrs.fields(sp.AccountInfo)]
    assert names[:5] == ["username", "firstname", "lastname", "balance", "currency"]


def test_api_error_attributes() -> None:
    error = sp.APIError("m", code=1, status_code=400, endpoint="me")
    assert (error.code, error.message, error.status_code, error.endpoint, error.details) == (
        1,
        "m",
        400,
        "me",
        (),
    )
    assert sp.RateLimitError("slow", retry_after=3.0).retry_after == 3.0
