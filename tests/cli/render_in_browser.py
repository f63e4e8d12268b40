#!/usr/bin/python3
"""Opens an HTML report in headless Chromium, as a reader's browser would, and checks that it renders:
every <img> and SVG <image> of it decodes (each is loaded as an <img> of a probe page, checked after the
load event), the page logs nothing to the console (the reports run no script: any message means a
failed resource or a broken page), and the screenshot is not blank. Prints one line per failure; exit 0
when it renders, 1 when it does not, 77 when Chromium is not installed.
  render_in_browser.py PAGE.html SCREENSHOT.png [MIN_IMAGES]"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

import cv2

# Every image of the page (<img src>, SVG <image href>) as an <img> of a probe page, checked after the
# load event (which waits for each image): a source that does not decode has no natural width.
IMAGE_SOURCES = re.compile(r'<img[^>]*\ssrc="([^"]*)"|<image[^>]*\s(?:xlink:)?href="([^"]*)"')
PROBE = ('<script>window.addEventListener("load",()=>{const imgs=[...document.images];'
         'const bad=imgs.filter(i=>!i.complete||i.naturalWidth===0);'
         'document.title=(bad.length?"BROKEN ":"IMAGES OK ")+bad.length+" "+imgs.length;});</script>')


def probe_page(page_text, page_dir):
    sources = [a or b for a, b in IMAGE_SOURCES.findall(page_text)]
    images = "".join(f'<img src="{s}">' for s in sources)
    return f'<html><head><base href="file://{page_dir}/"></head><body>{images}{PROBE}</body></html>'


FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1200,900",
         "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0"]


def chromium(args):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    return subprocess.run([browser] + FLAGS + args, capture_output=True, text=True, timeout=120)


def main(page, screenshot, min_images):
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        print("chromium is not installed (tools/setup.sh installs it)")
        return 77
    failures = []
    with tempfile.TemporaryDirectory() as work:
        probed = os.path.join(work, "probed.html")
        with open(page, encoding="utf-8") as f:
            text = f.read()
        with open(probed, "w", encoding="utf-8") as f:
            f.write(probe_page(text, os.path.dirname(os.path.abspath(page))))
        dom = chromium(["--dump-dom", "file://" + probed])
        title = re.search(r"<title>(BROKEN|IMAGES OK) (\d+) (\d+)</title>", dom.stdout)
        if not title:
            failures.append("the page did not finish loading (no probe result in the DOM)")
        elif title.group(1) != "IMAGES OK":
            failures.append(f"{title.group(2)} of {title.group(3)} images do not decode")
        elif int(title.group(3)) < min_images:
            failures.append(f"{title.group(3)} images, expected at least {min_images}")
    shot = chromium(["--screenshot=" + os.path.abspath(screenshot), "file://" + os.path.abspath(page)])
    console = [line for line in shot.stderr.splitlines() if ":CONSOLE" in line]
    failures += ["console: " + line for line in console]
    image = cv2.imread(screenshot)
    if image is None:
        failures.append("no screenshot written")
    elif float(image.std()) < 5.0:
        failures.append(f"the screenshot is blank (pixel std {float(image.std()):.1f})")
    for failure in failures:
        print(f"{page}: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1))
