"""The client's one response shape check and its status -> typed error table."""

from __future__ import annotations

import pytest

from customerio import STATUS_ERRORS, response_part
from customerio.errors import (
    AuthenticationError,
    BadRequestError,
    InvalidResponseError,
    NotFoundError,
    PermissionDeniedError,
)


def test_a_present_part_of_the_right_kind_is_returned():
    assert response_part({"items": [1]}, "items", "GET /v1/x") == [1]
    assert response_part({"export": {"id": 1}}, "export", "GET /v1/x", kind=dict) == {"id": 1}


def test_a_missing_or_null_part_is_empty_unless_required():
    assert response_part({}, "items", "GET /v1/x") == []
    assert response_part({"items": None}, "items", "GET /v1/x") == []
    with pytest.raises(InvalidResponseError, match=r"^Customer.io answered GET /v1/exports/7 without an 'export' "
                                                  r"object; try again later\.$") as info:
        response_part({}, "export", "GET /v1/exports/7", kind=dict, required=True)
    assert info.value.path == "/v1/exports/7"


@pytest.mark.parametrize("body", [{"items": "text"}, {"items": {"a": 1}}, {"items": 3}])
def test_a_part_of_the_wrong_kind_is_one_sentence(body):
    with pytest.raises(InvalidResponseError, match=r"^Customer.io answered POST /v1/objects without a 'items' list"):
        response_part(body, "items", "POST /v1/objects")


@pytest.mark.parametrize(("status", "error"), [(400, BadRequestError), (401, AuthenticationError),
                                               (403, PermissionDeniedError), (404, NotFoundError),
                                               (422, BadRequestError)])
def test_the_status_table_gives_typed_errors(status, error):
    made = STATUS_ERRORS[status]("GET", "/v1/x", status, lambda: "the detail")
    assert type(made) is error and made.status == status and made.path == "/v1/x"
    assert ("the detail" in str(made)) == (error is BadRequestError)
