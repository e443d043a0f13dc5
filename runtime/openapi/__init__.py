"""The API described: an OpenAPI 3.1 document generated from the route table and the handlers'
`@documented` metadata, served at /api/v1/openapi.json and rendered at /api/v1/docs."""

from runtime.openapi.doc import EXCLUDED, Answer, Doc, HeaderParam, documented
from runtime.openapi.generate import build_document, operations
from runtime.openapi.routes import install

__all__ = ["EXCLUDED", "Answer", "Doc", "HeaderParam", "build_document", "documented",
           "install", "operations"]
