"""``/docs``: the REST API's reference, drawn on the server from kinko's own OpenAPI spec.

No JavaScript and nothing from a CDN (an interactive viewer would load code into the
dashboard's origin; operations networks are often isolated): one page under the same
Content-Security-Policy as the dashboard, listing every route with its parameters and
their limits, the body's fields and the answers; ``/openapi.json`` is the machine-readable
spec for any viewer an operator prefers to run elsewhere. English and Japanese
(``?lang=ja``), like the dashboard.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import PackageLoader

from kinko.api.web import CSP
from kinko.domain.messages import N_
from kinko.i18n import ENGLISH, LANGS, Localizer, accepted_language, environment

__all__ = ["Operation", "document_errors", "operations", "reference_page"]


_ENVS = {lang: environment(PackageLoader("kinko.api.web", "templates"), lang)
         for lang in LANGS}
_LIMITS = (("minLength", N_("api.limit.min_length")), ("maxLength", N_("api.limit.max_length")),
           ("minimum", N_("api.limit.minimum")), ("maximum", N_("api.limit.maximum")),
           ("default", N_("api.limit.default")))


@dataclass(frozen=True)
class Field:
    name: str
    where: str
    required: bool
    kind: str
    help: str


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    description: str
    parameters: list[Field]
    body: list[Field]
    answers: list[tuple[str, str]]


def _kind(schema: dict[str, Any], say: Localizer) -> str:
    """A schema in a few words: its type and limits (``string, ≤ 128 chars``)."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    base = options[0] if options else schema
    words = [str(base.get("type", "object"))]
    for name, said in _LIMITS:
        for source in (base, schema):
            if name in source:
                words.append(say(said, value=str(source[name])))
                break
    return say.join(words)


def _schema(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    if ref.startswith("#/components/schemas/"):
        found: dict[str, Any] = spec.get("components", {}).get("schemas", {}).get(
            ref.rsplit("/", 1)[1], {})
        return found
    return schema


def operations(spec: dict[str, Any], say: Localizer = ENGLISH) -> list[Operation]:
    """Every route of ``spec`` in the order it declares them (limits in ``say``'s words)."""
    out = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = [Field(p["name"], p["in"], bool(p.get("required")), _kind(p["schema"], say),
                            p.get("description", ""))
                      for p in op.get("parameters", [])]
            body: list[Field] = []
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if content is not None:
                schema = _schema(spec, content.get("schema", {}))
                required = set(schema.get("required", []))
                body = [Field(name, "body", name in required, _kind(field, say),
                              field.get("description", ""))
                        for name, field in schema.get("properties", {}).items()]
            answers = [(code, a.get("description", "")) for code, a in
                       op.get("responses", {}).items()]
            out.append(Operation(method.upper(), path, op.get("summary", ""),
                                 op.get("description", ""), params, body, answers))
    return out


def reference_page(request: Request, spec: dict[str, Any]) -> HTMLResponse:
    asked = request.query_params.get("lang") or request.cookies.get("kinko_lang")
    lang = asked if asked in LANGS else accepted_language(request.headers.get("accept-language"))
    html = _ENVS[lang].get_template("api_docs.html.j2").render(
        lang=lang, version=spec.get("info", {}).get("version", ""),
        operations=operations(spec, Localizer(lang)))
    return HTMLResponse(html, headers={"Content-Security-Policy": CSP,
                                       "X-Frame-Options": "DENY",
                                       "Referrer-Policy": "same-origin"})


_ERROR = {
    "type": "object", "required": ["error"], "title": "Error",
    "description": "Every error kinko answers.",
    "properties": {"error": {
        "type": "object", "required": ["code", "message", "message_id", "details"],
        "properties": {
            "code": {"type": "string", "description": "A stable, machine-readable code."},
            "message": {"type": "string", "description": (
                "What is wrong, and where: in English (the error's own words), or in "
                "Japanese for a request whose Accept-Language prefers it (the answer's "
                "Content-Language says which).")},
            "message_id": {"type": "string", "description": (
                "The message catalog's id of what the message says (the same in every "
                "language), for a client that shows its own words.")},
            "details": {"type": "object", "description": "Structured context: for bad "
                        "input, problems (where, problem) for each field."}}}}}
_BAD_INPUT = ("Bad input: a field, parameter or header missing, malformed or out of range "
              "(error.details.problems names each)")


def document_errors(spec: dict[str, Any]) -> dict[str, Any]:
    """Make the spec say what kinko answers to bad input: 400 with its error body, where
    FastAPI would document 422 with its own validation schema (kinko never answers that
    shape; 422 is a request refused by a rule, documented where a router declares it).
    Every error a route declares gets kinko's error body."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = _ERROR
    ref = {"$ref": "#/components/schemas/Error"}
    validation = {"$ref": "#/components/schemas/HTTPValidationError"}
    for operations_of_path in spec.get("paths", {}).values():
        for op in operations_of_path.values():
            responses = op.get("responses", {})
            refused = responses.get("422", {})
            if refused.get("content", {}).get("application/json", {}).get("schema") \
                    == validation:
                del responses["422"]
            if "parameters" in op or "requestBody" in op:
                responses["400"] = {"description": _BAD_INPUT}
            for code, answer in responses.items():
                if code[:1] in "45":
                    answer["content"] = {"application/json": {"schema": ref}}
            op["responses"] = dict(sorted(responses.items()))
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    return spec
