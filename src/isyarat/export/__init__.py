"""The export stage (ONNX bundles). The package is also the API's `isyarat.export(run, out, name=None)`:
`isyarat.export` names this package as soon as any of its modules is imported, so the package
itself is callable (see `isyarat.api.export`)."""
from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, run, out, *, name=None):
        """`isyarat export RUN --out OUT [--name NAME]`: a run folder -> an ONNX bundle; returns its path."""
        from isyarat.api import export

        return export(run, out, name=name)


sys.modules[__name__].__class__ = _CallablePackage
