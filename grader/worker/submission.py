"""Load a submission file and hold it to the contract: Net() builds and maps (N,1,28,28) to finite (N,10)."""

from __future__ import annotations

import ast
import copy
import hashlib
import importlib.util
import sys
import traceback
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import torch

from grader.course.lesson import RECIPE_NAMES
from grader.errors import SubmissionError
from grader.walls.policy import runnable_tree

# Bounds on the module tree, checked before anything that recurses over it (named_modules, deepcopy, export).
MAX_MODULE_DEPTH = 32  # levels of submodules: honest models have 3; Python's recursion gives out near 1,000/3
MAX_NAME_CHARS = 128  # a layer's, parameter's or buffer's name: honest ones are at most 19 (num_batches_tracked)
MAX_MODULE_VISITS = 10_000  # modules a walk that does not remember meets (Module.train, apply): honest ones, tens


@dataclass
class Submission:
    path: Path
    sha256: str
    module: ModuleType

    @property
    def net_class(self) -> type:
        return self.module.Net

    def recipe_overrides(self) -> dict:
        """The optional recipe names the submission defines (EPOCHS, BATCH_SIZE, AUGMENT, make_optimizer)."""
        return {name: getattr(self.module, name) for name in RECIPE_NAMES if hasattr(self.module, name)}


