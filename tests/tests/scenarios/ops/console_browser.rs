//! The console in a real browser: headless Chromium, driven through chromedriver (WebDriver),
//! does what an operator does — signs in with the keyboard alone, finds the dead letters a
//! poisoned subscriber produced, filters them, opens one beside the hub's document, dry-runs
//! the replay, replays, and sees the subscriber converge — at 1280 px and at a phone's width.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`chromedriver` on the PATH, or
//! `CHROMEDRIVER=/path`). Without them the test says so and passes, unless `CI` is set: in CI it
//! must run. With `ORGHUB_CONSOLE_SCREENSHOTS=<dir>` it writes a screenshot of each page there
//! (`console-*.png`; `tools/console-screenshots` regenerates the ones in `docs/`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use orghub_tests::console::{PoisonedHub, TestConsole};
use orghub_tests::eventually;
use orghub_tests::writer::ADMIN_TOKEN;
use serde_json::json;
use uuid::Uuid;

const DEADLINE: Duration = Duration::from_secs(30);
const DESKTOP: (u32, u32) = (1280, 1000);
const PHONE: (u32, u32) = (390, 844);

/// `chromedriver` from `CHROMEDRIVER` or the PATH.
fn chromedriver() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMEDRIVER").map(PathBuf::from) {
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
}

/// chromedriver on a free loopback port; killed when dropped.
struct Driver {
    url: String,
    _child: tokio::process::Child,
}

impl Driver {
    async fn start(bin: PathBuf) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = tokio::process::Command::new(bin)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        eventually(DEADLINE, "chromedriver to answer", || async {
            reqwest::get(&status)
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(drop)
        })
        .await;
        Driver { url, _child: child }
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                            "--disable-dev-shm-usage", "--hide-scrollbars",
                            "--force-device-scale-factor=1", "--lang=en-GB",
                            format!("--window-size={},{}", DESKTOP.0, DESKTOP.1)]}),
        );
        ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

/// Where screenshots go, if anywhere.
fn screenshot_dir() -> Option<PathBuf> {
    std::env::var_os("ORGHUB_CONSOLE_SCREENSHOTS")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
}

async fn screenshot(browser: &Client, name: &str, (width, height): (u32, u32)) {
    let Some(dir) = screenshot_dir() else {
        return;
    };
    browser
        .set_window_size(width, height)
        .await
        .expect("resize");
    let png = browser.screenshot().await.expect("screenshot");
    std::fs::create_dir_all(&dir).expect("the screenshot directory");
    let path = dir.join(format!("console-{name}.png"));
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    browser
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("resize back");
}

/// Loads `url` until its source has `text`.
async fn until_page_has(browser: &Client, url: &str, text: &str) -> String {
    eventually(DEADLINE, &format!("{url} to show {text:?}"), || async {
        browser.goto(url).await.ok()?;
        let source = browser.source().await.ok()?;
        source.contains(text).then_some(source)
    })
    .await
}

