"""Hostile scripts against the language wall: each is refused precisely, and the wall holds.

Every case asserts the exact outcome (a compile problem's text and line, or a run-time error's
type, message and line) and then that the fixed benign call still succeeds in the same process.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any

import pytest

from sandbox.call import Call, RequestData
from sandbox.executor import LimitExceeded, execute
from sandbox.limits import Limits
from tests.sandbox.lang_support import (
    PARSE,
    DictHost,
    assert_benign_call_works,
    problems_of,
    result_of,
    run,
    script,
)


@dataclass(frozen=True)
class Refused:
    """Compile time: a problem with this fragment at this tenant line."""

    line: int
    fragment: str


@dataclass(frozen=True)
class Raises:
    """Run time: this error type, a message containing the fragment, at this tenant line."""

    type: str
    fragment: str
    line: int | None
    limit: str | None = None


WRITE = "it belongs to the sandbox and is read-only"
NO_RESULT = "the result cannot hold a value of type"
FMT_ATTR = "reads an attribute; only positional, keyword and index fields are allowed"

CASES: dict[str, tuple[str, Refused | Raises]] = {
    # -- dunders and private names
    "class_of_tuple": ("x = ().__class__", Refused(2, '"__class__" is an invalid attribute')),
    "instance_dict": ("x = request.__dict__", Refused(2, '"__dict__" is an invalid attribute')),
    "builtins_name": ("b = __builtins__", Refused(2, '"__builtins__" is an invalid variable')),
    "dunder_import": ("os = __import__('os')", Refused(2, '"__import__" is an invalid variable')),
    "subclasses": ("x = int.__subclasses__()", Refused(2, '"__subclasses__" is an invalid')),
    "method_globals": ("g = request.json.__globals__", Refused(2, '"__globals__" is an invalid')),
    "init_of_host_object": (
        "request.__init__(None)",
        Raises("AttributeError", '"__init__" is an invalid attribute name', 2),
    ),
    "init_via_super_of_host": (
        "s = super(ValueError, ValueError('x'))\nf = s.__init__",
        Raises("AttributeError", '"__init__" is an invalid attribute name', 3),
    ),
    "class_init_on_host_object": (
        "class A:\n    def __init__(self):\n        self.x = 1\nA.__init__(request)",
        Raises("TypeError", "__init__ can only be applied to the script's own objects", 5),
    ),
    "private_kwargs_via_apply": (
        "kw = {'_x': 1}\nreturn dict(**kw)",
        Raises("TypeError", 'keyword argument "_x" starts with "_"', 3),
    ),
    # -- frames via generators and exceptions
    "generator_frame": (
        "def g():\n    yield 1\nf = g().gi_frame.f_back",
        Refused(4, '"gi_frame" is a restricted name'),
    ),
    "frame_globals": ("x = request.f_globals", Refused(2, '"f_globals" is a restricted name')),
    "traceback_frame": (
        "try:\n    1 / 0\nexcept Exception as e:\n    t = e.__traceback__.tb_frame",
        Refused(5, '"__traceback__" is an invalid attribute'),
    ),
    "code_object": ("c = request.co_code", Refused(2, '"co_code" is a restricted name')),
    "yieldfrom_walk": (
        "def g():\n    yield 1\nx = g().gi_yieldfrom",
        Refused(4, '"gi_yieldfrom" is a restricted name'),
    ),
    # -- format-string walks
    "format_class": (
        "return '{0.__class__}'.format(1)",
        Raises("ValueError", "format field {0.__class__} " + FMT_ATTR, 2),
    ),
    "format_index_then_attr": (
        "return '{0[0].__class__}'.format([1])",
        Raises("ValueError", "format field {0[0].__class__} " + FMT_ATTR, 2),
    ),
    "format_nested_in_spec": (
        "return '{0:{1.__class__}}'.format(1, 2)",
        Raises("ValueError", "format field {1.__class__} " + FMT_ATTR, 2),
    ),
    "format_map_attr": (
        "return '{x.__globals__}'.format_map({'x': log})",
        Raises("ValueError", "format field {x.__globals__} " + FMT_ATTR, 2),
    ),
    "format_public_attr": (
        "return '{0.real}'.format(1)",
        Raises("ValueError", "format field {0.real} " + FMT_ATTR, 2),
    ),
    "unbound_str_format": (
        "f = str.format\nreturn f('{0.__class__}', 1)",
        Raises("ValueError", "format field {0.__class__} " + FMT_ATTR, 3),
    ),
    "format_through_map": (
        "return list(map(str.format, ['{0.__class__}'], [1]))",
        Raises("ValueError", "format field {0.__class__} " + FMT_ATTR, 2),
    ),
    "format_through_super": (
        "class S(str):\n    def f(self):\n        return super().format(1)\n"
        "return S('{0.__class__}').f()",
        Raises("ValueError", "format field {0.__class__} " + FMT_ATTR, 4),
    ),
    "format_on_enum_member": (
        "return VoipCallDirection.In.format_map({}) + '{0.x}'.format(VoipCallDirection.In)",
        Raises("ValueError", "format field {0.x} " + FMT_ATTR, 2),
    ),
    "format_on_enum_class": (
        "f = VoipCallDirection.format\nreturn f('{0.__class__}', 1)",
        Raises("ValueError", "format field {0.__class__} " + FMT_ATTR, 3),
    ),
    "enum_class_private_name": (
        "return getattr(VoipCallDirection, '_member_map_')",
        Raises("AttributeError", '"_member_map_" is an invalid attribute name', 2),
    ),
    "format_builtin_spec": (
        "return format(1, '{0.__class__}')",
        Raises("ValueError", "Invalid format specifier", 2),
    ),
    "string_formatter": (
        "import string\nf = string.Formatter()",
        Refused(2, 'Module "string" is not available in the sandbox'),
    ),
    # -- guard shadowing
    "assign_getattr": ("_getattr_ = lambda o, n: 1", Refused(2, '"_getattr_" is an invalid')),
    "def_print": ("def _print_(g):\n    return 1", Refused(2, '"_print_" is an invalid')),
    "assign_metaclass": ("__metaclass__ = 1", Refused(2, '"__metaclass__" is an invalid')),
    "assign_write": ("_write_ = 1", Refused(2, '"_write_" is an invalid variable name')),
    "global_guard": ("global _getiter_", Refused(2, '"_getiter_" is an invalid variable')),
    "import_as_guard": ("import json as _getattr_", Refused(2, '"_getattr_" is an invalid')),
    "for_target_guard": ("for _apply_ in []:\n    pass", Refused(2, '"_apply_" is an invalid')),
    "class_metaclass_kw": (
        "class A(metaclass=len):\n    pass",
        Refused(2, 'The keyword argument "metaclass" is not allowed.'),
    ),
    # -- computed attribute names and introspection builtins
    "setattr_absent": ("setattr(request, 'x', 1)", Raises("NameError", "'setattr'", 2)),
    "vars_absent": ("return vars(request)", Raises("NameError", "'vars'", 2)),
    "dir_absent": ("return dir()", Raises("NameError", "'dir'", 2)),
    "globals_absent": ("return globals()", Raises("NameError", "'globals'", 2)),
    "locals_absent": ("return locals()", Raises("NameError", "'locals'", 2)),
    "open_absent": ("return open('/etc/passwd')", Raises("NameError", "'open'", 2)),
    "type_absent": ("return type(1)", Raises("NameError", "name 'type' is not defined", 2)),
    "exec_refused": ("exec('import os')", Refused(2, '"exec" is not allowed')),
    "eval_refused": ("return eval('1')", Refused(2, '"eval" is not allowed')),
    "breakpoint": ("breakpoint()", Refused(2, '"breakpoint" is a reserved name.')),
    # -- imports
    "import_os": ("import os", Refused(2, 'Module "os" is not available in the sandbox')),
    "import_sys": ("import sys", Refused(2, 'Module "sys" is not available')),
    "import_subprocess": ("import subprocess", Refused(2, 'Module "subprocess" is not')),
    "import_importlib": ("import importlib", Refused(2, 'Module "importlib" is not')),
    "import_builtins": ("from builtins import open", Refused(2, 'Module "builtins" is not')),
    "from_json_codecs": ("from json import codecs", Refused(2, 'Cannot import "codecs"')),
    "json_codecs": (
        "import json\nreturn json.codecs",
        Raises("AttributeError", "module 'json' has no attribute 'codecs'", 3),
    ),
    "datetime_sys": (
        "import datetime\nreturn datetime.sys",
        Raises("AttributeError", "module 'datetime' has no attribute 'sys'", 3),
    ),
    "uuid_os": (
        "import uuid\nreturn uuid.os",
        Raises("AttributeError", "module 'uuid' has no attribute 'os'", 3),
    ),
    "re_private_compiler": (
        "import re\nreturn re._compiler",
        Refused(3, '"_compiler" is an invalid attribute name'),
    ),
    "view_helpers_hidden": (
        "import json\nreturn json.view_name",
        Raises("AttributeError", "module 'json' has no attribute 'view_name'", 3),
    ),
    "attribute_error_obj": (
        "try:\n    request.nope\nexcept AttributeError as e:\n    return e.obj",
        Raises("AttributeError", '"obj" is not available on an exception in the sandbox', 5),
    ),
    "time_sleep": (
        "import time\ntime.sleep(10)",
        Raises("AttributeError", "module 'time' has no attribute 'sleep'", 3),
    ),
    "urllib_request": ("import urllib.request", Refused(2, 'Module "urllib.request" is not')),
    "urllib_request_attr": (
        "import urllib\nreturn urllib.request",
        Raises("AttributeError", "module 'urllib' has no attribute 'request'", 3),
    ),
    "relative_import": ("from . import x", Refused(2, "Relative imports are not allowed.")),
    # -- writes to injected and host objects
    "request_method": ("request.method = 'x'", Raises("TypeError", "'FetchRequest' object", 2)),
    "request_del": ("del request.body", Raises("TypeError", WRITE, 2)),
    "request_headers_item": (
        "request.headers['X'] = 'y'",
        Raises("TypeError", "cannot change read-only headers: " + WRITE, 2),
    ),
    "settings_item": (
        "settings['k'] = 1",
        Raises("TypeError", "cannot change read-only settings: " + WRITE, 2),
    ),
    "settings_del": ("del settings['apiKey']", Raises("TypeError", "read-only settings", 2)),
    "json_dumps": (
        "import json\njson.dumps = len",
        Raises("TypeError", "cannot change module 'json': " + WRITE, 3),
    ),
    "http_response_attr": (
        "HttpResponse.x = 1",
        Raises("TypeError", "cannot change function 'HttpResponse'", 2),
    ),
    "builder_attr": (
        "r = HttpResponse()\nr.status = 500",
        Raises("TypeError", "cannot change a 'HttpResponse' object", 3),
    ),
    "enum_member_reassign": (
        "VoipCallDirection.In = 'x'",
        Raises("TypeError", "cannot change class 'VoipCallDirection'", 2),
    ),
    "enum_member_attr": (
        "VoipCallDisposition.Busy.label = 'x'",
        Raises("TypeError", "cannot change a 'VoipCallDisposition' object", 2),
    ),
    "datetime_now": (
        "import datetime\ndatetime.datetime.now = len",
        Raises("TypeError", "cannot change class 'datetime'", 3),
    ),
    "uuid_class": (
        "import uuid\nuuid.UUID.x = 1",
        Raises("TypeError", "cannot change class 'UUID'", 3),
    ),
    "host_function_attr": (
        "import json\nf = json.loads\nf.cache = {}",
        Raises("TypeError", "cannot change function 'loads'", 4),
    ),
    "builtin_exception_class": (
        "ValueError.extra = 1",
        Raises("TypeError", "cannot change class 'ValueError'", 2),
    ),
    "storage_method": (
        "storage.get = len",
        Raises("TypeError", "cannot change a 'Storage' object", 2),
    ),
    "aug_assign_injected": (
        "settings['n'] += 1",
        Raises("TypeError", "cannot change read-only settings", 2),
    ),
    # -- BaseException and friends
    "mro_to_base_exception": (
        "raise Exception.mro()[1]()",
        Raises("AttributeError", '"mro" is not available on a class in the sandbox', 2),
    ),
    "subclass_base_exception": (
        "class Quit(BaseException):\n    pass",
        Raises("NameError", "name 'BaseException' is not defined", 2),
    ),
    "subclass_via_mro": (
        "class Quit(Exception.mro()[1]):\n    pass",
        Raises("AttributeError", '"mro" is not available on a class in the sandbox', 2),
    ),
    "system_exit_absent": ("raise SystemExit(0)", Raises("NameError", "'SystemExit'", 2)),
    "keyboard_interrupt_absent": (
        "raise KeyboardInterrupt()",
        Raises("NameError", "'KeyboardInterrupt'", 2),
    ),
    "subclass_host_class": (
        "import datetime\nclass D(datetime.datetime):\n    pass",
        Raises("TypeError", "a script's class cannot subclass 'datetime'", 3),
    ),
    "subclass_enum": (
        "class E(VoipCallDirection):\n    pass",
        Raises("TypeError", "a script's class cannot subclass 'VoipCallDirection'", 2),
    ),
    # -- the result boundary
    "return_generator": ("return (x for x in [1])", Raises("InvalidResult", NO_RESULT, None)),
    "return_self_reference": (
        "d = {}\nd['me'] = d\nreturn d",
        Raises("InvalidResult", "the result refers to itself (at result['me'])", None),
    ),
    "return_list_cycle": (
        "a = []\na.append([a])\nreturn a",
        Raises("InvalidResult", "the result refers to itself (at result[0][0])", None),
    ),
    "return_dict_subclass": (
        "class D(dict):\n    pass\nreturn D(a=1)",
        Raises("InvalidResult", NO_RESULT + " 'D'", None),
    ),
    "return_str_subclass": (
        "class S(str):\n    pass\nreturn {'a': S('x')}",
        Raises("InvalidResult", NO_RESULT + " 'S' (at result['a'])", None),
    ),
    "return_instance": (
        "class A:\n    pass\nreturn A()",
        Raises("InvalidResult", NO_RESULT + " 'A'", None),
    ),
    "return_function": ("return log", Raises("InvalidResult", NO_RESULT + " 'function'", None)),
    "return_module_view": (
        "import json\nreturn json",
        Raises("InvalidResult", NO_RESULT + " 'module'", None),
    ),
    "return_request": ("return request", Raises("InvalidResult", "'FetchRequest'", None)),
    "return_nan": (
        "return [float('nan')]",
        Raises("InvalidResult", "the result holds nan, which JSON cannot carry", None),
    ),
    "return_inf": ("return {'x': float('inf')}", Raises("InvalidResult", "holds inf", None)),
    "return_set": ("return {1, 2}", Raises("InvalidResult", NO_RESULT + " 'set'", None)),
    "return_bytes": ("return b'x'", Raises("InvalidResult", NO_RESULT + " 'bytes'", None)),
    "return_tuple_key": (
        "return {(1, 2): 1}",
        Raises("InvalidResult", "the result's dict keys must be strings, not 'tuple'", None),
    ),
    "return_int_key": (
        "return {1: 2}",
        Raises("InvalidResult", "the result's dict keys must be strings, not 'int'", None),
    ),
    "return_lone_surrogate": (
        "return chr(0xD800)",
        Raises("InvalidResult", "a string that is not valid Unicode", None),
    ),
    "return_too_deep": (
        "x = []\nfor i in range(100):\n    x = [x]\nreturn x",
        Raises("InvalidResult", "the result is nested deeper than 32 levels", None, "result"),
    ),
    "return_too_large": (
        "return 'x' * 2200000",
        Raises("InvalidResult", "the result is larger than 2097152 bytes as JSON", None, "result"),
    ),
    "return_huge_int": (
        "return 7 ** 5000",
        Raises("InvalidResult", "an integer too large for JSON", None),
    ),
    # -- cheap resource bounds
    "pow_tower": (
        "return 10 ** 10 ** 8",
        Raises("OverflowError", "the result of ** would have more than 100,000 digits", 2),
    ),
    "pow_builtin": ("return pow(3, 10 ** 7)", Raises("OverflowError", "100,000 digits", 2)),
    "pow_augmented": ("x = 9\nx **= 10 ** 7", Raises("OverflowError", "100,000 digits", 3)),
    "recursion": (
        "def f(n):\n    return f(n + 1)\nreturn f(0)",
        Raises("RecursionError", "maximum recursion depth exceeded", 3, "recursion"),
    ),
    "memory": (
        "x = 'x' * (10 ** 13)",
        Raises("MemoryError", "the script ran out of memory", 2, "memory"),
    ),
    "capability_not_iterable": (
        "a, b = storage",
        Raises("TypeError", "a 'Storage' object is not iterable", 2),
    ),
    "module_not_iterable": (
        "import json\nfor x in json:\n    pass",
        Raises("TypeError", "module 'json' is not iterable", 3),
    ),
    "host_class_subscript": (
        "import datetime\nreturn datetime.datetime[0]",
        Raises("TypeError", "class 'datetime' is not subscriptable in the sandbox", 3),
    ),
    "print_to_file": (
        "print('x', file=storage)",
        Raises("TypeError", "print(file=...) is not available in the sandbox", 2),
    ),
    # -- hooks that would let a script catch its CPU limit where nothing else can: not definable
    "context_manager_exit": (
        "class C:\n    def __exit__(self, *args):\n        return True",
        Refused(3, '"__exit__" is an invalid variable name because it starts with "_"'),
    ),
    "finaliser_del": (
        "class C:\n    def __del__(self):\n        pass",
        Refused(3, '"__del__" is an invalid variable name because it starts with "_"'),
    ),
    # -- host code never calls a script's function from inside a half-built host object
    "hmac_with_a_script_digestmod": (
        "import hmac\ndef digest(*args):\n    return 1\nhmac.new(b'k', b'm', digest)",
        Raises("TypeError", "digestmod must be a hash name such as 'sha256'", 5),
    ),
    "async_function": ("async def f():\n    pass", Refused(2, '"async def f" is not supported')),
    # -- annotations are checked like any expression, then never run
    "annotation_imports": (
        "x: __import__('os') = 1",
        Refused(2, '"__import__" is an invalid variable name'),
    ),
    "bare_annotation_dunder": (
        "x: ().__class__.__subclasses__()",
        Refused(2, '"__class__" is an invalid attribute name'),
    ),
    "parameter_annotation_dunder": (
        "def f(a: request.__dict__):\n    pass",
        Refused(2, '"__dict__" is an invalid attribute name'),
    ),
    "return_annotation_guard_name": (
        "def f() -> _getattr_:\n    pass",
        Refused(2, '"_getattr_" is an invalid variable name'),
    ),
    "annotation_frame_walk": (
        "def g():\n    yield 1\nx: g().gi_frame = 1",
        Refused(4, '"gi_frame" is a restricted name'),
    ),
    "annotated_private_attribute": (
        "class A:\n    def __init__(self):\n        self._x: int = 1",
        Refused(4, '"_x" is an invalid attribute name'),
    ),
    "bare_annotated_private_attribute": (
        "class A:\n    def __init__(self):\n        self._x: int",
        Refused(4, '"_x" is an invalid attribute name'),
    ),
    "annotated_private_class_attribute": (
        "class A:\n    _x: int = 1",
        Refused(3, '"_x" is an invalid variable name'),
    ),
    "annotated_store_into_injected": (
        "request.method: str = 'x'",
        Raises("TypeError", WRITE, 2),
    ),
    "future_import_other_than_annotations": (
        "from __future__ import annotations, generator_stop",
        Refused(2, "from __future__ imports must come first"),
    ),
    "type_checking_else_branch_checked": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    pass\n"
        "else:\n    x = ().__class__",
        Refused(6, '"__class__" is an invalid attribute name'),
    ),
    "not_type_checking_is_an_ordinary_if": (
        "from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    import os",
        Refused(4, 'Module "os" is not available'),
    ),
    # -- the injected type names are closed objects
    "result_type_internals": (
        "k = VoipMember._keys",
        Refused(2, '"_keys" is an invalid attribute name'),
    ),
    "result_type_subclass": (
        "class M(VoipMember):\n    pass",
        Raises("TypeError", "a script's class cannot subclass 'TypedDict'", 2),
    ),
    "result_type_changed": (
        "VoipCallRecord.keys = None",
        Raises("TypeError", "cannot change type 'VoipCallRecord': " + WRITE, 2),
    ),
    "result_type_private_key": (
        "return VoipMember(**{'_id': '1'})",
        Raises("TypeError", 'keyword argument "_id" starts with "_"', 2),
    ),
    "fetch_request_type_builds_nothing": (
        "return FetchRequest(request)",
        Raises("TypeError", "FetchRequest is made by the runtime, not by a script", 2),
    ),
    # -- getattr / hasattr: the same guard as attribute access, a default never hides a refusal
    "getattr_private": (
        "return getattr(request, '_data')",
        Raises("AttributeError", '"_data" is an invalid attribute name because it starts', 2),
    ),
    "getattr_dunder_with_default": (
        "return getattr((), '__class__', None)",
        Raises("AttributeError", '"__class__" is an invalid attribute name', 2),
    ),
    "getattr_built_name": (
        "n = '_' + '_cla' + 'ss__'\nreturn getattr(settings, n)",
        Raises("AttributeError", '"__class__" is an invalid attribute name', 3),
    ),
    "getattr_frame_of_generator": (
        "def g():\n    yield 1\nreturn getattr(g(), 'gi_frame', None)",
        Raises("AttributeError", '"gi_frame" is a restricted attribute', 4),
    ),
    "getattr_mro_of_class": (
        "return getattr(int, 'mro', None)",
        Raises("AttributeError", '"mro" is not available on a class in the sandbox', 2),
    ),
    "getattr_exception_obj": (
        "try:\n    request.nope\nexcept AttributeError as e:\n    return getattr(e, 'obj')",
        Raises("AttributeError", '"obj" is not available on an exception', 5),
    ),
    "getattr_view_of_real_module": (
        "import json\nreturn getattr(json, 'codecs')",
        Raises("AttributeError", "module 'json' has no attribute 'codecs'", 3),
    ),
    "getattr_str_format_is_the_safe_one": (
        "f = getattr('{0.__class__}', 'format')\nreturn f(1)",
        Raises("ValueError", "format field {0.__class__} " + FMT_ATTR, 3),
    ),
    "getattr_non_str_name": (
        "return getattr(request, 1)",
        Raises("TypeError", "getattr(): attribute name must be a str", 2),
    ),
    "hasattr_private": (
        "return hasattr(storage, '_host')",
        Raises("AttributeError", '"_host" is an invalid attribute name', 2),
    ),
    "hasattr_dunder_of_injected": (
        "return hasattr(fetch, '__globals__')",
        Raises("AttributeError", '"__globals__" is an invalid attribute name', 2),
    ),
    # -- object, property, staticmethod, classmethod, super
    "object_subclasses": (
        "return object.__subclasses__()",
        Refused(2, '"__subclasses__" is an invalid attribute name'),
    ),
    "object_subclasses_via_getattr": (
        "return getattr(object, '__subclasses__')()",
        Raises("AttributeError", '"__subclasses__" is an invalid attribute name', 2),
    ),
    "object_setattr_on_injected": (
        "s = getattr(object, '__setattr__')",
        Raises("AttributeError", '"__setattr__" is an invalid attribute name', 2),
    ),
    "super_walks_to_object_dunders": (
        "class A:\n    def f(self):\n        return getattr(super(), '__reduce_ex__')\n"
        "return A().f()",
        Raises("AttributeError", '"__reduce_ex__" is an invalid attribute name', 4),
    ),
    "super_of_host_object_init": (
        "class A(dict):\n    pass\ns = super(dict, request)",
        Raises("TypeError", "super(type, obj): obj must be an instance or subtype of type", 4),
    ),
    "super_thisclass": (
        "class A:\n    pass\nreturn getattr(super(A, A()), '__thisclass__')",
        Raises("AttributeError", '"__thisclass__" is an invalid attribute name', 4),
    ),
    "super_self_class": (
        "class A:\n    def f(self):\n        return super().__self_class__\nreturn A().f()",
        Refused(4, '"__self_class__" is an invalid attribute name'),
    ),
    "super_init_of_host_class": (
        "class A(ValueError):\n    def f(self):\n        return super(ValueError, request).__init__"
        "\nreturn A().f()",
        Raises("TypeError", "super(type, obj): obj must be an instance or subtype of type", 4),
    ),
    "property_fget_reaches_only_the_function": (
        "p = property(log)\nreturn getattr(p.fget, '__globals__')",
        Raises("AttributeError", '"__globals__" is an invalid attribute name', 3),
    ),
    "property_of_host_function_on_script_class": (
        "class A:\n    x = property(log)\nreturn getattr(A(), 'x').__self__",
        Refused(4, '"__self__" is an invalid attribute name'),
    ),
    "classmethod_func": (
        "def f(cls):\n    return cls\nreturn getattr(classmethod(f), '__func__')",
        Raises("AttributeError", '"__func__" is an invalid attribute name', 4),
    ),
    "classmethod_gets_the_class_not_its_internals": (
        "class A:\n    @classmethod\n    def m(cls):\n        return getattr(cls, '__bases__')"
        "\nreturn A.m()",
        Raises("AttributeError", '"__bases__" is an invalid attribute name', 5),
    ),
    "staticmethod_wrapping_a_host_function": (
        "class A:\n    s = staticmethod(fetch)\nreturn A.s('http://127.0.0.1/')",
        Raises("FetchError", "host not on the allowlist", 4),
    ),
    "decorator_is_a_host_function_call": (
        "@storage.set\ndef k():\n    pass",
        Raises("TypeError", "storage.set() missing 1 required positional argument", 2),
    ),
    "class_decorator_cannot_change_an_injected_object": (
        "def deco(cls):\n    request.method = 'x'\n    return cls\n@deco\nclass A:\n    pass",
        Raises("TypeError", WRITE, 3),
    ),
    "nonlocal_guard_name": (
        "def f():\n    def g():\n        nonlocal _getattr_\n    return g",
        Refused(4, '"_getattr_" is an invalid variable name'),
    ),
    # -- match: class patterns refused; names and attributes checked as anywhere else
    "match_class_pattern": (
        "match request:\n    case FetchRequest(method='GET'):\n        pass",
        Refused(3, "Class patterns such as"),
    ),
    "match_class_pattern_nested": (
        "match [request]:\n    case [object(x=1)]:\n        pass",
        Refused(3, "Use a mapping pattern"),
    ),
    "match_capture_guard_name": (
        "match 1:\n    case _getattr_:\n        pass",
        Refused(3, '"_getattr_" is an invalid variable name'),
    ),
    "match_as_private_name": (
        "match 1:\n    case 1 as _x:\n        pass",
        Refused(3, '"_x" is an invalid variable name'),
    ),
    "match_star_private_name": (
        "match [1]:\n    case [*_write_]:\n        pass",
        Refused(3, '"_write_" is an invalid variable name'),
    ),
    "match_rest_private_name": (
        "match {}:\n    case {**__builtins__}:\n        pass",
        Refused(3, '"__builtins__" is an invalid variable name'),
    ),
    "match_value_dunder": (
        "match 1:\n    case request.__class__:\n        pass",
        Refused(3, '"__class__" is an invalid attribute name'),
    ),
    "match_value_restricted": (
        "def g():\n    yield 1\nx = g()\nmatch 1:\n    case x.gi_frame:\n        pass",
        Refused(6, '"gi_frame" is a restricted name'),
    ),
    "match_value_mro": (
        "match 1:\n    case int.mro:\n        pass",
        Refused(3, '"mro" cannot be read in a pattern'),
    ),
    "match_mapping_key_dunder": (
        "match {}:\n    case {request.__dict__: 1}:\n        pass",
        Refused(3, '"__dict__" is an invalid attribute name'),
    ),
    "match_guard_is_checked": (
        "match 1:\n    case x if x.__class__:\n        pass",
        Refused(3, '"__class__" is an invalid attribute name'),
    ),
    "match_mapping_on_storage_matches_nothing": (
        "match storage:\n    case {'k': v}:\n        return v\n    case _:\n"
        "        raise ValueError('no match')",
        Raises("ValueError", "no match", 6),
    ),
    "match_sequence_on_module_view_matches_nothing": (
        "import json\nmatch json:\n    case [*items]:\n        return items\n    case _:\n"
        "        raise ValueError('no match')",
        Raises("ValueError", "no match", 7),
    ),
    "match_mapping_on_own_dict_subclass_runs_only_its_own_get": (
        "class D(dict):\n    def get(self, key, default=None):\n        log('get', key)\n"
        "        return getattr(self, '__class__')\nmatch D(a=1):\n    case {'a': v}:\n"
        "        return v",
        Raises("AttributeError", '"__class__" is an invalid attribute name', 5),
    ),
    "match_mapping_on_the_request_object_matches_nothing": (
        "match request:\n    case {'method': m}:\n        return m\n    case _:\n"
        "        raise ValueError('no match')",
        Raises("ValueError", "no match", 6),
    ),
    "typing_view_has_only_type_checking": (
        "from typing import cast",
        Refused(2, 'Cannot import "cast" from "typing": it is not available in the sandbox. '
                'Annotations never run: import it under "if TYPE_CHECKING:".'),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_attack_is_refused_and_wall_holds(name: str) -> None:
    body, expected = CASES[name]
    source = script(body)
    if isinstance(expected, Refused):
        problems = problems_of(source)
        assert any(
            line == expected.line and expected.fragment in message for line, message in problems
        ), problems
    else:
        outcome = run(source)
        assert outcome["ok"] is False
        error = outcome["error"]
        assert error["type"] == expected.type, error
        assert expected.fragment in error["message"], error
        assert error["line"] == expected.line, error
        if expected.line is not None:
            assert error["message"].startswith(f"line {expected.line}: ")
        assert outcome["limit"] == expected.limit
    assert_benign_call_works()


def test_there_are_at_least_45_cases() -> None:
    assert len(CASES) >= 45


# -- messages and tracebacks cannot be turned against the host -----------------------------------


def test_huge_exception_message_is_capped() -> None:
    outcome = run(script("raise ValueError('x' * 10 ** 6)"))
    message = outcome["error"]["message"]
    assert message.startswith("line 2: xxx")
    assert len(message) <= 2_100
    assert_benign_call_works()


def test_huge_exception_args_are_shown_bounded() -> None:
    outcome = run(script("raise ValueError(list(range(10 ** 5)), {'k': 'v' * 10 ** 5})"))
    assert outcome["error"]["type"] == "ValueError"
    assert len(outcome["error"]["message"]) <= 2_100
    assert_benign_call_works()


def test_traceback_holds_only_tenant_frames_capped() -> None:
    source = script(
        "return down(0)",
        top="import json\n\ndef down(n):\n    if n == 40:\n        json.loads('{')\n"
        "    return down(n + 1)\n",
    )
    outcome = run(source)
    error = outcome["error"]
    assert error["type"] == "JSONDecodeError"
    assert error["line"] == 5
    assert len(error["traceback"]) == 21
    assert error["traceback"][0].startswith("... ")
    assert error["traceback"][-1] == "line 5, in down"
    assert not any("/" in line or ".py" in line for line in error["traceback"])
    assert_benign_call_works()


def test_bare_except_cannot_catch_host_signals() -> None:
    # A limit signal the process wall raises (e.g. from SIGXCPU) is a BaseException: a script's
    # bare `except:` is compiled as `except Exception:` and cannot swallow it.
    class SignallingHost(DictHost):
        def request(self, payload: dict[str, Any]) -> dict[str, Any]:
            raise LimitExceeded("cpu")

    body = """
        try:
            storage.get("k")
        except:
            return "swallowed"
    """
    outcome = run(script(body), host=SignallingHost())
    assert outcome["ok"] is False
    assert outcome["limit"] == "cpu"
    assert outcome["error"]["type"] == "LimitExceeded"
    assert outcome["error"]["line"] == 3
    assert_benign_call_works()


@pytest.mark.parametrize("signal", [SystemExit(3), KeyboardInterrupt(), GeneratorExit()])
def test_executor_catches_base_exceptions(signal: BaseException) -> None:
    class Host(DictHost):
        def request(self, payload: dict[str, Any]) -> dict[str, Any]:
            raise signal

    outcome = run(script("return storage.get('k')"), host=Host())
    assert outcome["ok"] is False
    assert outcome["error"]["type"] == type(signal).__name__
    assert outcome["error"]["line"] == 2
    assert_benign_call_works()


def test_broken_call_never_raises() -> None:
    outcome = execute(
        Call(source=script("return 1"), function=PARSE, args=(object(),)),  # not JSON
        Limits(),
        DictHost(),
    )
    assert outcome["ok"] is False
    assert outcome["error"]["type"] == "TypeError"


def test_entry_point_must_be_a_script_function() -> None:
    for name in ("_getattr_", "__metaclass__", "log", "fetch", "json"):
        outcome = run(script("return 1") + "import json\n", name)
        assert outcome["error"]["type"] == "FunctionMissing", (name, outcome)


# -- cross-call leaks ----------------------------------------------------------------------------

LEAKY = script(
    """
    state = request.json()
    if state["call"] == 1:
        Counter.shared = "set in call 1"
        CACHE["k"] = "set in call 1"
        try:
            json.dumps = None
        except TypeError:
            pass
        try:
            dict.fromkeys = None
        except TypeError:
            pass
    return [getattr_shared(), dict(CACHE), json.dumps([1]), sorted(dict.fromkeys("ab"))]
    """,
    top="""
    import json
    CACHE = {}

    class Counter:
        shared = "fresh"

    def getattr_shared():
        return Counter.shared
    """,
)


def test_no_state_crosses_calls() -> None:
    first = run(LEAKY, request=RequestData(body='{"call": 1}'))
    second = run(LEAKY, request=RequestData(body='{"call": 2}'))
    assert first["result"] == ["set in call 1", {"k": "set in call 1"}, "[1]", ["a", "b"]]
    assert second["result"] == ["fresh", {}, "[1]", ["a", "b"]]


def test_two_tenants_one_after_the_other() -> None:
    tenant_a = script(
        "log('a secret', settings['apiKey'])\nSEEN.append(settings['apiKey'])\nreturn SEEN",
        top="SEEN = []",
    )
    tenant_b = script("return [len(SEEN), dict(settings)]", top="SEEN = []")
    host_a, host_b = DictHost(), DictHost()
    a = run(tenant_a, settings={"apiKey": "A-KEY"}, host=host_a)
    b = run(tenant_b, settings={"other": 1}, host=host_b)
    assert a["result"] == ["A-KEY"]
    assert b == {**b, "ok": True, "result": [0, {"other": 1}], "logs": ""}


# Every name a call's namespace shares with the next one (the guards' and the injected classes,
# enums, type constructors and factory), plus the builtins: call 1 tries to change each of them,
# rebinds them in its own globals, and call 2 must find all of them as they were.
SHARED_NAMES = (
    "HttpResponse", "VoipCallDirection", "VoipCallDisposition", "VoipWebhookEvent",
    "FetchError", "StorageError", "FetchRequest", "VoipWebhookParseResult", "VoipWebhookRequest",
    "VoipCallRecord", "VoipTestConnectionResult", "VoipMember", "len", "dict", "getattr", "pow",
)
TAMPERING = script(
    """
    if request.json()["call"] == 1:
        refused = []
        for target in TARGETS:
            try:
                target.tampered = "set in call 1"
            except (TypeError, AttributeError):
                refused.append(1)
            try:
                target["tampered"] = "set in call 1"
            except (TypeError, AttributeError, KeyError):
                refused.append(1)
        count = len(refused)
        rebind()
        return [count, HttpResponse, len]
    return [
        [hasattr(target, "tampered") for target in TARGETS],
        HttpResponse().status(201),
        VoipCallDirection("in"),
        len("abc"),
        pow(2, 3),
        VoipWebhookRequest(srcPhone="1"),
    ]
    """,
    top=f"""
    TARGETS = [{", ".join(SHARED_NAMES)}]

    def rebind():
        global {", ".join(SHARED_NAMES)}
        {" = ".join(SHARED_NAMES)} = "rebound in call 1"
    """,
)


def test_what_calls_share_no_script_can_change() -> None:
    first = run(TAMPERING, request=RequestData(body='{"call": 1}'))
    second = run(TAMPERING, request=RequestData(body='{"call": 2}'))
    assert first["result"] == [2 * len(SHARED_NAMES), "rebound in call 1", "rebound in call 1"]
    assert second["ok"], second
    assert second["result"] == [
        [False] * len(SHARED_NAMES),
        {"status": 201, "headers": {}, "body": ""},
        "in",
        3,
        8,
        {"srcPhone": "1"},
    ]


def test_request_headers_and_query_are_read_only_and_the_same_objects_each_read() -> None:
    source = script(
        """
        first = request.headers
        query = request.query
        refused = 0
        for target in (request, first, query):
            try:
                target.extra = 1
            except (TypeError, AttributeError):
                refused += 1
        try:
            first["X-New"] = "1"
        except TypeError:
            refused += 1
        return [first is request.headers, query is request.query, refused,
                request.headers["x-tenant"], request.headers.get("X-TENANT"),
                dict(request.query), list(request.headers), request.body]
        """
    )
    request = RequestData(
        method="POST", url="http://localhost/hooks/h?a=1&b=two+words&a=3",
        headers=(("X-Tenant", "t1"), ("Content-Type", "text/plain")), body="hello",
    )
    outcome = run(source, request=request)
    assert outcome["result"] == [
        True, True, 4, "t1", "t1", {"a": "3", "b": "two words"}, ["X-Tenant", "Content-Type"],
        "hello",
    ]


def test_injected_objects_are_fresh_each_call() -> None:
    source = script("r = HttpResponse()\nr.status(201)\nreturn [HttpResponse(), r]")
    first = run(source)
    second = run(source)
    assert first["result"] == second["result"]
    assert first["result"][0]["status"] == 200


@pytest.mark.parametrize(
    ("name", "fromlist", "message"),
    [
        ("os", (), "module 'os' is not available in the sandbox"),
        ("urllib.request", (), "module 'urllib.request' is not available in the sandbox"),
        ("json", ("codecs",), "cannot import name 'codecs' from 'json'"),
        ("json", ("loads", "codecs"), "cannot import name 'codecs' from 'json'"),
        ("urllib.parse", ("quote", "__dict__"), "cannot import name '__dict__' from"),
    ],
)
def test_run_time_import_refusal_names_the_module(
    name: str, fromlist: tuple[str, ...], message: str
) -> None:
    # Import statements are checked at compile time; `__import__` checks again at run time.
    from sandbox.guards import safe_import

    with pytest.raises(ImportError, match=message):
        safe_import(name, None, None, fromlist, 0)


def test_a_scripts_classes_are_its_own_during_the_call_and_forgotten_after_it() -> None:
    # The record of the script's classes (what `_write_` lets it change) holds each class for
    # as long as it lives: the call's classes are gone from it when the call is over.
    from sandbox.guards import _TENANT_CLASSES, is_tenant_class

    result = result_of(
        """
        class Base:
            pass
        class Child(Base):
            def __init__(self):
                self.n = 1
        child = Child()
        child.n += 1
        Base.shared = 3
        return [child.n, Child.shared]
        """
    )
    assert result == [2, 3]
    assert len(_TENANT_CLASSES) == 0
    assert not is_tenant_class(dict) and not is_tenant_class(ValueError)


def test_a_module_views_members_are_its_only_public_attributes() -> None:
    # The members are the view's own attributes (how `from re import match` finds them), read
    # as the values they are; anything else is the view's refusal, and nothing changes them.
    from sandbox.modules import VIEWS, view_members

    for name, view in VIEWS.items():
        public = {attribute for attribute in dir(view) if not attribute.startswith("_")}
        assert public == set(view_members(view)), name
        for member, value in view_members(view).items():
            assert getattr(view, member) is value, (name, member)
        with pytest.raises(AttributeError, match="has no attribute 'nope'"):
            view.nope  # noqa: B018
        with pytest.raises(TypeError, match="read-only"):
            view.nope = 1
    assert result_of("from urllib.parse import quote\nreturn quote('a b')") == "a%20b"
    assert result_of("import urllib.parse\nreturn urllib.parse.quote('a b')") == "a%20b"


def test_nothing_of_a_call_stays_alive_in_the_standard_librarys_caches() -> None:
    # A script's str subclass kept as a cache key would keep its class, and through the class's
    # methods the call's whole namespace, alive into later calls (finalised during one of them).
    import encodings

    source = script(
        """
        p = Probe("a+")
        found = [
            str(re.compile(p).pattern),
            re.sub(p, Probe("b"), "aaa"),
            re.compile("a").sub(Probe("c"), "a"),
            re.compile(Probe("(a)")).sub(Probe("<\\\\1>"), "a"),
            urllib.parse.urlsplit(Probe("https://example.com/x")).path,
            urllib.parse.quote(Probe("a b"), safe=Probe("/")),
            datetime.datetime.strptime(Probe("2024"), Probe("%Y")).year,
        ]
        try:
            "x".encode("no-such-codec-" + "z" * 1000)
        except LookupError:
            found.append("no codec")
        return found
        """,
        top="""
        import datetime
        import re
        import urllib.parse

        class Probe(str):
            def __init__(self, text):
                self.call = request_marker()

        def request_marker():
            return "the call's namespace"
        """,
    )
    outcome = run(source)
    assert outcome["result"] == ["a+", "b", "c", "<a>", "/x", "a%20b", 2024, "no codec"], outcome
    survivors = [
        obj for obj in gc.get_objects()
        if isinstance(obj, type) and obj.__name__ == "Probe" and obj.__module__ == "script"
    ]
    assert survivors == []
    assert not any(name.startswith("no-such-codec") for name in encodings._cache)
    assert_benign_call_works()


def test_unknown_codec_names_are_dropped_call_after_call() -> None:
    # The clean-up scans the codec cache only when it grew since the last clean-up: each call's
    # unknown names still go, also after a call that added a real codec.
    import encodings

    for name in ("no-such-codec-a", "cp1252", "no-such-codec-b", "utf_16_be", "no-such-codec-c"):
        source = script(
            f"""
            try:
                return len("x".encode({name!r}))
            except LookupError:
                return 0
            """
        )
        outcome = run(source)
        assert outcome["ok"], outcome
        assert not any(key.startswith("no-such-codec") for key in encodings._cache), name
    assert encodings._cache.get("cp1252") is not None


@pytest.mark.parametrize(
    "name", ["_", "_x", "__class__", "_\uffff", "^", "^_", "`", "`_", "a_", "", "\u00ff", "mro"]
)
def test_attribute_names_are_judged_as_by_startswith(name: str) -> None:
    # `_getattr_` tests the prefix by ordering ("_" <= name < "`"); a name is refused for its
    # underscore exactly when it starts with "_" and is not "_" itself.
    from sandbox.guards import guarded_getattr

    class Plain:
        pass

    with pytest.raises(AttributeError) as raised:
        guarded_getattr(Plain(), name)
    refused = "starts with" in str(raised.value)
    assert refused == (name.startswith("_") and name != "_"), str(raised.value)


def test_plain_reads_give_what_python_gives_and_never_a_format_method() -> None:
    # `_getattr_`'s shortcut for exact builtin values and the contract's enum members hands out
    # exactly what `getattr` does, and covers no name the general path would refuse or swap.
    from sandbox.guards import _CONTRACT_MEMBERS, _PLAIN_READS, guarded_getattr, safe_format
    from sandbox.injected import CONTRACT_ENUMS

    samples = {dict: {"a": 1}, list: [1], str: "{0}", tuple: (1,), set: {1}, frozenset: frozenset(),
               int: 7, float: 1.5, bool: True, bytes: b"x"}
    assert set(_PLAIN_READS) == set(samples)
    for kind, names in _PLAIN_READS.items():
        assert not names & {"format", "format_map", "mro", "obj"}, kind
        assert all(not name.startswith("_") for name in names), kind
        for name in names:
            assert guarded_getattr(samples[kind], name) == getattr(samples[kind], name)
    assert guarded_getattr("{0}", "format")("x") == "x"
    assert guarded_getattr(str, "format") is safe_format
    assert set(_CONTRACT_MEMBERS) == set(CONTRACT_ENUMS)
    for enum_class in CONTRACT_ENUMS:
        for member in enum_class:
            assert guarded_getattr(enum_class, member.name) is member
        assert guarded_getattr(enum_class, "format") is safe_format
        with pytest.raises(AttributeError):
            guarded_getattr(enum_class, "NoSuchMember")


def test_fetch_headers_with_a_control_character_are_refused_before_they_leave() -> None:
    # The host's HTTP client refuses to write any control character but tab in a header: the
    # script hears why from fetch() itself, and nothing is asked of the host.
    host = DictHost({"https://example.com/": {"status": 200, "headers": [], "body": "ok"}})
    result = result_of(
        """
        found = []
        for control in ("\\x01", "\\x0b", "\\x1b", "\\x7f", "\\r", "\\x00"):
            try:
                fetch("https://example.com/", headers={"X-A": "a" + control + "b"})
                found.append("sent")
            except ValueError as error:
                found.append(str(error))
        found.append(fetch("https://example.com/", headers={"X-A": "a\\tb \\u00e9"}).text())
        return found
        """,
        host=host,
    )
    refused = "a header value may not contain line breaks or control characters (TAB is allowed)"
    assert result == [refused] * 6 + ["ok"]
    assert [r["headers"] for r in host.requests] == [{"X-A": "a\tb \u00e9"}]


def test_log_and_print_never_call_a_scripts_own_str_methods() -> None:
    # `sep` and `end` may be a script's str subclass: the log joins with str's own methods,
    # not the subclass's `join`, so no script code runs inside log() or print().
    outcome = run(script(
        """
        joins = []

        class Sep(str):
            def join(self, parts):
                joins.append("join")
                return "forged"

        log("a", "b", sep=Sep("-"), end=Sep("!\\n"))
        print("c", "d", sep=Sep("+"))
        return joins
        """
    ))
    assert outcome["ok"], outcome["error"]
    assert outcome["result"] == []
    assert outcome["logs"] == "a-b!\nc+d\n"


def test_header_lookup_never_calls_a_scripts_own_str_methods() -> None:
    # A key given to the case-insensitive headers may be a script's str subclass: the lookup
    # lower-cases it with str's own method, so no script code runs inside the host's mapping
    # (and the key's own `lower` cannot choose which header is read).
    outcome = run(script(
        """
        calls = []

        class Key(str):
            def lower(self):
                calls.append("lower")
                return "x-secret"

        key = Key("Content-Type")
        return [request.headers[key], request.headers.get(key), key in request.headers,
                calls]
        """
    ), request=RequestData(headers=(("Content-Type", "text/plain"), ("X-Secret", "s"))))
    assert outcome["ok"], outcome["error"]
    assert outcome["result"] == ["text/plain", "text/plain", True, []]


def test_private_keyword_names_are_judged_without_the_scripts_own_str_methods() -> None:
    # `**{name: value}` may carry a script's str subclass as a name: `_apply_` asked the name's
    # own startswith(), which said no, and a "_" keyword reached the function called.
    outcome = run(script(
        """
        calls = []

        class Name(str):
            def startswith(self, *args):
                calls.append("startswith")
                return False

        try:
            VoipMember(**{Name("_id"): "1"})
        except TypeError as error:
            return [str(error), calls]
        """
    ))
    assert outcome["ok"], outcome["error"]
    assert outcome["result"] == ['keyword argument "_id" starts with "_"', []]
