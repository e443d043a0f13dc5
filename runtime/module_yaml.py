"""Reading a builder's YAML (`module.yaml`, `voip-runtime run --settings FILE`) as they meant it.

PyYAML reads YAML 1.1, where a plain scalar that looks like a number in any of its forms is one:
`0123` is octal (83), `10:30` is base 60 (630), `1_02` is 102, `0x1F` is 31, and `2025-03-04` is
a date. In a module's settings and bindings those are identifiers and times: an API key or PIN
with leading zeros, an extension `0101`, an opening hour. Read the YAML 1.1 way they reached the
service as other values with no word said (a binding for "65", an `apiKey` of 83), and the
builder learnt of it only when the provider refused the key or nobody's phone rang.

So this loader resolves numbers only in their plain decimal forms (`101`, `-5`, `1.5`,
`1.5e3`, `.inf`); every other form stays the text written, as if it were quoted.
Booleans (`true`, `yes`, `on`, ...) and `null` are read as YAML 1.1 reads them.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

INT_TAG = "tag:yaml.org,2002:int"
FLOAT_TAG = "tag:yaml.org,2002:float"
TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"

# No leading zero (octal in YAML 1.1), no base prefix, no `_`, no `:` (base 60).
PLAIN_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$")
PLAIN_FLOAT = re.compile(r"""^(?:[-+]?[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?
                            |[-+]?\.[0-9]+(?:[eE][-+]?[0-9]+)?
                            |[-+]?\.(?:inf|Inf|INF)
                            |\.(?:nan|NaN|NAN))$""", re.X)


class BuilderYamlLoader(yaml.SafeLoader):
    """SafeLoader with numbers in plain decimal only, and no dates (see the module's doc)."""


BuilderYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in (INT_TAG, FLOAT_TAG, TIMESTAMP_TAG)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
BuilderYamlLoader.add_implicit_resolver(FLOAT_TAG, PLAIN_FLOAT, list("-+0123456789."))
BuilderYamlLoader.add_implicit_resolver(INT_TAG, PLAIN_INT, list("-+0123456789"))


def load_builder_yaml(text: str) -> Any:
    """The document in `text`, read as module.yaml is read (raises yaml.YAMLError)."""
    # A SafeLoader subclass: no tag builds anything but plain data.
    return yaml.load(text, Loader=BuilderYamlLoader)
