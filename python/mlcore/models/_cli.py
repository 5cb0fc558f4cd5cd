"""The `mlcore models` verbs (registered by mlcore._cli through register()).

    models list
    models show NAME | NAME/VERSION | NAME@ALIAS      (a model: its versions; a version: details)
    models register NAME SOURCE [--metric k=v ...] [--tag k=v ...] [--description D]
                    [--study S --trial N] [--alias A]
    models alias NAME ALIAS VERSION | models alias NAME ALIAS --delete
    models delete NAME/VERSION [--force]
    models pull REF DEST

SOURCE is a directory, a file or run://RUN_ID/TASK/OUTPUT. Exit status 1 with the reason on
stderr for an unknown model, version or alias, or a bad name.
"""

from __future__ import annotations

import datetime
import json
import sys

from .._busy_timeout import seconds_argument as _seconds


def _pairs(pairs, parse_json):
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"expected key=value, got {pair!r}")
        if parse_json:
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                pass
        out[key] = value
    return out


def _when(seconds):
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime(
        "%Y-%m-%d %H:%M:%S")


def _print_version(v):
    print(f"{v.name}/{v.version}")
    print(f"  digest:  sha256:{v.digest}")
    print(f"  size:    {v.size} bytes")
    print(f"  source:  {v.source}")
    print(f"  created: {_when(v.created_at)} UTC")
    if v.aliases:
        print(f"  aliases: {', '.join(v.aliases)}")
    if v.description:
        print(f"  description: {v.description}")
    for title, values in (("metrics", v.metrics), ("tags", v.tags), ("lineage", v.lineage)):
        if values:
            print(f"  {title}: {json.dumps(values, sort_keys=True)}")


def _list(args, models):
    rows = models.list(home=None)
    if not rows:
        print("no registered models")
        return 0
    print(f"{'NAME':24} {'LATEST':>6} {'VERSIONS':>8}  ALIASES")
    for m in rows:
        aliases = ", ".join(f"{a}->{v}" for a, v in sorted(m.aliases.items()))
        print(f"{m.name:24} {m.latest_version:>6} {m.version_count:>8}  {aliases}")
    return 0


def _show(args, models):
    name, version, alias = models.parse_ref(args.ref)
    if version is None and alias is None:
        model = models.get_model(name)
        aliases = ", ".join(f"{a}->{v}" for a, v in sorted(model.aliases.items()))
        print(f"{model.name}: {model.version_count} versions, latest {model.latest_version}"
              + (f", aliases {aliases}" if aliases else ""))
        for v in models.versions(name):
            tag = f"  [{', '.join(v.aliases)}]" if v.aliases else ""
            metrics = json.dumps(v.metrics, sort_keys=True) if v.metrics else ""
            print(f"  {v.version:>4}  {_when(v.created_at)}  {metrics}{tag}")
        return 0
    _print_version(models.get(args.ref))
    return 0


def _register(args, models):
    if (args.study is None) != (args.trial is None):
        raise SystemExit("--study and --trial go together")
    v = models.register(args.name, args.source, metrics=_pairs(args.metric, True),
                        tags=_pairs(args.tag, False), description=args.description or "",
                        study=args.study or "", trial=args.trial,
                        busy_timeout=args.busy_timeout)
    if args.alias:
        models.set_alias(v.name, args.alias, v.version)
    print(f"registered {v.name}/{v.version} (sha256:{v.digest})"
          + (f" as {args.alias}" if args.alias else ""))
    return 0


def _alias(args, models):
    if args.delete:
        models.delete_alias(args.name, args.alias)
        print(f"deleted {args.name}@{args.alias}")
        return 0
    if args.version is None:
        raise SystemExit("give the VERSION the alias points at, or --delete")
    models.set_alias(args.name, args.alias, args.version)
    print(f"{args.name}@{args.alias} -> {args.version}")
    return 0


def _delete(args, models):
    name, version, alias = models.parse_ref(args.ref)
    if version is None:
        raise SystemExit(f"give NAME/VERSION to delete, got {args.ref!r}")
    models.delete_version(name, version, force=args.force)
    print(f"deleted {name}/{version}")
    return 0


def _pull(args, models):
    print(models.materialize(args.ref, args.dest))
    return 0


def _handle(fn):
    def run(args):
        from .. import models

        try:
            return fn(args, models)
        except (KeyError, ValueError) as e:
            message = e.args[0] if isinstance(e, KeyError) and e.args else e
            print(f"mlcore models: {message}", file=sys.stderr)
            return 1

    return run


def register(subparsers):
    """Adds `models` with its verbs to the `mlcore` command's subparsers."""
    models = subparsers.add_parser("models", help="the model registry (versions, aliases)")
    verbs = models.add_subparsers(dest="verb", required=True)
    ls = verbs.add_parser("list", help="the registered models")
    ls.set_defaults(handler=_handle(_list))
    show = verbs.add_parser("show", help="a model's versions, or one version's details")
    show.add_argument("ref", help="NAME, NAME/VERSION or NAME@ALIAS")
    show.set_defaults(handler=_handle(_show))
    reg = verbs.add_parser("register", help="store a directory, file or run artifact as the "
                           "next version")
    reg.add_argument("name")
    reg.add_argument("source", help="a directory, a file or run://RUN_ID/TASK/OUTPUT")
    reg.add_argument("--metric", action="append", metavar="K=V", help="a metric (JSON value)")
    reg.add_argument("--tag", action="append", metavar="K=V", help="a tag (string)")
    reg.add_argument("--description")
    reg.add_argument("--study", help="the HPO study that produced the model")
    reg.add_argument("--trial", type=int, help="the trial number within --study")
    reg.add_argument("--alias", help="point this alias at the new version")
    reg.set_defaults(handler=_handle(_register))
    alias = verbs.add_parser("alias", help="point an alias at a version (or --delete it)")
    alias.add_argument("name")
    alias.add_argument("alias")
    alias.add_argument("version", type=int, nargs="?")
    alias.add_argument("--delete", action="store_true")
    alias.set_defaults(handler=_handle(_alias))
    delete = verbs.add_parser("delete", help="delete a version (aliased: only with --force)")
    delete.add_argument("ref", help="NAME/VERSION")
    delete.add_argument("--force", action="store_true", help="also delete its aliases")
    delete.set_defaults(handler=_handle(_delete))
    pull = verbs.add_parser("pull", help="write a version's files to DEST (verified)")
    pull.add_argument("ref")
    pull.add_argument("dest")
    pull.set_defaults(handler=_handle(_pull))
    reg.add_argument("--busy-timeout", type=_seconds, metavar="S", default=30.0,
                     help="seconds to wait for another process's write lock (default: 30)")
