"""The HTML report opened in a real browser (headless Chromium via chromedriver, Debian packages):
its key elements render, and a screenshot is saved (build/test-artifacts/report.png)."""
import json
import pathlib
import shutil
import tempfile

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

REPO = pathlib.Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "build" / "test-artifacts"


@pytest.fixture(scope="module")
def browser():
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "chromium and chromium-driver (Debian) are installed by scripts/bootstrap.sh test"
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2400", f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}"):
        opts.add_argument(flag)
    b = webdriver.Chrome(service=Service(driver), options=opts)
    yield b
    b.quit()


def test_report_renders_in_chromium(browser, demo_sail):
    cfg, outcome = demo_sail
    base = pathlib.Path(cfg.lake.root) / "reports" / outcome.run_id
    summary = json.loads((base / "summary.json").read_text())
    browser.get((base / "index.html").as_uri())
    assert "tokenlake report" in browser.title
    assert "PASSED" in browser.find_element(By.ID, "status").text
    bars = browser.find_elements(By.CSS_SELECTOR, "#funnel svg rect.bar")
    assert len(bars) == len(summary["stats"]["funnel"]) and all(b.size["width"] > 0 for b in bars)
    shard_rows = browser.find_elements(By.CSS_SELECTOR, "#shards tbody tr")
    assert len(shard_rows) == len(summary["stats"]["shards"]["files"])
    assert summary["stats"]["shards"]["files"][0]["sha256"] in shard_rows[0].text
    assert browser.find_elements(By.CSS_SELECTOR, "#lengths svg rect.bar")
    assert browser.find_elements(By.CSS_SELECTOR, "#samples .sample")
    version_rows = browser.find_elements(By.CSS_SELECTOR, "#versions tbody tr")
    assert any("gold/tokens" in r.text for r in version_rows)
    # Self-contained: nothing was fetched from the network.
    resources = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert not [r for r in resources if r.startswith("http")]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "report.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
