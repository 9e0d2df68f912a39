"""`python -m core export`: a saved model as keras, litert, onnx or saved-model."""
from __future__ import annotations

import sys

from core.cli.common import UsageError, load_model


def add_parser(sub) -> None:
    from core.nets.export import FORMATS  # no TensorFlow import

    export = sub.add_parser("export", help="export a saved model as keras, litert, onnx or saved-model")
    export.add_argument("name", help="a saved model's name, e.g. default")
    export.add_argument("--format", required=True, choices=list(FORMATS))
    export.add_argument("--out", required=True, help="file to write (a new folder for saved-model)")


def run(args) -> int:
    import time

    from core.nets.export import FORMATS, ExportError, check_destination, export_model, native_stderr_silenced

    try:
        check_destination(args.format, args.out)  # before loading anything: a bad path costs nothing
    except ExportError as exc:
        raise UsageError(str(exc)) from None
    start = time.perf_counter()
    with native_stderr_silenced():  # TensorFlow's and the converters' C++ log lines
        model = load_model(args.name)
        try:
            out = export_model(model, args.format, args.out)
        except ExportError as exc:
            failure = str(exc)
        else:
            failure = None
    if failure:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) if out.is_dir() else out.stat().st_size
    print(f"exported {args.name} as {FORMATS[args.format].label} to {out} "
          f"({size / 1e6:.2f} MB, {time.perf_counter() - start:.1f} s)")
    return 0
