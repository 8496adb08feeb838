//! A headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`;
//! `scripts/test` installs them when missing): started per test, stopped when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// How long a page may take to show what a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// A chromedriver process, killed when dropped (also when starting the session fails, so a
/// failed test leaves no driver behind).
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A chromedriver process and a browser session on it.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    _driver: Driver,
    /// Where the browser saves downloads.
    pub downloads: tempfile::TempDir,
    _profile: tempfile::TempDir,
}

fn chromedriver() -> String {
    std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".to_owned())
}

fn chromium() -> String {
    std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned())
}

impl Browser {
    /// Starts chromedriver and a headless browser at 1280x800.
    pub async fn start() -> Browser {
        let port = super::free_port();
        let driver = Driver(
            Command::new(chromedriver())
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|err| {
                    panic!(
                        "cannot start {} ({err}): the console tests need Chromium and \
                         ChromeDriver (apt-get install chromium chromium-driver; scripts/test \
                         installs them)",
                        chromedriver()
                    )
                }),
        );
        let downloads = tempfile::tempdir().unwrap();
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": chromium(),
                // Without the background-networking flags Chromium keeps dialling Google's
                // hosts, which a closed network refuses many at a time.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path().display().to_string(),
                    "download.prompt_for_download": false,
                },
            },
        });
        let capabilities = match capabilities {
            Value::Object(map) => map,
            _ => unreachable!(),
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            // Plain HTTP: chromedriver listens on loopback only.
            let attempt = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&url)
                .await;
            match attempt {
                Ok(client) => break client,
                Err(err) if started.elapsed() > Duration::from_secs(30) => {
                    panic!("no WebDriver session on {url} after 30 s: {err}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        Browser {
            client,
            _driver: driver,
            downloads,
            _profile: profile,
        }
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Waits until `script` returns something truthy; returns it. Panics with `what` after
    /// [`PATIENCE`], with the page's alerts in the message.
    pub async fn until(&self, what: &str, script: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(script, vec![]).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return value;
            }
            if started.elapsed() > PATIENCE {
                let alerts = self
                    .eval(
                        "return [...document.querySelectorAll('.alert')].map(a => a.textContent).join(' | ')",
                        vec![],
                    )
                    .await;
                panic!("waited {PATIENCE:?} for {what}; alerts on the page: {alerts}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The text of the first element matching `css`, once there is one with some text.
    pub async fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent.trim() : null",
            json!(css)
        );
        self.until(&format!("text in {css}"), &script)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits until the first element matching `css` reads `expected`.
    pub async fn until_text(&self, css: &str, expected: &str) {
        let script = format!(
            "return document.querySelector({})?.textContent.trim() === {}",
            json!(css),
            json!(expected)
        );
        self.until(&format!("{css} to read {expected:?}"), &script)
            .await;
    }

    /// Whether an element matches `css` now.
    pub async fn exists(&self, css: &str) -> bool {
        let script = format!("return document.querySelector({}) !== null", json!(css));
        self.eval(&script, vec![]).await == Value::Bool(true)
    }

    /// Clicks the element matching `css` once it is there.
    pub async fn click(&self, css: &str) {
        self.element(css).await.click().await.unwrap();
    }

    /// Replaces the value of the field matching `css` with `text`, typed.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.element(css).await;
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    /// The element matching `css`, waiting for it.
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PATIENCE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|err| panic!("no element {css}: {err}"))
    }

    /// Goes to `url` (a hash change within the console re-renders the page).
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap();
    }

    /// Saves a screenshot of the whole page as `<dir>/<name>.png`: the window is stretched to
    /// the page's height for the picture (WebDriver only photographs the viewport), then put back.
    pub async fn screenshot(&self, dir: &Path, name: &str) {
        // Charts draw on the next tick; give them one before the picture.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let (width, height) = self.client.get_window_size().await.unwrap();
        let inner = self
            .eval(
                "window.scrollTo(0, 0); return [document.documentElement.scrollHeight, window.innerHeight]",
                vec![],
            )
            .await;
        let page = inner[0].as_u64().unwrap_or(height);
        let chrome = height.saturating_sub(inner[1].as_u64().unwrap_or(height));
        let tall = (page + chrome).clamp(height, 6_000);
        self.client
            .set_window_size(width as u32, tall as u32)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let png = self.client.screenshot().await.unwrap();
        self.client
            .set_window_size(width as u32, height as u32)
            .await
            .unwrap();
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Waits for a finished download whose name starts with `prefix`; returns its path.
    pub async fn downloaded(&self, prefix: &str) -> PathBuf {
        let started = Instant::now();
        loop {
            let found = std::fs::read_dir(self.downloads.path())
                .unwrap()
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .find(|path| {
                    let name = path.file_name().unwrap().to_string_lossy().into_owned();
                    name.starts_with(prefix) && !name.ends_with(".crdownload")
                });
            if let Some(path) = found {
                return path;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "no download {prefix}* in {}",
                self.downloads.path().display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the browser session, then chromedriver (when `self` drops).
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}
