"""How fast the preview page answers, through its HTTP API on a real server.

Measures, on a copy of the repository's project (sample campaign, 30
customers, the sample feed):

* first render of one customer in a locale × currency pair not seen before
  (each pair once, on a server that has rendered other pairs already);
* a re-render after saving a layout file (the open page's live reload);
* the compare view of four customers in four new pairs, and again warm;

and, side by side in the same run, the naive way: what the creative team
does without the page, ``mailer render`` of that one customer to an
``.eml`` file in a new process, for each of the same pairs.

Targets: first render < 300 ms, re-render after a save < 500 ms, compare
of four < 1 s.

    python bench/preview.py [--pairs 8]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mailer.preview import Preview  # noqa: E402
from mailer.project import resolve  # noqa: E402
from mailer.web.preview import PreviewApp, serve  # noqa: E402


def copy_project(target: Path) -> Path:
    for name in ("layouts", "locales", "fixtures"):
        shutil.copytree(ROOT / name, target / name)
    shutil.copy(ROOT / "mailer.toml", target / "mailer.toml")
    return target


def get(url: str) -> tuple[dict, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        body = json.loads(response.read())
    return body, (time.perf_counter() - started) * 1000


def customers_by_pair(project: Path) -> list[dict[str, str]]:
    """One customer per distinct locale × currency of the sample file (valid rows only)."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    with open(project / "fixtures/customers.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            seen.setdefault((row["locale"], row["currency"]), row)
    return list(seen.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8, help="new locale × currency pairs to time (default 8)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="mailer-bench-preview-"))
    try:
        project_dir = copy_project(folder / "project")
        project = resolve(cwd=project_dir, environ={})
        preview = Preview(project, customers=project_dir / "fixtures/customers.csv",
                          feed=project_dir / "fixtures/products.xml")
        app = PreviewApp(preview)
        stop, ready = threading.Event(), threading.Event()
        urls: list[str] = []

        def started(url: str) -> None:
            urls.append(url)
            ready.set()

        server = threading.Thread(target=serve, args=(app,), kwargs={"port": 0, "ready": started, "stop": stop})
        server.start()
        ready.wait(10)
        base = urls[0]
        campaign = "fixtures/campaign.toml"

        def render(customer: str, **extra: str) -> tuple[dict, float]:
            body, ms = get(base + "api/render?" + urlencode({"campaign": campaign, "customer": customer, **extra}))
            if "html" not in body:
                raise SystemExit(f"render failed: {body}")
            return body, ms

        people = customers_by_pair(project_dir)
        # A first request pays the one-off costs (reading the feed, preparing the campaign).
        _, cold = render(people[0]["id"])
        pairs = people[1 : 1 + args.pairs]
        first = []
        for person in pairs:
            try:
                _, ms = render(person["id"])
            except urllib.error.HTTPError:
                continue
            first.append(ms)
        warm = [render(person["id"])[1] for person in pairs]

        layout = project_dir / "layouts/newsletter.mjml"
        original = layout.read_text(encoding="utf-8")
        saves = []
        for i in range(5):
            layout.write_text(original.replace("</mj-body>", f"<mj-section><mj-column><mj-text>Edit {i}"
                                               "</mj-text></mj-column></mj-section></mj-body>"), encoding="utf-8")
            time.sleep(0.05)
            body, ms = render(people[0]["id"])
            assert f"Edit {i}" in body["html"], "the re-render did not show the saved change"
            saves.append(ms)
        layout.write_text(original, encoding="utf-8")

        fresh_four = [p["id"] for p in people[1 + args.pairs : 5 + args.pairs]] or [p["id"] for p in people[:4]]
        compare_url = base + "api/compare?" + urlencode({"campaign": campaign, "customers": ",".join(fresh_four)})
        compare_new, compare_new_ms = get(compare_url)
        _, compare_warm_ms = get(compare_url)
        assert len(compare_new["renders"]) == len(fresh_four)

        # The naive way: `mailer render` of one customer, in a new process, per pair.
        naive = []
        header = "id,email,name,locale,currency,timezone\n"
        for person in pairs[:4]:
            one = folder / f"one-{person['id']}.csv"
            one.write_text(header + ",".join(person[k] for k in ("id", "email", "name", "locale", "currency",
                                                                  "timezone")) + "\n", encoding="utf-8")
            started_at = time.perf_counter()
            subprocess.run([sys.executable, "-m", "mailer", "render", "--campaign", campaign, "--customers", str(one),
                            "--feed", "fixtures/products.xml", "--out", str(folder / "out")],
                           cwd=project_dir, check=True, capture_output=True)
            naive.append((time.perf_counter() - started_at) * 1000)
        stop.set()
        server.join()
        preview.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def row(name: str, values: list[float], target: str = "") -> None:
        print(f"{name:<48} median {statistics.median(values):8.1f} ms   max {max(values):8.1f} ms   "
              f"(n={len(values)}) {target}")

    print(f"first request (reads the feed, prepares the campaign): {cold:.1f} ms")
    row("preview: first render, new locale x currency", first, "target < 300 ms")
    row("preview: render again, same pair", warm)
    row("preview: re-render after saving a layout", saves, "target < 500 ms")
    print(f"{'preview: compare of four, four new pairs':<48} {compare_new_ms:8.1f} ms   target < 1000 ms")
    print(f"{'preview: compare of four, again':<48} {compare_warm_ms:8.1f} ms")
    row("naive: mailer render of one customer, new process", naive)
    print(f"ratio naive / preview first render: {statistics.median(naive) / statistics.median(first):.1f}x")


if __name__ == "__main__":
    main()
