"""bindings/python/domainsearch/_domainsearch.pyi against the module it describes: the same public names; for
each class, the same methods and attributes (and the dunders that matter: __init__, __len__, __contains__,
__enter__, __exit__, __repr__, pickling); the same parameter names for every public function and method; the
same bases for the exceptions. And the package ships the stubs with py.typed. Needs the built package on
PYTHONPATH."""
import ast
import os
import types

import pytest

ds = pytest.importorskip("domainsearch")
native = ds._domainsearch
STUB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python", "domainsearch", "_domainsearch.pyi")
DUNDERS = {"__init__", "__len__", "__contains__", "__enter__", "__exit__", "__repr__", "__getstate__", "__setstate__"}


def public(name):
    return not name.startswith("_") or name in DUNDERS


def stub_module():
    with open(STUB, encoding="utf-8") as f:
        return ast.parse(f.read(), STUB)


def definitions(body):
    """name -> node of the classes, functions and annotated or assigned names in a stub body."""
    out = {}
    for node in body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out[node.target.id] = node
        elif isinstance(node, ast.Assign):
            out.update({t.id: node for t in node.targets if isinstance(t, ast.Name)})
    return out


def stub_parameters(node):
    a = node.args
    names = [p.arg for p in a.posonlyargs + a.args]
    if a.vararg:
        names.append("*" + a.vararg.arg)
    return names + [p.arg for p in a.kwonlyargs] + (["**" + a.kwarg.arg] if a.kwarg else [])


def native_parameters(function, name):
    """Parameter names from the signature line pybind11 writes first in a docstring."""
    line = (function.__doc__ or "").split("\n", 1)[0]
    assert line.startswith(name + "("), f"{name}: no pybind11 signature in its docstring: {line!r}"
    parts, part, depth = [], "", 0
    for ch in line[len(name) + 1:]:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(part)
            part = ""
        else:
            part += ch
    parts.append(part)
    return [p.split(":")[0].split("=")[0].strip() for p in parts if p.strip()]


def test_the_stub_names_what_the_module_holds():
    stub = definitions(stub_module().body)
    in_module = {name for name in dir(native) if not name.startswith("_")} | {"__version__"}
    in_stub = {name for name in stub if not name.startswith("_")} | ({"__version__"} & set(stub))
    assert in_module - in_stub == set(), "in the module, missing from _domainsearch.pyi"
    assert in_stub - in_module == set(), "in _domainsearch.pyi, not in the module"
    for name in sorted(in_module - {"__version__"}):
        if callable(getattr(native, name)) and not isinstance(getattr(native, name), type):
            assert native_parameters(getattr(native, name), name) == stub_parameters(stub[name]), name


def test_the_stub_classes_have_the_module_classes_members():
    stub = definitions(stub_module().body)
    for name in sorted(dir(native)):
        cls = getattr(native, name)
        if name.startswith("_") or not isinstance(cls, type):
            continue
        node = stub[name]
        assert isinstance(node, ast.ClassDef), name
        if issubclass(cls, BaseException):
            assert [b.__name__ for b in cls.__bases__] == [ast.unparse(b) for b in node.bases], name
            continue
        members = definitions(node.body)
        # A slot wrapper is pybind11's "No constructor defined" __init__: nothing a user can call.
        in_module = {m for m, v in vars(cls).items() if public(m) and not isinstance(v, types.WrapperDescriptorType)}
        in_stub = {m for m in members if public(m)}
        assert in_module - in_stub == set(), f"{name}: in the module, missing from _domainsearch.pyi"
        assert in_stub - in_module == set(), f"{name}: in _domainsearch.pyi, not in the module"
        for member in sorted(in_module):
            value = vars(cls)[member]
            if isinstance(value, property) or not (member == "__init__" or not member.startswith("_")):
                continue
            stub_node = members[member]
            assert isinstance(stub_node, ast.FunctionDef), f"{name}.{member}: a method in the module"
            decorators = {ast.unparse(d) for d in stub_node.decorator_list}
            assert (type(value).__name__ == "staticmethod") == ("staticmethod" in decorators), f"{name}.{member}: static or not"
            expected = native_parameters(getattr(cls, member), member)
            if "staticmethod" not in decorators:
                assert expected[:1] == ["self"], f"{name}.{member}: {expected}"
            assert expected == stub_parameters(stub_node), f"{name}.{member}"


def test_the_package_exports_the_module_and_ships_the_stubs():
    assert all(hasattr(ds, name) for name in ds.__all__)
    assert {name for name in dir(native) if not name.startswith("_")} <= set(ds.__all__)
    folder = os.path.dirname(os.path.abspath(ds.__file__))
    assert os.path.isfile(os.path.join(folder, "py.typed"))
    with open(os.path.join(folder, "_domainsearch.pyi"), encoding="utf-8") as shipped, open(STUB, encoding="utf-8") as source:
        assert shipped.read() == source.read(), "the package's _domainsearch.pyi is not the source's (build again)"