def _submission_frames(exc: BaseException, path: Path) -> str:
    """The traceback lines that point into the student's file: where to look, without grader internals."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    if not frames:
        return ""
    f = frames[-1]
    return f" (line {f.lineno}: {f.line})" if f.line else f" (line {f.lineno})"


def load(path: str | Path) -> Submission:
    """Import the submission under a private module name and check that it defines a Net class."""
    path = Path(path).resolve()
    if not path.is_file():
        raise SubmissionError(f"{path} does not exist; pass the path of your model.py")
    raw = path.read_bytes()
    if not raw.strip():
        raise SubmissionError(f"{path} is empty; it must define class Net(torch.nn.Module)")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SubmissionError(f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8") from exc
    # Never "__main__": the policy skips what `if __name__ == "__main__":` holds because it never runs here.
    name = f"course_submission_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise SubmissionError(f"{path} cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        # The file as the policy passed it: its __main__ blocks emptied and the unused tool imports it warned about
        # dropped, so an `import tqdm` nobody uses is never imported (nor needs to be installed).
        code = compile(runnable_tree(ast.parse(raw, str(path))), str(path), "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except SyntaxError as exc:
        raise SubmissionError(f"{path}:{exc.lineno}:{exc.offset or 0}: syntax error: {exc.msg}") from exc
    except Exception as exc:  # the student's code may raise anything at import time
        raise SubmissionError(
            f"{path.name} raised {type(exc).__name__} while being imported{_submission_frames(exc, path)}: {exc}"
        ) from exc
    net = getattr(module, "Net", None)
    if net is None:
        raise SubmissionError(_no_net_message(path.name, module))
    if not (isinstance(net, type) and issubclass(net, torch.nn.Module)):
        raise SubmissionError(f"{path.name}: Net must be a class derived from torch.nn.Module, "
                              f"got {type(net).__name__}")
    return Submission(path=path, sha256=hashlib.sha256(raw).hexdigest(), module=module)


def _no_net_message(name: str, module: ModuleType) -> str:
    """"Defines no Net", naming the classes the file does define and the one-line fix (the policy says the same)."""
    own = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__]
    if not own:
        return f"{name} defines no Net and no class; add `class Net(nn.Module)` with __init__ and forward"
    models = [c for c in own if issubclass(c, torch.nn.Module)]
    listed = ", ".join(c.__name__ for c in own)
    pick = (models or own)[-1].__name__
    return (f"{name} defines no Net; it defines {listed}. "
            f"Add `Net = {pick}` after the class, or name your model class Net")


def build(sub: Submission) -> torch.nn.Module:
    """Net() with no arguments, as the contract says."""
    try:
        model = sub.net_class()
    except TypeError as exc:
        raise SubmissionError(f"Net() must build with no arguments: {exc}") from exc
    except Exception as exc:
        raise SubmissionError(
            f"Net() raised {type(exc).__name__}{_submission_frames(exc, sub.path)}: {exc}"
        ) from exc
    if isinstance(model, torch.nn.Module):
        check_tree(model)
    return model


def check_tree(model: torch.nn.Module) -> None:
    """Refuse a module tree the grader cannot walk: a name too long, nesting too deep, a module that contains
    itself, or shared modules that multiply a walk. Iterative, so the check itself cannot overflow the stack."""
    height: dict[int, int] = {}  # module id -> levels of modules from it down, itself included
    visits: dict[int, int] = {}  # module id -> modules a walk from it meets without remembering, capped
    path: list[str] = ["Net"]  # the names down to the module being walked, for messages
    on_path: set[int] = set()
    stack: list[tuple[torch.nn.Module, str, bool]] = [(model, "Net", False)]
    while stack:
        module, name, leaving = stack.pop()
        key = id(module)
        if leaving:
            children = _children(module)
            height[key] = 1 + max((height[id(c)] for c in children), default=0)
            visits[key] = min(MAX_MODULE_VISITS + 1, 1 + sum(visits[id(c)] for c in children))
            on_path.discard(key)
            path.pop()
            continue
        if key in height:
            continue  # shared: walked already
        if key in on_path:
            raise SubmissionError(f"the model contains itself: {'.'.join([*path, name])} is the "
                                  f"{type(module).__name__} that encloses it; a module may not be its own submodule")
        if len(path) + (key != id(model)) > MAX_MODULE_DEPTH + 1:
            _too_deep(model, path)
        if key != id(model):
            path.append(name)
        on_path.add(key)
        _check_names(module, path)
        stack.append((module, name, True))
        stack.extend((child, child_name, False) for child_name, child in module._modules.items() if child is not None)
    if visits[id(model)] > MAX_MODULE_VISITS:
        raise SubmissionError(f"the model's {len(height):,} modules are shared so that a walk over them meets more "
                              f"than {MAX_MODULE_VISITS:,}; the grader walks at most {MAX_MODULE_VISITS:,} "
                              "(register each layer once)")


def _children(module: torch.nn.Module) -> list[torch.nn.Module]:
    """Distinct submodules, as Module.children() yields them."""
    return list({id(c): c for c in module._modules.values() if c is not None}.values())


def _check_names(module: torch.nn.Module, path: list[str]) -> None:
    for kind, names in (("layer", module._modules), ("parameter", module._parameters), ("buffer", module._buffers)):
        for name in names:
            if len(name) > MAX_NAME_CHARS:
                raise SubmissionError(f"a {kind}'s name is {len(name):,} characters ({name[:16]!r}... in "
                                      f"{'.'.join(path)}); names may be at most {MAX_NAME_CHARS} characters")


def _too_deep(model: torch.nn.Module, path: list[str]) -> None:
    """Count how deep the chain goes (iteratively, following the first child) and say so."""
    depth, module, seen = 0, model, set()
    while id(module) not in seen:
        seen.add(id(module))
        children = _children(module)
        if not children:
            break
        module, depth = children[0], depth + 1
    shown = ".".join(path[:4]) + ("..." if len(path) > 4 else "")
    raise SubmissionError(f"the model nests modules {max(depth, len(path) - 1):,} levels deep ({shown}); "
                          f"the grader reads at most {MAX_MODULE_DEPTH} levels")


def materialize(model: torch.nn.Module, images: torch.Tensor, path: Path | None = None) -> None:
    """Give lazy modules (nn.LazyConv2d ...) their shapes with one eval-mode pass, so they can be counted and
    trained."""
    if any(torch.nn.parameter.is_lazy(p) for p in model.parameters()):
        was_training = model.training
        model.eval()  # no BatchNorm statistics move
        try:
            with torch.no_grad():
                model(images)
        except Exception as exc:
            where = _submission_frames(exc, path) if path else ""
            raise SubmissionError(f"forward() raised {type(exc).__name__} while the grader gave lazy modules their "
                                  f"shapes{where}: {exc}") from exc
        finally:
            model.train(was_training)
    if not any(p.requires_grad for p in model.parameters()):
        raise SubmissionError("Net has no trainable parameters; "
                              "define layers in __init__ (e.g. self.conv1 = nn.Conv2d(1, 8, 3))")


def _check_output(out, batch: int, mode: str) -> None:
    if isinstance(out, (tuple, list)):
        raise SubmissionError(f"forward() returned a {type(out).__name__} in {mode} mode; "
                              f"return one tensor of shape ({batch}, 10)")
    if not isinstance(out, torch.Tensor):
        raise SubmissionError(f"forward() returned {type(out).__name__} in {mode} mode; "
                              f"return a tensor of shape ({batch}, 10)")
    if tuple(out.shape) != (batch, 10):
        hint = " (flatten with x.view(-1, 10) after the last 1x1 conv or GAP)" if out.numel() == batch * 10 else ""
        raise SubmissionError(f"forward() returned shape {tuple(out.shape)} in {mode} mode; "
                              f"expected ({batch}, 10){hint}")
    if not out.is_floating_point():
        raise SubmissionError(f"forward() returned dtype {out.dtype} in {mode} mode; expected floating-point logits")
    if not torch.isfinite(out).all():
        raise SubmissionError(f"forward() returned NaN or inf in {mode} mode on real images; "
                              "check divisions, logs and initialisation")


def check_contract(model: torch.nn.Module, images: torch.Tensor, path: Path | None = None) -> None:
    """Run a real normalised batch through the model in train and eval mode; raise on any breach."""
    batch = images.shape[0]
    check_tree(model)  # deepcopy recurses over the tree
    model = copy.deepcopy(model)  # a train-mode pass moves BatchNorm statistics; keep the real model fresh
    for mode, train in (("train", True), ("eval", False)):
        model.train(train)
        try:
            with torch.no_grad():
                out = model(images)
        except NotImplementedError as exc:
            where = _submission_frames(exc, path) if path else ""
            raise SubmissionError(f"forward() is not finished yet{where}: {exc}") from exc
        except Exception as exc:
            where = _submission_frames(exc, path) if path else ""
            raise SubmissionError(
                f"forward() raised {type(exc).__name__} in {mode} mode on a ({batch}, 1, 28, 28) batch{where}: {exc}"
            ) from exc
        _check_output(out, batch, mode)
