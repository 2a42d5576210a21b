//! Console sessions: who signed in to the web console, kept in memory on the server.
//!
//! A session is an opaque random id in an HttpOnly, SameSite=Strict cookie, plus a per-session
//! CSRF token the console's pages send back on every API call and form. Signing out removes the
//! session here, so a copied cookie stops working at once; a restart of the server ends every
//! session (people sign in again; running jobs are not affected).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Name of the session cookie.
pub const COOKIE: &str = "trainyard_console";

/// Header that carries the session's CSRF token on API calls made by the console's scripts.
pub const CSRF_HEADER: &str = "x-console-csrf";

/// How long a session lasts after sign-in (a working day, then sign in again).
pub const TTL: Duration = Duration::from_secs(12 * 3600);

/// One signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    /// The only project this session may see.
    pub project: String,
    /// Who signed in, for the page header: "token", an access key, or a user name.
    pub who: String,
    /// Sent back by the console's pages on every state-changing request.
    pub csrf: String,
    /// When the session stops being accepted.
    pub expires_at: SystemTime,
}

/// Every live session, by id.
#[derive(Default)]
pub struct Sessions {
    table: Mutex<HashMap<String, Session>>,
    /// The sessions of each identity (project and who), at most `cap` of them.
    owners: Mutex<crate::throttle::Ledger>,
    cap: usize,
}

fn owner(s: &Session) -> String {
    format!("{}/{}", s.project, s.who)
}

impl Sessions {
    /// No sessions yet; each identity may hold `cap` at once, the oldest ends first.
    pub fn with_cap(cap: usize) -> Self {
        Self {
            cap,
            ..Self::default()
        }
    }

    /// Starts a session for `project`; returns its id (the cookie value) and the session.
    pub fn start(&self, project: &str, who: &str, now: SystemTime) -> (String, Session) {
        let session = Session {
            project: project.to_owned(),
            who: who.to_owned(),
            csrf: random_id(),
            expires_at: now + TTL,
        };
        let id = random_id();
        let mut table = self.table.lock().expect("console session lock");
        // Expired sessions are dropped whenever someone signs in, so the table stays small.
        table.retain(|_, s| s.expires_at > now);
        table.insert(id.clone(), session.clone());
        let mut owners = self.owners.lock().expect("console session lock");
        let cap = if self.cap == 0 {
            crate::config::DEFAULT_MAX_CONSOLE_SESSIONS
        } else {
            self.cap
        };
        for old in owners.admit(&owner(&session), &id, session.expires_at, cap, now) {
            table.remove(&old);
        }
        (id, session)
    }

    /// The live session `id` at `now`.
    pub fn get(&self, id: &str, now: SystemTime) -> Option<Session> {
        let table = self.table.lock().expect("console session lock");
        table.get(id).filter(|s| s.expires_at > now).cloned()
    }

    /// Ends session `id` (sign-out); unknown ids are ignored.
    pub fn end(&self, id: &str) {
        let mut table = self.table.lock().expect("console session lock");
        if let Some(s) = table.remove(id) {
            let mut owners = self.owners.lock().expect("console session lock");
            owners.forget(&owner(&s), id);
        }
    }
}

/// 32 random bytes as hex: unguessable ids and CSRF tokens.
fn random_id() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// The `Set-Cookie` value of a new session: HttpOnly (scripts never see it), SameSite=Strict
/// (no other site's page makes the browser send it), `Path=/` (the API under `/v1` needs it
/// too), and `Secure` when served over HTTPS.
pub fn set_cookie(id: &str, secure: bool) -> String {
    cookie::Cookie::build((COOKIE, id))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::seconds(TTL.as_secs() as i64))
        .build()
        .to_string()
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    cookie::Cookie::build((COOKIE, ""))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(secure)
        .max_age(cookie::time::Duration::ZERO)
        .build()
        .to_string()
}

/// The session id in a request's cookies.
pub fn cookie_value(headers: &http::HeaderMap) -> Option<&str> {
    trainyard_viz::access::cookie(headers, COOKIE).filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let (id, s) = sessions.start("p1", "token", t0);
        assert_eq!(s.project, "p1");
        assert_ne!(s.csrf, id, "the CSRF token is not the cookie");
        assert!(sessions.get(&id, t0 + Duration::from_secs(60)).is_some());
        assert!(sessions.get(&id, t0 + TTL).is_none(), "expired");
        assert!(sessions.get("nope", t0).is_none());
        let (id2, _) = sessions.start("p1", "token", t0);
        sessions.end(&id2);
        assert!(sessions.get(&id2, t0).is_none(), "signed out");
    }

    #[test]
    fn each_identity_holds_at_most_its_cap_of_sessions() {
        let sessions = Sessions::with_cap(2);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let ids: Vec<String> = (0..3)
            .map(|_| sessions.start("p1", "alice", t0).0)
            .collect();
        let (bob, _) = sessions.start("p1", "bob", t0);
        assert!(sessions.get(&ids[0], t0).is_none(), "oldest ended");
        assert!(sessions.get(&ids[1], t0).is_some() && sessions.get(&ids[2], t0).is_some());
        assert!(sessions.get(&bob, t0).is_some());
        sessions.end(&ids[1]);
        sessions.start("p1", "alice", t0);
        assert!(
            sessions.get(&ids[2], t0).is_some(),
            "a signed-out session frees its place"
        );
    }

    #[test]
    fn cookies_are_http_only_and_strict() {
        let c = set_cookie("abc", false);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Path=/"));
        assert!(c.contains("Max-Age=43200") && !c.contains("Secure"));
        assert!(set_cookie("abc", true).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
    }
}
