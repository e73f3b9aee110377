#!/usr/bin/env python3
"""An auth0-sync plan policy: no deletions or blocks on Fridays.

Reads a plan as `auth0-sync show PLAN --format json` prints it (the plan file itself,
in the shape plans/plan.schema.json documents), from a file argument or stdin, and
refuses it when it removes users (delete_user or block_user changes) and today is a
Friday: nobody wants to restore accounts over the weekend.

    auth0-sync show plan.json --format json | python3 no_friday_removals.py
    python3 no_friday_removals.py --today 2026-11-27 plan.json

Exit codes: 0 the plan is allowed; 1 refused (the reason on stderr); 2 not a plan
this policy understands (wrong format version, not JSON). Standard library only.
Copy it and change RULE: it is an example of reading plans, not a finished policy.
"""

import argparse
import datetime
import json
import sys

# The plan format this policy was written against (plans/plan.schema.json).
FORMAT_VERSION = 3
FRIDAY = 4
REMOVALS = ("delete_user", "block_user")


def removals(plan):
    """(deletions, blocks), counted from the changes themselves."""
    actions = [c["action"] for c in plan["changes"]]
    return actions.count("delete_user"), actions.count("block_user")


def check(plan, today):
    """None when allowed, else the reason for refusing."""
    deletes, blocks = removals(plan)
    if today.weekday() != FRIDAY or deletes + blocks == 0:
        return None
    where = plan["tenant"] + " / " + plan["connection"]
    return (
        f"this plan for {where} deletes {deletes} and blocks {blocks} user(s), and today "
        f"({today.isoformat()}) is a Friday: apply it on Monday, or plan without removals "
        f"today (auth0-sync plan --on-missing ignore, or --only for the users that cannot wait)"
    )


def main(argv):
    p = argparse.ArgumentParser(description="Refuse auth0-sync plans that remove users on a Friday.")
    p.add_argument("plan", nargs="?", help="plan JSON file (default: stdin)")
    p.add_argument("--today", type=datetime.date.fromisoformat, help="the date to judge, YYYY-MM-DD (default: today, local time)")
    args = p.parse_args(argv)
    try:
        text = open(args.plan, encoding="utf-8").read() if args.plan else sys.stdin.read()
        plan = json.loads(text)
    except (OSError, ValueError) as e:
        print(f"no_friday_removals: cannot read the plan: {e}", file=sys.stderr)
        return 2
    if not isinstance(plan, dict) or plan.get("format_version") != FORMAT_VERSION:
        found = plan.get("format_version") if isinstance(plan, dict) else None
        print(f"no_friday_removals: plan format {found!r}, this policy reads format {FORMAT_VERSION}", file=sys.stderr)
        return 2
    reason = check(plan, args.today or datetime.date.today())
    if reason:
        print(f"no_friday_removals: refused: {reason}", file=sys.stderr)
        return 1
    deletes, blocks = removals(plan)
    print(f"no_friday_removals: allowed ({deletes} deletion(s), {blocks} block(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
