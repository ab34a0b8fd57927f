#!/usr/bin/env python3
"""The browser console page (issue #16) in headless Chromium, for ConsoleEndToEndTests.

  console_page.py open URL OUT.png    opens URL in Debian's chromium (headless), waits until the page's console is
                                      connected (window.zedgeConsole), waits for the screen to settle, and saves
                                      the noVNC canvas (the framebuffer as the page shows it) to OUT.png
  console_page.py compare A.png B.png how many pixels of two pictures differ

Both print one JSON object. Chromium is driven over its DevTools protocol (websocket-client), and the coordinator's
self-made certificate is accepted for the test's loopback address only through --ignore-certificate-errors.
Runs with the python of scripts/vncdotool.sh's virtualenv (Pillow, websocket-client).
"""
import base64, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request

import websocket
from PIL import Image, ImageChops


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def open_page(url, out):
    port = free_port()
    profile = tempfile.mkdtemp(prefix="zedge-chromium-")
    chromium = subprocess.Popen(
        ["chromium", "--headless=new", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}", "--window-size=1280,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        target = None
        while time.time() < deadline and target is None:
            try:
                pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2))
                target = next((p for p in pages if p.get("type") == "page"), None)
            except OSError:
                time.sleep(0.2)
        if target is None:
            return {"error": "chromium did not start"}
        ws = websocket.create_connection(target["webSocketDebuggerUrl"], timeout=30, suppress_origin=True)
        ids = iter(range(1, 1_000_000))

        def call(method, **params):
            message_id = next(ids)
            ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
            while True:
                answer = json.loads(ws.recv())
                if answer.get("id") == message_id:
                    return answer.get("result", {})

        def evaluate(expression):
            result = call("Runtime.evaluate", expression=expression, returnByValue=True)
            return result.get("result", {}).get("value")

        call("Page.enable")
        call("Page.navigate", url=url)
        state = None
        deadline = time.time() + 60
        while time.time() < deadline:
            state = evaluate("window.zedgeConsole || null")
            if state in ("connected", "closed"):
                break
            time.sleep(0.3)
        if state != "connected":
            return {"state": state, "bar": evaluate("document.getElementById('bar') && document.getElementById('bar').textContent")}
        # The first framebuffer updates arrive after the handshake: wait until the picture stops changing.
        previous, picture = None, None
        for _ in range(40):
            time.sleep(0.5)
            picture = evaluate("window.zedgeRFB._canvas.toDataURL('image/png')")
            if picture and picture == previous:
                break
            previous = picture
        with open(out, "wb") as f:
            f.write(base64.b64decode(picture.split(",", 1)[1]))
        width, height = Image.open(out).size
        return {"state": state, "width": width, "height": height}
    finally:
        chromium.kill()
        chromium.wait()
        shutil.rmtree(profile, ignore_errors=True)


def compare(a, b):
    first, second = Image.open(a).convert("RGB"), Image.open(b).convert("RGB")
    if first.size != second.size:
        return {"sizes": [first.size, second.size], "differing": 1.0}
    difference = ImageChops.difference(first, second).convert("L")
    changed = sum(1 for value in difference.getdata() if value > 16)
    lit = sum(1 for value in second.convert("L").getdata() if value > 16)
    pixels = first.size[0] * first.size[1]
    # "lit": how much of the second picture is not black (text on the screen), so that two black pictures say so.
    return {"width": first.size[0], "height": first.size[1], "differing": changed / pixels, "lit": lit / pixels}


if __name__ == "__main__":
    command = sys.argv[1]
    result = open_page(sys.argv[2], sys.argv[3]) if command == "open" else compare(sys.argv[2], sys.argv[3])
    print(json.dumps(result))
