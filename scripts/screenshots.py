"""Screenshots of a running sweep for the README: the Ray dashboard and the MLflow runs table.

Drives headless Chromium over the Chrome DevTools Protocol (websocket via aiohttp, which Ray
already installs; no Selenium/Playwright). Only 127.0.0.1/localhost URLs are accepted, and
Chromium is started with every other host name unresolvable and its background traffic off.
Needs a `chromium` (or `chromium-browser`/`google-chrome`) binary on PATH, or `--chromium PATH`.

Ray dashboard (while a sweep started with `--address auto` runs): the Actors page, filtered to
the sweep's trial actors (each is an `ImplicitFunc` actor whose repr is `run_trial`)::

    python scripts/screenshots.py ray --filter repr=run_trial --size 1920x530 \
        --out docs/ray_dashboard.png
    python scripts/screenshots.py ray --url http://127.0.0.1:8265 --page jobs --expect ''

`--page` is the dashboard route (actors, jobs, overview, cluster, ...), `--expect TEXT` waits
until TEXT shows (default ALIVE; '' = don't wait), `--filter LABEL=TEXT` types TEXT into the
page's filter field labelled LABEL (the Actors page has State, Job Id, Name, Class, repr, ...).

If the dashboard asks for a token ("Authentication Token Required", shown when `ray start` ran
with token auth on), the script types the token into that dialog and presses Enter, as a user
would. The token comes from `--token`, else `RAY_AUTH_TOKEN`, else the file named by
`RAY_AUTH_TOKEN_PATH`, else `~/.ray/auth_token` (what `ray get-auth-token` prints).

MLflow UI (`mlflow ui --backend-store-uri sqlite:///... --host 127.0.0.1 --port 5000`): the runs
table of one sweep (experiment = sweep name) with the parent run expanded::

    python scripts/screenshots.py mlflow --experiment dash --size 1400x430 \
        --out docs/mlflow_runs.png

The experiment id is looked up by name over the REST API and the page opened is
`http://127.0.0.1:5000/#/experiments/<id>/runs?workflowType=machine_learning` (the "Model
training" runs table; MLflow 3.17 otherwise opens the GenAI overview). The MLflow Assistant
panel is closed, the columns are set with the "Columns" menu (`--columns`, default: tags
method and status, metric val_acc, param rho; Dataset, Source and Models hidden; `-X` hides X)
and every parent run is expanded so its nested trial runs show.

Common options: `--size WxH` (the viewport, hence the PNG size), `--wait S` (extra seconds after
the page is ready), `--timeout S`. Prints the page's visible text head and the PNG size.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import aiohttp

LOCAL_HOSTS = {"127.0.0.1", "localhost"}
# never through a proxy: every request goes straight to 127.0.0.1
URLOPEN = urllib.request.build_opener(urllib.request.ProxyHandler({})).open
DIALOG = "Authentication Token Required"
DEFAULT_COLUMNS = ("tags.method,tags.status,metrics.val_acc,params.rho,-attributes.Dataset,"
                   "-attributes.Source,-attributes.Models")


def fail(msg: str) -> None:
    print(f"screenshots: {msg}", file=sys.stderr)
    raise SystemExit(2)


def check_local(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname
    if host not in LOCAL_HOSTS:
        fail(f"url {url!r}: only 127.0.0.1/localhost are allowed")


def check_up(url: str) -> None:
    """Fail fast when nothing answers at `url` (an HTTP error status still means it is up)."""
    try:
        URLOPEN(url, timeout=10).close()
    except urllib.error.HTTPError:
        pass
    except OSError as e:
        fail(f"nothing answers at {url} ({e})")


def ray_token(explicit: str | None) -> str | None:
    """The Ray auth token, looked up where `ray get-auth-token` looks."""
    if explicit:
        return explicit.strip()
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    for p in (os.environ.get("RAY_AUTH_TOKEN_PATH"), Path.home() / ".ray" / "auth_token"):
        if p and Path(p).is_file():
            return Path(p).read_text().strip()
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_chromium(explicit: str | None) -> str:
    for name in ([explicit] if explicit else ["chromium", "chromium-browser", "google-chrome"]):
        path = shutil.which(name)
        if path:
            return path
    fail("no chromium binary found (apt-get install chromium, or pass --chromium PATH)")
    return ""


class Browser:
    """One headless Chromium with one page, driven over CDP."""

    def __init__(self, binary: str, width: int, height: int):
        self.width, self.height = width, height
        self.port = free_port()
        self.profile = tempfile.mkdtemp(prefix="screenshots-chromium-")
        self.proc = subprocess.Popen(
            [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-domain-reliability", "--no-proxy-server", "--disable-extensions",
             # nothing but the local servers: every other host name fails to resolve
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
             f"--user-data-dir={self.profile}", f"--remote-debugging-port={self.port}",
             "--remote-debugging-address=127.0.0.1", f"--window-size={width},{height}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.ws = None
        self.session = None
        self._id = 0

    async def __aenter__(self) -> Browser:
        try:
            return await self._connect()
        except BaseException:
            await self.__aexit__()
            raise

    async def _connect(self) -> Browser:
        deadline = time.monotonic() + 30
        while True:
            try:
                with URLOPEN(f"http://127.0.0.1:{self.port}/json/list", timeout=1) as r:
                    pages = [t for t in json.load(r) if t["type"] == "page"]
                if pages:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools endpoint")
            await asyncio.sleep(0.3)
        self.session = aiohttp.ClientSession()
        self.ws = await self.session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        await self.cmd("Page.enable")
        await self.cmd("Network.enable")
        await self.cmd("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                       deviceScaleFactor=1, mobile=False)
        return self

    async def __aexit__(self, *exc) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.session is not None:
            await self.session.close()
        self.close()

    def close(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

    async def cmd(self, method: str, **params):
        self._id += 1
        my = self._id
        await self.ws.send_json({"id": my, "method": method, "params": params})
        while True:
            msg = await self.ws.receive_json(timeout=60)
            if msg.get("id") == my:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})

    async def js(self, expression: str):
        r = await self.cmd("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"js {expression[:80]!r}: {r['exceptionDetails'].get('text')}")
        return r.get("result", {}).get("value")

    async def wait_for(self, expression: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not await self._try_js(expression):
            if time.monotonic() > deadline:
                text = await self.text()
                raise RuntimeError(f"timed out waiting for {what}; page text: {text[:400]!r}")
            await asyncio.sleep(0.5)

    async def _try_js(self, expression: str):
        try:
            return await self.js(expression)
        except RuntimeError as e:  # the SPA navigated (e.g. after the token was accepted)
            if "navigated" in str(e) or "context" in str(e):
                return None
            raise

    async def text(self) -> str:
        return await self.js("document.body ? document.body.innerText : ''") or ""

    async def goto(self, url: str) -> None:
        await self.cmd("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'", 30, "page load")

    async def save(self, out: Path) -> None:
        shot = await self.cmd("Page.captureScreenshot", format="png")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(shot["data"]))
        text = " ".join((await self.text()).split())
        print(f"page text: {text[:300]!r}")
        print(f"saved {out} ({out.stat().st_size // 1024} KiB, {self.width}x{self.height})")


def has_text(s: str) -> str:
    return f"document.body && document.body.innerText.includes({json.dumps(s)})"


async def shoot_ray(a: argparse.Namespace, b: Browser) -> None:
    base = a.url.rstrip("/")
    await b.goto(f"{base}/#/{a.page.lstrip('#/')}")
    # the SPA shows the token dialog once an API call is refused (401)
    await asyncio.sleep(3)
    if await b.js(has_text(DIALOG)):
        token = ray_token(a.token)
        if not token:
            fail("the dashboard asks for a token and none was found (--token, RAY_AUTH_TOKEN, "
                 "RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token; `ray get-auth-token` prints it)")
        print("dashboard asks for a token: typing it into the dialog")
        await b.wait_for("document.activeElement && document.activeElement.tagName === 'INPUT'",
                         10, "the token field")
        await b.cmd("Input.insertText", text=token)
        for kind in ("keyDown", "keyUp"):
            await b.cmd("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter",
                        windowsVirtualKeyCode=13, nativeVirtualKeyCode=13)
        await b.wait_for(f"!({has_text(DIALOG)})", a.timeout, "the token dialog to close")
    else:
        print("dashboard did not ask for a token")
    for f in a.filter:  # type into a filter field of the page, e.g. the Actors page's "repr"
        label, _, text = f.partition("=")
        find = ("[...document.querySelectorAll('label')].find(l => l.textContent.trim() === "
                f"{json.dumps(label)} && l.htmlFor)")
        await b.wait_for(f"!!({find})", a.timeout, f"a filter field labelled {label!r}")
        await b.js(f"document.getElementById(({find}).htmlFor).focus()")
        await b.cmd("Input.insertText", text=text)
        print(f"filter {label}: {text}")
    if a.expect:
        await b.wait_for(has_text(a.expect), a.timeout, f"{a.expect!r} on the page")
    await asyncio.sleep(a.wait)
    await b.save(a.out)


def mlflow_experiment_id(base: str, name: str) -> str:
    q = urllib.parse.urlencode({"experiment_name": name})
    url = f"{base}/ajax-api/2.0/mlflow/experiments/get-by-name?{q}"
    try:
        with URLOPEN(url, timeout=10) as r:
            return json.load(r)["experiment"]["experiment_id"]
    except urllib.error.HTTPError as e:
        fail(f"experiment {name!r} not found at {base} (HTTP {e.code})")
    except OSError as e:
        fail(f"no MLflow server answers at {base} ({e})")
    return ""


# Ticks/unticks entries of the runs table's "Columns" popover (a tree: group rows such as
# "Metrics (20)", then one row per column). Argument: {"group.name": wanted_checked_bool}.
COLUMNS_JS = """(want) => {
  const pop = document.querySelector('[role=dialog][aria-label="Popover content"]');
  if (!pop) return null;
  const cls = (el, suffix) => [...el.classList].some(c => c.endsWith(suffix));
  let group = ''; const done = [];
  for (const n of pop.querySelectorAll('[class*="tree-treenode"]')) {
    if (!cls(n, '-tree-treenode')) continue;
    const title = (n.querySelector('[class*="tree-title"]') || {}).textContent || '';
    if (!n.querySelector('[class*="tree-indent-unit"]')) {
      group = title.trim().split(' ')[0].toLowerCase(); continue;
    }
    const key = group + '.' + title.trim();
    if (!(key in want)) continue;
    const checked = cls(n, '-tree-treenode-checkbox-checked');
    if (checked !== want[key]) n.querySelector('[class*="tree-checkbox"]').click();
    done.push(key);
  }
  return done;
}"""


def column_wants(spec: str) -> dict[str, bool]:
    """'metrics.val_acc,params.rho,-attributes.Dataset' -> {"metrics.val_acc": True, ...}"""
    want = {}
    for item in filter(None, (x.strip() for x in spec.split(","))):
        on = not item.startswith("-")
        group, _, name = item.lstrip("-").partition(".")
        group = {"params": "parameters", "param": "parameters", "metric": "metrics",
                 "tag": "tags", "attribute": "attributes"}.get(group.lower(), group.lower())
        want[f"{group}.{name}"] = on
    return want


async def shoot_mlflow(a: argparse.Namespace, b: Browser) -> None:
    base = a.url.rstrip("/")
    exp = mlflow_experiment_id(base, a.experiment)
    # workflowType=machine_learning is the "Model training" view (the default is GenAI)
    url = f"{base}/#/experiments/{exp}/runs?workflowType=machine_learning"
    print(f"runs table: {url}")
    await b.goto(url)
    expander = "button[data-component-id*=runnamecellrenderer]"
    await b.wait_for(f"document.querySelectorAll('{expander}').length > 0", a.timeout,
                     "a parent run with an expand button")
    await asyncio.sleep(2)
    # close side panels (the MLflow Assistant opens by default)
    closed = await b.js("[...document.querySelectorAll('button[aria-label=Close]')]"
                        ".map(x => (x.click(), 1)).length")
    want = column_wants(a.columns)
    if want:
        await b.js("document.querySelector('[data-testid=column-selection-dropdown]').click()")
        await b.wait_for("!!document.querySelector('[role=dialog][aria-label=\"Popover content\"]')",
                         a.timeout, "the Columns popover")
        await asyncio.sleep(1)
        done = await b.js(f"({COLUMNS_JS})({json.dumps(want)})") or []
        missing = sorted(set(want) - set(done))
        print(f"columns set: {', '.join(done)}" + (f"; not found: {', '.join(missing)}" if missing else ""))
        await asyncio.sleep(1)
        await b.js("document.querySelector('[data-testid=column-selection-dropdown]').click()")
        await asyncio.sleep(1)
    rows = await b.js("document.querySelectorAll('[role=row]').length")
    n = await b.js(f"[...document.querySelectorAll('{expander}')].map(x => (x.click(), 1)).length")
    print(f"closed {closed} panel(s), expanded {n} parent run(s)")
    await b.wait_for(f"document.querySelectorAll('[role=row]').length > {rows}", a.timeout,
                     "the nested runs")
    if a.expect:
        await b.wait_for(has_text(a.expect), a.timeout, f"{a.expect!r} on the page")
    await asyncio.sleep(a.wait)
    await b.save(a.out)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="what", required=True)
    r = sub.add_parser("ray", help="Ray dashboard page")
    r.add_argument("--url", default="http://127.0.0.1:8265")
    r.add_argument("--page", default="actors", help="dashboard route: actors, jobs, overview, ...")
    r.add_argument("--token", default=None, help="default: RAY_AUTH_TOKEN[_PATH], ~/.ray/auth_token")
    r.add_argument("--filter", action="append", default=[], metavar="LABEL=TEXT",
                   help="type TEXT into the page's filter field LABEL (e.g. repr=run_trial)")
    r.add_argument("--expect", default="ALIVE", help="text to wait for before the shot ('' = none)")
    r.add_argument("--out", type=Path, default=Path("docs/ray_dashboard.png"))
    m = sub.add_parser("mlflow", help="MLflow runs table of one experiment, parents expanded")
    m.add_argument("--url", default="http://127.0.0.1:5000")
    m.add_argument("--experiment", required=True, help="experiment name (= the sweep name)")
    m.add_argument("--columns", default=DEFAULT_COLUMNS,
                   help="columns to show (metrics.X, params.X, tags.X, attributes.X) or hide (-X)")
    m.add_argument("--expect", default="", help="text to wait for before the shot")
    m.add_argument("--out", type=Path, default=Path("docs/mlflow_runs.png"))
    for p in (r, m):
        p.add_argument("--size", default="1400x800", help="viewport WxH = PNG size")
        p.add_argument("--wait", type=float, default=2.0, help="extra seconds before the shot")
        p.add_argument("--timeout", type=float, default=60.0)
        p.add_argument("--chromium", default=None)
    a = ap.parse_args(argv)
    check_local(a.url)
    check_up(a.url)
    try:
        w, h = (int(v) for v in a.size.lower().split("x"))
    except ValueError:
        fail(f"--size {a.size!r}: use WxH, e.g. 1400x800")
    binary = find_chromium(a.chromium)

    async def run() -> None:
        async with Browser(binary, w, h) as b:
            await (shoot_ray if a.what == "ray" else shoot_mlflow)(a, b)

    try:
        asyncio.run(asyncio.wait_for(run(), timeout=a.timeout * 3 + 60))
    except (RuntimeError, asyncio.TimeoutError) as e:
        fail(str(e) or type(e).__name__)


if __name__ == "__main__":
    main()
