"""The sandbox kit's request check: a body against a Swagger 2.0 or OpenAPI 3 schema, closed objects."""

from __future__ import annotations

from typing import Any

import pytest

from hub.sandbox.kit import SchemaProblem, request_schema, schema_problems

#: A Swagger 2.0 document (a body parameter) and an OpenAPI 3 one (a request body with ``$ref``).
SWAGGER = {
    "swagger": "2.0",
    "paths": {
        "/lists/{id}": {
            "post": {
                "parameters": [
                    {"name": "id", "in": "path", "type": "string"},
                    {
                        "name": "body",
                        "in": "body",
                        "schema": {
                            "type": "object",
                            "required": ["members"],
                            "properties": {
                                "members": {
                                    "type": "array",
                                    "maxItems": 2,
                                    "items": {
                                        "type": "object",
                                        "required": ["email_address"],
                                        "properties": {
                                            "email_address": {"type": "string", "title": "Email"},
                                            "status": {"type": "string", "enum": ["subscribed", "unsubscribed"]},
                                            "merge_fields": {"type": "object", "additionalProperties": {}},
                                            "vip": {"type": "boolean"},
                                            "score": {"type": "number", "minimum": 0, "maximum": 5},
                                        },
                                    },
                                },
                                "update_existing": {"type": "boolean"},
                            },
                        },
                    },
                ]
            }
        }
    },
}
OPENAPI = {
    "openapi": "3.0.1",
    "paths": {
        "/batch": {
            "post": {
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}}}
            }
        }
    },
    "components": {
        "schemas": {
            "Batch": {
                "type": "object",
                "properties": {"inputs": {"type": "array", "items": {"$ref": "#/components/schemas/In"}}},
            },
            "In": {
                "type": "object",
                "required": ["id"],
                "properties": {
                    "id": {"type": "string"},
                    "properties": {"type": "object", "additionalProperties": {"type": "string"}},
                },
            },
        }
    },
}


def problems(body: Any, spec: Any = SWAGGER, method: str = "POST", path: str = "/lists/{id}") -> list[str]:
    return [str(p) for p in schema_problems(request_schema(spec, method, path), body, spec=spec)]


def test_a_conforming_body_has_no_problem() -> None:
    member = {"email_address": "a@x.co", "status": "subscribed", "merge_fields": {"FNAME": "A", "POINTS": 3}}
    assert problems({"members": [member, {"email_address": "b@x.co", "vip": True, "score": 4.5}]}) == []
    assert problems({"inputs": [{"id": "a@x.co", "properties": {"firstname": "A"}}]}, OPENAPI, path="/batch") == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"members": [{"email_address": "a@x.co", "status_if_new": "subscribed"}]},
            "members[0].status_if_new: not a documented field",
        ),
        ({"members": [{"status": "subscribed"}]}, "members[0].email_address: required by the documentation, missing"),
        (
            {"members": [{"email_address": "a@x.co", "status": "archived"}]},
            "members[0].status: 'archived' is not one of the documented values (subscribed, unsubscribed)",
        ),
        (
            {"members": [{"email_address": 7}]},
            "members[0].email_address: integer where the documentation asks for string",
        ),
        (
            {"members": [{"email_address": "a@x.co", "vip": 1}]},
            "members[0].vip: integer where the documentation asks for boolean",
        ),
        (
            {"members": [{"email_address": "a@x.co", "score": 9}]},
            "members[0].score: 9 is above the documented maximum 5",
        ),
        (
            {"members": [{"email_address": "a@x.co", "status": None}]},
            "members[0].status: null where the documentation asks for string",
        ),
        ({"members": [{"email_address": "a@x.co"}] * 3}, "members: 3 items, at most 2 documented"),
        ({"members": {}}, "members: object where the documentation asks for array"),
        ({}, "members: required by the documentation, missing"),
        ([], "body: array where the documentation asks for object"),
    ],
)
def test_each_departure_is_named_where_it_is(body: Any, expected: str) -> None:
    assert problems(body) == [expected]


def test_references_and_additional_properties_are_followed() -> None:
    found = problems({"inputs": [{"properties": {"points": 3}}]}, OPENAPI, path="/batch")
    assert found == [
        "inputs[0].id: required by the documentation, missing",
        "inputs[0].properties.points: integer where the documentation asks for string",
    ]


def test_a_keyword_the_check_cannot_enforce_is_refused_not_skipped() -> None:
    with pytest.raises(ValueError, match="'oneOf' at members"):
        schema_problems({"type": "object", "properties": {"members": {"oneOf": []}}}, {"members": 1}, spec={})
    with pytest.raises(KeyError, match="documents no request body"):
        request_schema({"paths": {"/x": {"get": {"parameters": []}}}}, "GET", "/x")


def test_a_problem_reads_as_where_and_why() -> None:
    assert str(SchemaProblem("", "object where the documentation asks for array")) == (
        "body: object where the documentation asks for array"
    )
