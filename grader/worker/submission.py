"""Load a submission file and hold it to the contract: Net() builds and maps (N,1,28,28) to finite (N,10)."""

from __future__ import annotations

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
    name = f"course_submission_{uuid.uuid4().hex[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
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
    return model


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
