"""The package's layout: every module sits in a layer, and imports point down.

The layers follow the data path, lowest first: the one validation of
settings; Keras layers, which know nothing of where features come from; data
sources yielding `Interactions`; retrieval, lists, losses, tasks, models and
serving on top of them; then training, evaluation, experiments, the command
line and the testing helpers. A module may import modules of its own layer
and of lower ones, never of a higher one, and never a private (`_`) name of
another layer.
"""

import ast
import pathlib

import pytest

import tfrs_ltttd

PACKAGE = pathlib.Path(tfrs_ltttd.__file__).resolve().parent

#: The package's layers, lowest first; the one place their order is written.
LAYERS = (
    ("_keras", "_io", "_memo", "version"),
    ("settings",),
    ("layers",),
    ("data",),
    ("retrieval",),
    ("lists",),
    ("losses",),
    ("tasks",),
    ("models",),
    ("serving",),
    ("training",),
    ("evaluation",),
    ("experiments",),
    ("cli",),
    ("testing",),
)
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def _layer(module: str) -> str:
  """`tfrs_ltttd.lists.build` -> `lists`."""
  return module.split(".")[1]


def _imports(tree: ast.AST):
  """`(module, name, line)` of every `tfrs_ltttd` import, nested ones too;
  `name` is what `from module import name` takes (None for `import`)."""
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        if alias.name.startswith("tfrs_ltttd."):
          yield alias.name, None, node.lineno
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and (
        node.module == "tfrs_ltttd"
        or node.module.startswith("tfrs_ltttd.")):
      for alias in node.names:
        if node.module == "tfrs_ltttd":  # `from tfrs_ltttd import data`
          yield f"tfrs_ltttd.{alias.name}", None, node.lineno
        else:
          yield node.module, alias.name, node.lineno


def violations(module: str, source: str):
  """What in `source` (the text of `module`) breaks the layering."""
  found = []
  here = _layer(module)
  for target, name, line in _imports(ast.parse(source)):
    there = _layer(target)
    where = f"{module} line {line}"
    if there not in RANK:
      found.append(f"{where}: imports {target}, which is in no layer")
    elif RANK[there] > RANK[here]:
      found.append(f"{where}: imports {target} from the higher layer "
                   f"'{there}' into '{here}'")
    elif (name and name.startswith("_") and there != here
          and there not in LAYERS[0]):
      found.append(f"{where}: imports the private name {name} of {target}")
  return found


def _modules():
  for path in sorted(PACKAGE.rglob("*.py")):
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    if parts == ("__init__",):
      continue  # the public API gathers every layer
    yield ".".join(("tfrs_ltttd",) + parts), path


def test_only_the_api_and_private_helpers_are_top_level_modules():
  loose = sorted(p.stem for p in PACKAGE.glob("*.py")
                 if p.stem != "__init__" and p.stem not in LAYERS[0])
  assert not loose, f"modules outside every folder: {loose}"


def test_every_folder_is_a_layer():
  folders = {p.name for p in PACKAGE.iterdir()
             if p.is_dir() and (p / "__init__.py").exists()}
  assert folders == set(RANK) - set(LAYERS[0])


def test_imports_point_down():
  found = []
  for module, path in _modules():
    found += violations(module, path.read_text())
  assert not found, "\n".join(found)


@pytest.mark.parametrize("module,source,expected", [
    ("tfrs_ltttd.layers.towers", "from tfrs_ltttd.data import history\n",
     "higher layer 'data' into 'layers'"),
    ("tfrs_ltttd.models.ltttd",
     "def f():\n  from tfrs_ltttd import training\n",
     "higher layer 'training' into 'models'"),
    ("tfrs_ltttd.evaluation.protocol",
     "from tfrs_ltttd.lists.build import _private\n",
     "private name _private"),
    ("tfrs_ltttd.data.tables", "import tfrs_ltttd.metrics.ranking\n",
     "in no layer"),
])
def test_the_check_catches(module, source, expected):
  found = violations(module, source)
  assert len(found) == 1 and expected in found[0], found


def test_the_check_accepts_imports_down_and_within_a_layer():
  assert not violations(
      "tfrs_ltttd.training.loop",
      "from tfrs_ltttd.training.backup import TrainingBackup\n"
      "from tfrs_ltttd.lists import build\n"
      "from tfrs_ltttd._io import atomic_path\n")
