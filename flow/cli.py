"""The ``a2q`` command line: bounds, run, compile, sweep, hls4ml, report, bench, schema, config,
inspect."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from flow import __version__
from flow.errors import A2QError
from flow.logs import setup_logging
from flow.sources import CONFIG_DIR
from flow.util import atomic_write_text, make_folder

log = logging.getLogger("flow")


def cmd_bounds(args: argparse.Namespace) -> int:
    from flow import bounds

    if args.fit:
        if args.acc_bits is None:
            raise A2QError("a2q bounds --fit: give --acc-bits P, the accumulator to fill")
        if args.weight_bits is not None:
            raise A2QError("a2q bounds --fit chooses the weight bits; leave out --weight-bits")
        report = bounds.fit_report(args.k, args.acc_bits, args.signed_input, args.input_bits)
        print(json.dumps(report, indent=2) if args.json else bounds.format_fit_table(report))
        return 0
    missing = [f for f in ("input_bits", "weight_bits") if getattr(args, f) is None]
    if missing:
        flags = " and ".join("--" + f.replace("_", "-") for f in missing)
        raise A2QError(f"a2q bounds: give {flags} (or --fit with --acc-bits to choose them)")
    report = bounds.bounds_report(
        args.k, args.input_bits, args.weight_bits, args.signed_input, args.acc_bits
    )
    print(json.dumps(report, indent=2) if args.json else bounds.format_bounds_table(report))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from flow.config import load_config
    from flow.pipeline import build_folder, run_pipeline

    cfg = load_config(args.config, args.set)
    build_root = Path(args.build_dir)
    setup_logging(args.quiet, build_folder(build_root, cfg.name) / "log.txt")
    results = run_pipeline(
        cfg,
        build_root,
        from_stage=args.from_stage,
        until=args.until,
        force=args.force,
        show_progress=not args.quiet,
    )
    for name, r in results.items():
        print(f"{name:8s} {r['status']:7s} {r.get('seconds', 0):8.1f} s  {_summary(r)}")
    return 0


def _summary(r: dict) -> str:
    s = r.get("summary") or {}
    parts = [
        f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}"
        for k, v in s.items()
        if k != "warnings"
    ]
    return ", ".join(parts)


def cmd_compile(args: argparse.Namespace) -> int:
    from flow.compile import compile_model, input_datatype
    from flow.config import load_config
    from flow.inspect import format_accumulators

    cfg = load_config(args.config, args.set)
    model = Path(args.model)
    if not model.is_file():
        raise A2QError(f"{model}: no such QONNX file")
    out = Path(args.out) if args.out else Path(args.build_dir) / model.stem / "compile"
    make_folder(out, "--out" if args.out else "the compile output")
    setup_logging(args.quiet, out / "log.txt")
    result = compile_model(model, out, cfg.compile, args.input_datatype or input_datatype(cfg))
    print(format_accumulators(result["accumulators"]))
    print(f"HW graph written to {out / 'hw.onnx'}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from flow.report.sweep_report import render_sweep_report
    from flow.sweep import run_sweep

    setup_logging(args.quiet)

    def render(out: Path) -> None:  # the report follows the summary as points finish
        try:
            render_sweep_report(out)
        except A2QError as e:
            log.warning("sweep report not updated: %s", e)

    summary = run_sweep(
        args.sweep,
        Path(args.build_dir),
        jobs=args.jobs,
        engine=args.engine,
        address=args.address,
        quiet=args.quiet,
        on_update=render,
    )
    out = Path(args.build_dir) / "sweeps" / summary["name"]
    failed = [r["point"] for r in summary["points"] if r["status"] != "ok"]
    report = render_sweep_report(out)
    print(f"summary: {out / 'summary.csv'}\nreport:  {report['html']}")
    if failed:
        print(f"{len(failed)} point(s) failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def cmd_hls4ml(args: argparse.Namespace) -> int:
    from flow.hls4ml_bridge import export_hls4ml

    result = export_hls4ml(Path(args.build))
    print(f"model:  {result['model']}\nconfig: {result['config']}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from flow.report.build_report import render_build_report
    from flow.report.sweep_report import render_sweep_report

    target = Path(args.build)
    if (target / "summary.json").exists():
        result = render_sweep_report(target)
    elif target.is_dir():
        result = render_build_report(target)
    else:
        raise A2QError(f"{target}: no such build or sweep folder")
    print(f"report: {result['html']}")
    for m in result.get("missing", []):
        print(f"missing: {m}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from flow.bench import run_bench

    setup_logging(True)
    configs = [Path(c) for c in args.configs] or sorted(CONFIG_DIR.glob("*.yaml"))
    report = run_bench(configs, Path(args.build_dir), Path(args.out), fresh=args.fresh)
    for name, r in report["benchmarks"].items():
        if "skipped" in r:
            print(f"{name:28s} skipped: {r['skipped']}")
            continue
        print(
            f"{name:28s} {r['wall_seconds']:7.1f} s  {r['metric']} {r['quant_' + r['metric']]}  "
            f"LUT {r['lut']}  LUT ratio {r['lut_ratio']}  re-run {r['rerun_seconds']:.1f} s"
        )
        stages = r["stage_seconds"]
        print(" " * 30 + "  ".join(f"{s} {t:.1f}" for s, t in stages.items() if t is not None))
    print(f"wrote {args.out}")
    return 0


def cmd_inspect(args: argparse.Namespace) -> int:
    from flow.inspect import inspect_build

    print(inspect_build(Path(args.build)))
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from flow.config_schema import config_schema

    text = json.dumps(config_schema(), indent=2) + "\n"
    if args.out:
        atomic_write_text(Path(args.out), text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from flow.config_schema import config_reference

    print(config_reference(), end="")
    return 0


EXAMPLES = """\
stages of a build, in order: {stages}

