"""Drivers: open isolated sessions and tabs, navigate, evaluate JavaScript, press keys (a synthetic
Tab moves no focus, so keyboard tests need the real thing). Nothing more, so one suite of scenarios
runs unchanged on every engine."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Protocol

HERE = Path(__file__).resolve().parent
ENGINES = ("chromium", "firefox", "webkit")


def need(path: str | None, what: str) -> str:
    if not path:
        # a missing engine fails the run: CI installs all three, nothing may skip silently
        raise RuntimeError(f"{what} is required for the cross-engine tests (see .ci/run)")
    return path


class Tab(Protocol):
    def goto(self, url: str) -> None: ...
    def js(self, expression: str) -> Any: ...
    def press(self, key: str) -> None: ...  # "Tab", "Shift+Tab", "Escape": to the focused element


class Session(Protocol):
    def tab(self) -> Tab: ...
    def close(self) -> None: ...


class Engine(Protocol):
    name: str
    version: str
    notifications_note: str

    def session(self) -> Session: ...
    def quit(self) -> None: ...


# -- Chromium: Playwright for Python driving Debian's chromium -----------------------------------
class _PwTab:
    def __init__(self, page: Any) -> None:
        self.page = page

    def goto(self, url: str) -> None:
        self.page.goto(url)

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)


class _PwSession:
    def __init__(self, browser: Any) -> None:
        self.ctx = browser.new_context(permissions=["notifications"], bypass_csp=True)

    def tab(self) -> Tab:
        return _PwTab(self.ctx.new_page())

    def close(self) -> None:
        self.ctx.close()


class Chromium:
    name = "chromium"
    notifications_note = ""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        from ..browser_support import CHROMIUM_ARGS, FAKE_MICROPHONE

        self._pw = sync_playwright().start()
        self.browser = self._pw.chromium.launch(executable_path=need(shutil.which("chromium"), "chromium"),
                                                args=[*CHROMIUM_ARGS, *FAKE_MICROPHONE])
        self.version = f"Chromium {self.browser.version}"

    def session(self) -> Session:
        return _PwSession(self.browser)

    def quit(self) -> None:
        self.browser.close()
        self._pw.stop()


# -- Firefox ESR: puppeteer-core over WebDriver BiDi, through a small Node bridge ----------------
class _Bridge:
    def __init__(self, firefox: str) -> None:
        node = need(shutil.which("node"), "node")
        if not (HERE / "node_modules" / "puppeteer-core").is_dir():
            raise RuntimeError("run `npm ci` in tests/engines (make test does)")
        self.proc = subprocess.Popen([node, str(HERE / "firefox_bridge.mjs"), firefox], cwd=HERE,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ids = itertools.count(1)
        hello = json.loads(self._line())
        self.version = str(hello["version"])

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the Firefox bridge exited")
        return line

    def call(self, op: str, **args: Any) -> Any:
        assert self.proc.stdin is not None
        cmd_id = next(self.ids)
        self.proc.stdin.write(json.dumps({"id": cmd_id, "op": op, **args}) + "\n")
        self.proc.stdin.flush()
        while True:
            answer = json.loads(self._line())
            if answer.get("id") == cmd_id:
                break
        if "error" in answer:
            raise RuntimeError(f"firefox {op}: {answer['error']}")
        return answer.get("result")

    def quit(self) -> None:
        with contextlib.suppress(RuntimeError):  # it may be gone already
            self.call("quit")
        self.proc.wait(10)


class _FfTab:
    def __init__(self, bridge: _Bridge, page: int) -> None:
        self.bridge, self.page = bridge, page

    def goto(self, url: str) -> None:
        self.bridge.call("goto", page=self.page, url=url)

    def js(self, expression: str) -> Any:
        return self.bridge.call("eval", page=self.page, expression=expression)

    def press(self, key: str) -> None:
        self.bridge.call("press", page=self.page, key=key)


class _FfSession:
    def __init__(self, bridge: _Bridge) -> None:
        self.bridge = bridge
        self.context = bridge.call("context")

    def tab(self) -> Tab:
        return _FfTab(self.bridge, self.bridge.call("page", context=self.context))

    def close(self) -> None:
        self.bridge.call("close", context=self.context)


class Firefox:
    name = "firefox"
    notifications_note = ""

    def __init__(self) -> None:
        firefox = need(shutil.which("firefox-esr") or shutil.which("firefox"), "firefox-esr")
        self.bridge = _Bridge(firefox)
        self.version = f"Firefox {self.bridge.version}"

    def session(self) -> Session:
        return _FfSession(self.bridge)

    def quit(self) -> None:
        self.bridge.quit()


# -- WebKit: WebKitGTK's MiniBrowser under Selenium, on an Xvfb display --------------------------
def minibrowser() -> str | None:
    for path in sorted(Path("/usr/lib").glob("*/webkit2gtk-4.*/MiniBrowser"), reverse=True):
        return str(path)
    return None


class Xvfb:
    """A virtual display for WebKitGTK, which needs one even when nobody looks."""

    def __init__(self) -> None:
        binary = need(shutil.which("Xvfb"), "Xvfb (apt-get install xvfb)")
        for n in range(90, 130):
            if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
                self.display = f":{n}"
                break
        self.proc = subprocess.Popen([binary, self.display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not Path(f"/tmp/.X11-unix/X{self.display[1:]}").exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("Xvfb did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


class _WkTab:
    def __init__(self, driver: Any) -> None:
        self.driver = driver

    def goto(self, url: str) -> None:
        self.driver.get(url)

    def js(self, expression: str) -> Any:
        answer = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            f"Promise.resolve().then(() => ({expression}))"
            ".then((v) => done({ok: v === undefined ? null : v}), (e) => done({err: String(e)}));")
        if "err" in answer:
            raise RuntimeError(f"webkit: {answer['err']}")
        return answer["ok"]

    def press(self, key: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.keys import Keys

        *mods, name = [getattr(Keys, k.upper()) for k in key.split("+")]
        actions = ActionChains(self.driver)
        for m in mods:
            actions.key_down(m)
        actions.send_keys(name)
        for m in reversed(mods):
            actions.key_up(m)
        actions.perform()


class _WkSession:
    def __init__(self, engine: WebKit) -> None:
        from selenium import webdriver
        from selenium.webdriver.webkitgtk.options import Options
        from selenium.webdriver.webkitgtk.service import Service

        opts = Options()
        opts.binary_location = engine.binary
        opts.add_argument("--automation")
        service = Service(executable_path=engine.driver_path, env={**os.environ, "DISPLAY": engine.xvfb.display})
        self.driver = webdriver.WebKitGTK(options=opts, service=service)
        self.driver.set_script_timeout(30)
        self.used = False

    def tab(self) -> Tab:
        # MiniBrowser sessions have one window; a session is one tab here
        assert not self.used, "one tab per WebKit session"
        self.used = True
        return _WkTab(self.driver)

    def close(self) -> None:
        self.driver.quit()


class WebKit:
    name = "webkit"
    notifications_note = ("under WebDriver, WebKitGTK's MiniBrowser never answers a permission request (not even "
                          "one from a WebDriver click on 'Enable notifications', checked by hand) and WebDriver has no "
                          "command to grant it, so Notification.permission stays 'default'")

    def __init__(self) -> None:
        self.binary = need(minibrowser(), "WebKitGTK's MiniBrowser (apt-get install webkit2gtk-driver)")
        self.driver_path = need(shutil.which("WebKitWebDriver"), "WebKitWebDriver (apt-get install webkit2gtk-driver)")
        self.xvfb = Xvfb()
        lib = Path(self.binary).parent.name  # e.g. webkit2gtk-4.1
        package = subprocess.run(["dpkg-query", "-W", "-f=${Version}", f"lib{lib}-0"], capture_output=True, text=True)
        self.version = f"WebKitGTK {package.stdout.strip() or lib} (MiniBrowser)"

    def session(self) -> Session:
        return _WkSession(self)

    def quit(self) -> None:
        self.xvfb.stop()


def launch(name: str) -> Engine:
    engines: dict[str, type[Any]] = {"chromium": Chromium, "firefox": Firefox, "webkit": WebKit}
    engine: Engine = engines[name]()
    return engine
