"""
Adds the error answers to the OpenAPI schema, so that clients, and code generated from it, expect them.

drf-spectacular documents what each view answers when all goes well. The errors come from the settings
(login, throttling, parsing) and exceptions.py, alike for every endpoint, so one hook adds them all;
settings.SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] runs it.
https://drf-spectacular.readthedocs.io/en/latest/customization.html#step-7-preprocessing-hooks
"""

METHODS = {"get", "put", "patch", "post", "delete", "head", "options", "trace"}


def _answer(description, schema="Error"):
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def document_errors(result, generator, request, public):
    result["components"]["schemas"].update(
        Error={
            "type": "object",
            "properties": {"detail": {"type": "string", "description": "What went wrong, in a sentence"}},
            "required": ["detail"],
        },
        ValidationError={
            "type": "object",
            "description": 'Each field (or "non_field_errors"; "detail" if the body is not JSON) and its errors',
            "additionalProperties": {},
        },
    )
    for path, item in result["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                add_errors(path, operation)
    return result


def add_errors(path, operation):
    errors = {"429": _answer("Too many requests; try again after the seconds in the Retry-After header")}
    if any(operation.get("security", [])):  # needs a login
        errors["401"] = _answer("No valid token or session; the WWW-Authenticate header names the scheme")
        errors["403"] = _answer("Logged in but not allowed, or a session write without the CSRF token")
    if "{" in path:  # e.g. /api/notes/{id}/
        errors["404"] = _answer("Nothing has this ID, or it is not a well-formed one")
    if "requestBody" in operation:
        errors["400"] = _answer("The body is not JSON or does not validate", "ValidationError")
        errors["413"] = _answer("The body is larger than DATA_UPLOAD_MAX_MEMORY_SIZE")
        errors["415"] = _answer("The body is not in a media type this endpoint reads")
    operation["responses"] = dict(sorted({**errors, **operation["responses"]}.items()))