#[tokio::test]
async fn in_a_browser_an_operator_signs_in_finds_filters_dry_runs_and_replays_a_dead_letter_and_the_subscriber_converges()
 {
    let Some(bin) = chromedriver() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but chromedriver is missing: install Debian's chromium and chromium-driver"
        );
        eprintln!(
            "SKIPPED: chromedriver is not installed (apt-get install chromium chromium-driver); \
             the console's browser test did not run"
        );
        return;
    };
    let hub = PoisonedHub::start().await;
    // A second version of the refused unit, so its first dead letter differs from the hub's
    // document: two dead letters.
    let root = Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0001);
    let reply = hub
        .writer
        .put(
            "751",
            "units",
            hub.poisoned,
            json!({"validity": {"from": "2020-01-01"}, "name": "Forbudt", "user_key": "FORB-3",
                   "parent": root}),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    hub.dlq_depth_becomes(2).await;
    let console = TestConsole::start(&hub.db.url, &hub.vhost, &hub.writer.base, 5).await;
    let base = console.base.clone();
    let driver = Driver::start(bin).await;
    let browser = driver.browser().await;
    browser
        .set_window_size(DESKTOP.0, DESKTOP.1)
        .await
        .expect("window size");

    // Signing in with the keyboard alone: the token field has the focus, Enter submits.
    browser
        .goto(&format!("{base}/overview"))
        .await
        .expect("goto");
    assert!(
        browser
            .current_url()
            .await
            .expect("url")
            .path()
            .ends_with("/login")
    );
    screenshot(&browser, "login", (DESKTOP.0, 600)).await;
    let focused = browser.active_element().await.expect("a focused element");
    assert_eq!(
        focused.attr("id").await.expect("id").as_deref(),
        Some("token")
    );
    focused
        .send_keys(&format!("{ADMIN_TOKEN}{}", char::from(Key::Enter)))
        .await
        .expect("type the token");
    let overview = until_page_has(&browser, &format!("{base}/overview"), &hub.name).await;
    assert!(
        !browser
            .current_url()
            .await
            .expect("url")
            .as_str()
            .contains(ADMIN_TOKEN),
        "no token in the URL"
    );
    assert!(overview.contains("Event log"), "{overview}");
    // The management statistics catch up with the two dead letters.
    until_page_has(
        &browser,
        &format!("{base}/overview?refresh=off"),
        &format!("2 dead letters of {}", hub.name),
    )
    .await;
    browser
        .goto(&format!("{base}/overview"))
        .await
        .expect("goto");
    screenshot(&browser, "overview", DESKTOP).await;
    screenshot(&browser, "overview-phone", PHONE).await;

    // The dead letters, then filtered through the form.
    browser
        .goto(&format!("{base}/dead-letters"))
        .await
        .expect("goto");
    let list = browser.source().await.expect("source");
    assert!(list.contains(&hub.poisoned.to_string()), "{list}");
    browser
        .find(Locator::Css("#f-kind"))
        .await
        .expect("kind")
        .select_by_value("unit")
        .await
        .expect("select unit");
    browser
        .find(Locator::Css("#f-reason"))
        .await
        .expect("reason")
        .select_by_value("sink-permanent")
        .await
        .expect("select reason");
    browser
        .find(Locator::Css("#f-kommune"))
        .await
        .expect("kommune")
        .send_keys("751")
        .await
        .expect("type 751");
    browser
        .find(Locator::XPath("//button[normalize-space()='Filter']"))
        .await
        .expect("the filter button")
        .click()
        .await
        .expect("filter");
    browser
        .wait()
        .for_element(Locator::Css("#results"))
        .await
        .expect("the filtered list");
    let url = browser.current_url().await.expect("url");
    let query = url.query().unwrap_or("");
    assert!(
        query.contains("kind=unit") && query.contains("kommune=751"),
        "{query}"
    );
    let filtered = browser.source().await.expect("source");
    assert!(filtered.contains("2 matching"), "{filtered}");
    screenshot(&browser, "dead-letters", DESKTOP).await;
    screenshot(&browser, "dead-letters-phone", PHONE).await;
    // Another kind: nothing.
    browser
        .goto(&format!("{base}/dead-letters?kind=person"))
        .await
        .expect("goto");
    assert!(
        browser
            .source()
            .await
            .expect("source")
            .contains("No dead letter matches")
    );

    // One dead letter beside the hub's document: the older version differs from it.
    browser
        .goto(url.as_str())
        .await
        .expect("back to the filter");
    let links = browser
        .find_all(Locator::Css("td a[href^='/dead-letters/']"))
        .await
        .expect("links to the dead letters");
    assert_eq!(links.len(), 2);
    let mut hrefs = Vec::new();
    for link in links {
        hrefs.extend(link.attr("href").await.expect("href"));
    }
    let mut differing = None;
    for href in hrefs {
        browser.goto(&format!("{base}{href}")).await.expect("goto");
        let source = browser.source().await.expect("source");
        if source.contains("In the hub now") {
            differing = Some(source);
            break;
        }
    }
    let source = differing.expect("the first version's dead letter differs from the hub");
    for text in [
        "units named Forbudt are not allowed here",
        "/current/user_key",
        "FORB-3",
    ] {
        assert!(source.contains(text), "{text} missing:\n{source}");
    }
    screenshot(&browser, "dead-letter", (DESKTOP.0, 1400)).await;

    // Repair the cache; dry-run the replay by the filter, then replay.
    hub.repair().await;
    browser
        .goto(url.as_str())
        .await
        .expect("back to the filter");
    browser
        .find(Locator::XPath(
            "//button[normalize-space()='Dry run: replay']",
        ))
        .await
        .expect("the dry-run button")
        .click()
        .await
        .expect("dry run");
    browser
        .wait()
        .for_element(Locator::XPath("//h1[normalize-space()='Dry run: replay']"))
        .await
        .expect("the dry run's page");
    let dry = browser.source().await.expect("source");
    assert!(dry.contains("2 dead letters"), "{dry}");
    assert!(dry.contains("Nothing has changed yet"), "{dry}");
    hub.dlq_depth_becomes(2).await;
    screenshot(&browser, "dry-run", DESKTOP).await;
    browser
        .find(Locator::XPath(
            "//button[normalize-space()='Replay these 2 dead letters']",
        ))
        .await
        .expect("the confirm button")
        .click()
        .await
        .expect("replay");
    browser
        .wait()
        .for_element(Locator::XPath("//h1[contains(., 'replay')]"))
        .await
        .expect("the job's page");
    let job = browser.current_url().await.expect("url").to_string();
    assert!(job.contains("/jobs/"), "{job}");
    let result = until_page_has(&browser, &job, "Result: replay").await;
    assert!(result.contains("2 dead letters replayed"), "{result}");
    screenshot(&browser, "job", DESKTOP).await;

    // The subscriber converges, and the overview says so once the statistics catch up.
    hub.converges().await;
    hub.dlq_depth_becomes(0).await;
    let gone = format!("dead letters of {}", hub.name);
    eventually(DEADLINE, "the overview to show an empty DLQ", || async {
        browser
            .goto(&format!("{base}/overview?refresh=off"))
            .await
            .ok()?;
        let source = browser.source().await.ok()?;
        (source.contains(&hub.name) && !source.contains(&gone)).then_some(())
    })
    .await;

    browser.close().await.expect("close the browser");
    console.stop().await;
    hub.finish().await;
}
