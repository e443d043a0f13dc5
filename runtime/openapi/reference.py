"""The API reference page: HTML rendered on the server from the OpenAPI document, no script.

Everything the page needs is in it (one inline style sheet), so it works offline and under a
strict Content-Security-Policy.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

MAX_ENUM_SHOWN = 12
MAX_DEPTH = 6

STYLE = """
:root { --fg:#1d2330; --muted:#5b6475; --line:#dde1e8; --bg:#fff; --code:#f3f5f8;
        --get:#1f7a4d; --post:#1e5bb8; --put:#8a5a00; --patch:#7b3fb3; --delete:#b42318; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;
       color:var(--fg); background:var(--bg); }
header { padding:24px 32px; border-bottom:1px solid var(--line); }
header h1 { margin:0 0 4px; font-size:24px; }
.layout { display:grid; grid-template-columns:280px 1fr; }
nav { position:sticky; top:0; align-self:start; max-height:100vh; overflow:auto;
      padding:16px; border-right:1px solid var(--line); font-size:13px; }
nav h2 { font-size:12px; text-transform:uppercase; letter-spacing:.05em; color:var(--muted);
         margin:16px 0 4px; }
nav ul { list-style:none; margin:0; padding:0; }
nav a { color:inherit; text-decoration:none; display:block; padding:2px 0; }
nav a:hover { text-decoration:underline; }
main { padding:16px 32px 64px; max-width:1100px; }
section.op { border:1px solid var(--line); border-radius:8px; padding:12px 16px; margin:16px 0; }
section.op h3 { margin:0; font-size:16px; font-family:ui-monospace,Menlo,Consolas,monospace; }
.method { display:inline-block; min-width:64px; text-align:center; color:#fff;
          border-radius:4px; padding:1px 6px; margin-right:8px; font-size:13px; }
.m-get{background:var(--get)} .m-post{background:var(--post)} .m-put{background:var(--put)}
.m-patch{background:var(--patch)} .m-delete{background:var(--delete)}
.summary { font-weight:600; margin:6px 0; }
.auth { color:var(--muted); font-size:13px; }
code { background:var(--code); padding:0 4px; border-radius:3px;
       font-family:ui-monospace,Menlo,Consolas,monospace; font-size:13px; }
table { border-collapse:collapse; width:100%; margin:6px 0 10px; font-size:14px; }
th, td { text-align:left; vertical-align:top; border-top:1px solid var(--line); padding:4px 8px; }
th { font-size:12px; color:var(--muted); font-weight:600; border-top:none; }
td.name { font-family:ui-monospace,Menlo,Consolas,monospace; white-space:nowrap; }
.req { color:var(--delete); font-size:12px; }
.constraint { color:var(--muted); font-size:12px; }
h4 { margin:12px 0 2px; font-size:13px; text-transform:uppercase; letter-spacing:.04em;
     color:var(--muted); }
