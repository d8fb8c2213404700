//! certflow in a browser, as its users see it: four stories, each on its
//! own server, database and headless Chromium.

use certflow_e2e::{Key, session, today_cst, ymd};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_list_and_logout() {
    let mut s = session!();
    s.goto("/").await;
    assert_eq!(s.path().await, "/login");
    s.screenshot("01-login").await;
    s.finish().await;
}