examples:
  # every stage of a benchmark, then its HTML report
  a2q run configs/tfc_digits.yaml && a2q report build/tfc_digits
  # stop after a stage, with a config key overridden; then re-run from a stage on
  a2q run configs/tfc_digits.yaml --until hardware --set train.qat_epochs=5
  a2q run configs/tfc_digits.yaml --from hardware
  # a sweep, two points at a time, and its trade-off report
  a2q sweep configs/sweeps/tfc_digits.yaml --jobs 2
  # the accumulator a dot product needs, and every config key with its default and range
  a2q bounds --k 784 --input-bits 1 --weight-bits 4
  a2q config
  # your own model: a config with model.source: python:mypkg.nets:build_net (a Brevitas
  # network) or onnx:their_model.onnx (a QONNX file); then hls4ml's model and config
  a2q run my_build.yaml && a2q hls4ml build/my_build
"""


class _Parser(argparse.ArgumentParser):
    """The top-level parser: its epilog lists the stages, imported only when help is shown."""

    def format_help(self) -> str:
        from flow.stages import STAGE_NAMES

        self.epilog = EXAMPLES.format(stages=", ".join(STAGE_NAMES))
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="a2q", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--version", action="version", version=f"a2q-flow {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=argparse.ArgumentParser)
    _add_build_commands(sub)
    _add_result_commands(sub)
    return p


def _add_build_commands(sub: argparse._SubParsersAction) -> None:
    """bounds, run, compile, sweep, hls4ml: the commands that compute."""
    b = sub.add_parser("bounds", help="accumulator bounds for one dot product")
    b.add_argument("--k", type=int, required=True, help="dot-product length (fan-in)")
    b.add_argument("--input-bits", type=int, help="input bits N (with --fit: fixes N)")
    b.add_argument("--weight-bits", type=int, help="weight bits M")
    b.add_argument("--signed-input", action="store_true")
    b.add_argument("--acc-bits", type=int, help="give the L1 budgets at this accumulator width")
    b.add_argument(
        "--fit",
        action="store_true",
        help="list the (N, M) that fully use the --acc-bits accumulator (data-type method)",
    )
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.set_defaults(func=cmd_bounds)

    r = sub.add_parser("run", help="run a build's stages")
    r.add_argument("config", help="build config YAML")
    r.add_argument("--from", dest="from_stage", metavar="STAGE", help="re-run from this stage")
    r.add_argument("--until", metavar="STAGE", help="stop after this stage")
    r.add_argument("--force", action="store_true", help="re-run every stage")
    r.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (validated like the file)",
    )
    r.add_argument("--build-dir", default="build", help="root of build folders (default build)")
    r.add_argument("--quiet", action="store_true", help="warnings only, no progress bars")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("compile", help="compile a QONNX model made elsewhere to the HW graph")
    c.add_argument("model", help="QONNX file (e.g. from Brevitas' export_qonnx)")
    c.add_argument("--config", required=True, help="config whose compile section is used")
    c.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--input-datatype", help="graph input type, e.g. UINT8 (default: config)")
    c.add_argument("--out", help="output folder (default build/<model>/compile)")
    c.add_argument("--build-dir", default="build")
    c.add_argument("--quiet", action="store_true")
    c.set_defaults(func=cmd_compile)

    sw = sub.add_parser("sweep", help="run a sweep of builds and report the trade-off")
    sw.add_argument("sweep", help="sweep YAML, e.g. configs/sweeps/tfc_digits.yaml")
    sw.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="where points run: worker processes here (default) or a Ray cluster",
    )
    sw.add_argument(
        "--address",
        help="with --engine ray: the cluster, 'auto' or ray://head:10001 (default: start one here)",
    )
    sw.add_argument("--jobs", type=int, help="local engine: points built in parallel (default 1)")
    sw.add_argument("--build-dir", default="build")
    sw.add_argument("--quiet", action="store_true")
    sw.set_defaults(func=cmd_sweep)

    h = sub.add_parser(
        "hls4ml",
        help="write a compiled build's model and config for hls4ml",
        description="Write BUILD/hls4ml/model.onnx (the build's QONNX model rewritten so that "
        "hls4ml 1.3.0 reads it) and BUILD/hls4ml/hls4ml_config.yml (its hls_config: each "
        "Dense layer's accumulator of the exact width, exact types between them). MLPs only.",
    )
    h.add_argument("build", help="a compiled build folder, e.g. build/tfc_digits")
    h.set_defaults(func=cmd_hls4ml)


def _add_result_commands(sub: argparse._SubParsersAction) -> None:
    """report, bench, schema, config, inspect: the commands that render or describe."""
    rp = sub.add_parser("report", help="(re-)render the report of a build or sweep folder")
    rp.add_argument("build", help="build/<name> or build/sweeps/<name>")
    rp.set_defaults(func=cmd_report)

    bn = sub.add_parser("bench", help="build the benchmark configs, write figures to JSON")
    bn.add_argument("configs", nargs="*", help="configs (default: the shipped configs/*.yaml)")
    bn.add_argument("--out", default="build/bench.json")
    bn.add_argument("--build-dir", default="build")
    bn.add_argument("--fresh", action="store_true", help="delete each build first")
    bn.set_defaults(func=cmd_bench)

    sc = sub.add_parser("schema", help="print the JSON Schema of a build config (for editors)")
    sc.add_argument("--out", help="write it to this file (configs/a2q-config.schema.json)")
    sc.set_defaults(func=cmd_schema)

    cf = sub.add_parser(
        "config",
        help="print the reference of every config key (Markdown)",
        description="Print a Markdown table of every key of a build config: its dotted name "
        "(* is any layer name), type, default and the values allowed. Generated from the "
        "config's schema (a2q schema), so it lists exactly what the loader accepts.",
    )
    cf.set_defaults(func=cmd_config)

    i = sub.add_parser("inspect", help="summarise a build folder")
    i.add_argument("build", help="build folder, e.g. build/tfc_digits")
    i.set_defaults(func=cmd_inspect)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``a2q`` console script."""
    args = build_parser().parse_args(argv)
    if not logging.getLogger("flow").handlers:
        setup_logging(getattr(args, "quiet", False))
    try:
        return args.func(args)
    except A2QError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `a2q config | head`: the reader has what it wanted
        # Python would report the pipe again flushing stdout at exit: point it at /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command a pipe closed on
    except OSError as e:  # a folder not writable, a disk full: the file and the reason
        print(
            f"error: cannot write or read {e.filename or 'a file'}: {e.strerror}", file=sys.stderr
        )
        return 2
    except KeyboardInterrupt:
        print("interrupted; re-run the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
