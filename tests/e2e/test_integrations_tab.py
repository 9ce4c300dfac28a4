"""The admin page's Integrations tab in Chromium against a real server: an API key is created
and shown once, works, and is refused at once after Revoke; a webhook is subscribed (its
secret shown once), paused, and its (empty) deliveries listed."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from tests.e2e.conftest import E2EWorld, no_script_errors, open_page, screenshot

VIEW = {"width": 1366, "height": 900}


async def test_integrations_tab_keys_and_webhooks(e2e: E2EWorld, browser: Browser) -> None:
    ctx = await e2e.context(browser, VIEW, "admin")
    page = await open_page(ctx, f"{e2e.server.base}/admin#integrations")
    keys = page.locator("#api-keys")
    await expect(keys.get_by_text("No API keys yet.")).to_be_visible()

    await page.locator("#key-name").fill("HIS")
    await page.locator("#key-role").select_option("receptionist")
    await keys.get_by_role("button", name="Create key").click()
    secret = page.locator("#key-once code")
    await expect(secret).to_be_visible()
    key = await secret.inner_text()
    assert key.startswith("ak_")
    row = keys.locator("tbody tr", has_text="HIS")
    await expect(row).to_contain_text("receptionist")
    await expect(row).to_contain_text(key[:10])
    assert key not in await row.inner_text()          # the table shows its prefix only
    r = await e2e.api.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200 and r.json()["kind"] == "api_key"

    hooks = page.locator("#webhooks")
    await page.locator("#hook-url").fill("https://his.example.org/opdq")
    await hooks.get_by_label("token.created").check()
    await hooks.get_by_role("button", name="Subscribe").click()
    await expect(page.locator("#hook-once code")).to_contain_text("whsec_")
    hook = hooks.locator("tbody tr", has_text="his.example.org")
    await expect(hook).to_contain_text("token.created, token.called")
    await expect(hook).to_contain_text("ACTIVE")
    await hook.get_by_role("button", name="Pause").click()
    await expect(hooks.locator("tbody tr", has_text="his.example.org")).to_contain_text("PAUSED")
    await hooks.get_by_role("button", name="Deliveries").click()
    await expect(hooks.get_by_text("No deliveries yet.")).to_be_visible()
    await screenshot(page, "admin-integrations", full_page=True)

    page.once("dialog", lambda d: d.accept())
    await row.get_by_role("button", name="Revoke").click()
    await expect(keys.locator("tbody tr", has_text="HIS")).to_contain_text("revoked")
    r = await e2e.api.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 401
    r = await e2e.api.get("/api/v1/webhooks", headers=e2e.h("admin"))
    assert [(s["url"], s["status"]) for s in r.json()["items"]] == [
        ("https://his.example.org/opdq", "PAUSED")]
    no_script_errors(page)
