"""YAML configs with command-line overrides of any key, nested keys included.

    config = load_config("conf/resnet.yaml", ["--optimizer_args.lr", "0.01", "--num_epochs=3"])

Override values are parsed as YAML scalars (so ``0.01`` is a float, ``[1,2]`` a list, ``null``
None). Config files and overrides read floats the way people write them: YAML 1.1 (PyYAML) takes
``1e-3`` for a string and wants ``1.0e-3``; here ``1e-3``, ``1E+5``, ``-2e3`` and ``.5e-1`` are
floats too. ``load_config`` checks the result against the schema
(:mod:`wedefense.utils.config_schema`): an unknown key or a bad value is an :class:`InputError`
naming the file and line, or the override, since a misspelt key that silently does nothing
wastes a whole training run.
"""

import copy
import re

import yaml

from wedefense.utils.config_schema import check_config
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_open

_FLOAT_TAG = "tag:yaml.org,2002:float"
# YAML 1.1's float pattern plus exponents without a dot or without a sign (1e-3, 2E5, .5e-1);
# a plain integer still needs neither, so it stays an int
_FLOAT = re.compile(r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""", re.X)


def _with_float_resolver(resolvers):
    """A copy of a resolver table with our float pattern in place of YAML 1.1's."""
    return {first: [(tag, _FLOAT if tag == _FLOAT_TAG else regexp) for tag, regexp in entries]
            for first, entries in resolvers.items()}


class ConfigLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that also reads ``1e-3``-style scalars as floats."""

    yaml_implicit_resolvers = _with_float_resolver(yaml.SafeLoader.yaml_implicit_resolvers)


class ConfigDumper(yaml.SafeDumper):
    """``yaml.SafeDumper`` with the same float pattern, so a string such as ``"1e5"`` is written
    quoted and reads back as a string through :class:`ConfigLoader`."""

    yaml_implicit_resolvers = _with_float_resolver(yaml.SafeDumper.yaml_implicit_resolvers)


def load_yaml(path):
    return _read_yaml(path)[0]


def _read_yaml(path):
    """The mapping in ``path`` and ``{key path tuple: line}`` of every key in it."""
    try:
        with open(path, encoding="utf-8") as f:
            loader = ConfigLoader(f)
            try:
                node = loader.get_single_node()
                data = None if node is None else loader.construct_document(node)
            finally:
                loader.dispose()
    except FileNotFoundError:
        raise InputError("config file not found", path) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise InputError(f"invalid YAML: {e}", path,
                         None if mark is None else mark.line + 1) from None
    if data is None:
        return {}, {}
    if not isinstance(data, dict):
        raise InputError("config must be a mapping of keys to values", path)
    return data, _key_lines(node, ())


def _key_lines(node, path):
    lines = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            here = (*path, str(key_node.value))
            lines[here] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, here))
    return lines


def parse_overrides(args):
    """``["--a.b", "1", "--c=x"]`` -> ``[("a.b", 1), ("c", "x")]``."""
    pairs = []
    i = 0
    while i < len(args):
        arg = args[i]
        if not arg.startswith("--"):
            raise InputError(f"expected an override '--key value', got '{arg}'")
        if "=" in arg:
            key, value = arg[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(args):
                raise InputError(f"override {arg} needs a value")
            key, value = arg[2:], args[i + 1]
            i += 2
        try:
            parsed = yaml.load(value, Loader=ConfigLoader) if value != "" else ""
        except yaml.YAMLError as e:
            raise InputError(f"override --{key}: cannot parse '{value}': {e}") from None
        pairs.append((key, parsed))
    return pairs


def apply_overrides(config, overrides):
    """Return a copy of ``config`` with dotted-key overrides applied (missing sections are
    created; :func:`load_config` then checks every key against the schema)."""
    config = copy.deepcopy(config)
    for key, value in overrides:
        node = config
        parts = key.split(".")
        for part in parts[:-1]:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]
            if not isinstance(node, dict):
                raise InputError(f"override --{key}: '{part}' is not a mapping")
        node[parts[-1]] = value
    return config


def load_config(path, override_args=()):
    """The config in ``path`` with ``override_args`` applied, checked against the schema."""
    data, lines = _read_yaml(path)
    overrides = parse_overrides(list(override_args))
    config = apply_overrides(data, overrides)

    def locate(key_path):
        for key, _ in reversed(overrides):
            parts = tuple(key.split("."))
            if key_path[:len(parts)] == parts:
                return f"override --{key}: ", None, None
        for end in range(len(key_path), 0, -1):
            if key_path[:end] in lines:
                return "", path, lines[key_path[:end]]
        return "", path, None

    check_config(config, locate)
    return config


def save_config(config, path):
    with atomic_open(path) as f:
        yaml.dump(config, f, Dumper=ConfigDumper, sort_keys=False, default_flow_style=None)