.status { font-family:ui-monospace,Menlo,Consolas,monospace; font-weight:600; }
section.schema { margin:16px 0; }
pre { background:var(--code); padding:8px 12px; border-radius:6px; overflow:auto; font-size:13px; }
section.schema h3 { font-family:ui-monospace,Menlo,Consolas,monospace; font-size:15px; }
@media (max-width: 800px) { .layout { grid-template-columns:1fr; } nav { position:static; } }
"""


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def prose(text: str | None) -> str:
    """Paragraphs, with `code` spans; nothing else of Markdown."""
    if not text:
        return ""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    out = []
    for paragraph in paragraphs:
        escaped = esc(paragraph)
        escaped = re.sub(r"`([^`]+)`", r"<code>\1</code>", escaped)
        out.append(f"<p>{escaped}</p>")
    return "".join(out)


def _ref_name(ref: str) -> str:
    return ref.rsplit("/", 1)[-1]


class Renderer:
    def __init__(self, document: dict[str, Any]) -> None:
        self.doc = document
        self.schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})

    # --- schemas ---------------------------------------------------------------------------

    def type_html(self, schema: Any) -> str:
        if not isinstance(schema, dict) or not schema:
            return "any JSON"
        if "$ref" in schema:
            name = _ref_name(schema["$ref"])
            return f'<a href="#schema-{esc(name)}"><code>{esc(name)}</code></a>'
        if "const" in schema:
            return f"<code>{esc(json.dumps(schema['const']))}</code>"
        if "enum" in schema:
            values = [json.dumps(v) for v in schema["enum"]]
            shown = ", ".join(f"<code>{esc(v)}</code>" for v in values[:MAX_ENUM_SHOWN])
            more = f", … ({len(values)} values)" if len(values) > MAX_ENUM_SHOWN else ""
            return f"one of {shown}{more}"
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return " or ".join(self.type_html(s) for s in schema[key])
        kind = schema.get("type")
        if isinstance(kind, list):
            text = " or ".join(esc(k) for k in kind)
        elif kind == "array":
            if "prefixItems" in schema:
                items = ", ".join(self.type_html(s) for s in schema["prefixItems"])
                text = f"[{items}]"
            else:
                text = f"array of {self.type_html(schema.get('items', {}))}"
        elif kind == "object" and "properties" not in schema:
            extra = schema.get("additionalProperties")
            text = ("object of " + self.type_html(extra)) if isinstance(extra, dict) else "object"
        elif kind:
            text = esc(kind)
        else:
            text = "any JSON"
        if "format" in schema:
            text += f" <span class=constraint>({esc(schema['format'])})</span>"
        return text

    @staticmethod
    def constraints(schema: Any) -> str:
        if not isinstance(schema, dict):
            return ""
        notes = []
        for key, label in (("minLength", "min length"), ("maxLength", "max length"),
                           ("minimum", "≥"), ("maximum", "≤"), ("minItems", "min items"),
                           ("maxItems", "max items"), ("maxProperties", "max entries"),
                           ("pattern", "pattern")):
            if key in schema:
                notes.append(f"{label} {esc(schema[key])}")
        if "default" in schema:
            notes.append(f"default <code>{esc(json.dumps(schema['default']))}</code>")
        return f' <span class=constraint>{"; ".join(notes)}</span>' if notes else ""

    def fields_table(self, schema: dict[str, Any]) -> str:
        props = schema.get("properties", {})
        if not props:
            return f"<p>{self.type_html(schema)}{self.constraints(schema)}</p>"
        required = set(schema.get("required", ()))
        rows = []
        for name, prop in props.items():
            req = " <span class=req>required</span>" if name in required else ""
            description = prose(prop.get("description")) if isinstance(prop, dict) else ""
            rows.append(
                f"<tr><td class=name>{esc(name)}{req}</td>"
                f"<td>{self.type_html(prop)}{self.constraints(prop)}</td>"
                f"<td>{description}</td></tr>"
            )
        return ("<table><tr><th>field</th><th>type</th><th>description</th></tr>"
                + "".join(rows) + "</table>")

    # --- operations ------------------------------------------------------------------------

    def operation(self, path: str, method: str, op: dict[str, Any]) -> str:
        parts = [
            f'<section class=op id="op-{esc(op["operationId"])}">',
            f'<h3><span class="method m-{esc(method)}">{esc(method.upper())}</span>'
            f"{esc(path)}</h3>",
            f'<div class=summary>{esc(op.get("summary", ""))}</div>',
            prose(op.get("description")),
        ]
        params = op.get("parameters", [])
        if params:
            rows = "".join(
                f"<tr><td class=name>{esc(p['name'])}"
                f"{' <span class=req>required</span>' if p.get('required') else ''}</td>"
                f"<td>{esc(p['in'])}</td>"
                f"<td>{self.type_html(p.get('schema'))}{self.constraints(p.get('schema'))}</td>"
                f"<td>{prose(p.get('description'))}</td></tr>"
                for p in params
            )
            parts.append("<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>type</th>"
                         f"<th>description</th></tr>{rows}</table>")
        body = op.get("requestBody")
        if body:
            schema = body["content"]["application/json"]["schema"]
            required = "required" if body.get("required") else "optional"
            parts.append(f"<h4>Request body ({required}, JSON)</h4>"
                         f"<p>{self.type_html(schema)}</p>")
        answers: list[str] = []
        for status, response in op.get("responses", {}).items():
            content = response.get("content", {})
            body_html = ", ".join(
                f"{self.type_html(c.get('schema'))} <span class=constraint>{esc(media)}</span>"
                for media, c in content.items()
            ) or "no body"
            headers = response.get("headers", {})
            if headers:
                body_html += "; headers: " + ", ".join(f"<code>{esc(h)}</code>" for h in headers)
            answers.append(f"<tr><td class=status>{esc(status)}</td>"
                        f"<td>{prose(response.get('description'))}</td><td>{body_html}</td></tr>")
        parts.append("<h4>Responses</h4><table><tr><th>status</th><th>meaning</th>"
                     f"<th>body</th></tr>{''.join(answers)}</table>")
        parts.append("</section>")
        return "".join(parts)

    def page(self) -> str:
        info = self.doc.get("info", {})
        by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for path, methods in self.doc.get("paths", {}).items():
            for method, op in methods.items():
                for tag in op.get("tags", ["api"]):
                    by_tag.setdefault(tag, []).append((path, method, op))
        nav = ['<h2>Overview</h2><ul><li><a href="#auth">Credentials</a></li>'
               '<li><a href="openapi.json">openapi.json</a></li></ul>']
        main = [prose(info.get("description")), self.auth_section()]
        for tag in sorted(by_tag):
            ops = by_tag[tag]
            nav.append(f"<h2>{esc(tag)}</h2><ul>" + "".join(
                f'<li><a href="#op-{esc(op["operationId"])}">{esc(method.upper())} '
                f"{esc(op.get('summary', path))}</a></li>" for path, method, op in ops
            ) + "</ul>")
            main.append(f'<h2 id="tag-{esc(tag)}">{esc(tag)}</h2>')
            main.extend(self.operation(path, method, op) for path, method, op in ops)
        nav.append('<h2>Schemas</h2><ul>' + "".join(
            f'<li><a href="#schema-{esc(name)}">{esc(name)}</a></li>'
            for name in sorted(self.schemas)) + "</ul>")
        main.append("<h2 id=schemas>Schemas</h2>")
        for name in sorted(self.schemas):
            schema = self.schemas[name]
            examples = "".join(
                f"<h4>Example</h4><pre>{esc(json.dumps(e, indent=2, ensure_ascii=False))}</pre>"
                for e in schema.get("examples", []) if isinstance(e, dict))
            main.append(f'<section class=schema id="schema-{esc(name)}"><h3>{esc(name)}</h3>'
                        f"{prose(schema.get('description'))}{self.fields_table(schema)}"
                        f"{examples}</section>")
        title = f"{info.get('title', 'API')} {info.get('version', '')}".strip()
        return (
            "<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{esc(title)} reference</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><div class=auth>OpenAPI "
            f"{esc(self.doc.get('openapi', ''))} · "
            '<a href="openapi.json">openapi.json</a></div></header>'
            f"<div class=layout><nav>{''.join(nav)}</nav><main>{''.join(main)}</main></div>"
            "</body></html>"
        )

    def auth_section(self) -> str:
        schemes = self.doc.get("components", {}).get("securitySchemes", {})
        rows = []
        for name, scheme in schemes.items():
            how = ("<code>Authorization: Bearer …</code>" if scheme.get("type") == "http"
                   else f"<code>?{esc(scheme.get('name'))}=…</code>")
            rows.append(f"<tr><td class=name>{esc(name)}</td><td>{how}</td>"
                        f"<td>{prose(scheme.get('description'))}</td></tr>")
        return ("<h2 id=auth>Credentials</h2><table><tr><th>scheme</th><th>sent as</th>"
                f"<th>what it is</th></tr>{''.join(rows)}</table>")


def render_reference(document: dict[str, Any]) -> str:
    return Renderer(document).page()
