//! Who may call: configured tokens, access keys (AK/SK) and users of the built-in IAM-style
//! token endpoint, plus the tokens it issued (in memory, 24 h each).

use crate::config::{read_secret, ConfigError, ProjectConfig};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// Lifetime of an issued token (24 hours, as ModelArts IAM tokens).
pub const TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);

/// Lifetimes IAM allows a temporary access key (`duration_seconds`): 15 minutes to 24 hours.
pub const TEMPORARY_KEY_SECONDS: std::ops::RangeInclusive<u64> = 900..=86_400;

/// A temporary access key's lifetime when the request names none (IAM's default, 15 minutes).
pub const TEMPORARY_KEY_DEFAULT: Duration = Duration::from_secs(900);

/// An access key's project and secret.
struct AccessKey {
    project: String,
    secret: Vec<u8>,
}

/// A user of `POST /v3/auth/tokens`.
struct User {
    name: String,
    domain: String,
    password: String,
    project: String,
}

/// A token issued by `POST /v3/auth/tokens`.
#[derive(Clone, Debug)]
pub struct Issued {
    /// The opaque token.
    pub token: String,
    /// Project id it is scoped to.
    pub project_id: String,
    /// Project name.
    pub project_name: String,
    /// User name.
    pub user: String,
    /// Domain (account) name.
    pub domain: String,
    /// When it was issued.
    pub issued_at: SystemTime,
    /// When it stops being accepted.
    pub expires_at: SystemTime,
}

/// Outcome of looking up an `X-Auth-Token`.
#[derive(Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// Valid for this project.
    Valid(String),
    /// Issued by us, past its lifetime.
    Expired,
    /// Never seen.
    Unknown,
}

/// A temporary access key of `POST /v3.0/OS-CREDENTIAL/securitytokens` (the official SDK's
/// account modes sign OBS requests with one).
#[derive(Clone, Debug)]
pub struct TemporaryKey {
    /// Access key.
    pub access: String,
    /// Secret key.
    pub secret: String,
    /// Security token the client must send along (`x-amz-security-token` or
    /// `x-obs-security-token`): the key pair alone is refused.
    pub security_token: String,
    /// Project it belongs to.
    pub project_id: String,
    /// When it stops being accepted (`duration_seconds` after it was issued).
    pub expires_at: SystemTime,
}

/// What an access key presented to the OBS/S3 endpoint is.
#[derive(Debug, PartialEq, Eq)]
pub enum S3Key {
    /// A configured key, or a temporary one within its lifetime.
    Valid {
        /// The project it belongs to.
        project: String,
        /// Its secret key.
        secret: Vec<u8>,
        /// The security token a temporary key must come with; `None` for configured keys.
        security_token: Option<String>,
    },
    /// A temporary key past its expiry.
    Expired,
    /// Never issued, or expired long ago and forgotten.
    Unknown,
}

/// Credentials of every project.
pub struct Identity {
    tokens: HashMap<String, String>,
    keys: HashMap<String, AccessKey>,
    users: Vec<User>,
    projects: Vec<(String, String)>,
    issued: Mutex<HashMap<String, Issued>>,
    temporary: Mutex<HashMap<String, TemporaryKey>>,
    /// Issued tokens and temporary keys of each identity, and how many each may hold.
    caps: Caps,
}

/// At most this many tokens and temporary keys per identity; the oldest go first.
#[derive(Default)]
struct Caps {
    tokens: Mutex<crate::throttle::Ledger>,
    keys: Mutex<crate::throttle::Ledger>,
    max_tokens: usize,
    max_keys: usize,
}

/// What `POST /v3/auth/tokens` asks for.
#[derive(Debug, Default)]
pub struct Login<'a> {
    /// User name.
    pub user: &'a str,
    /// Password.
    pub password: &'a str,
    /// Domain (account) name, if given.
    pub domain: Option<&'a str>,
    /// Scope: project id, if given.
    pub project_id: Option<&'a str>,
    /// Scope: project name, if given.
    pub project_name: Option<&'a str>,
}

impl Identity {
    /// Loads every secret of `projects` (values or private files).
    pub fn from_projects(projects: &[ProjectConfig]) -> Result<Self, ConfigError> {
        let mut tokens = HashMap::new();
        let mut keys = HashMap::new();
        let mut users = Vec::new();
        for p in projects {
            for t in &p.tokens {
                tokens.insert(t.clone(), p.id.clone());
            }
            for k in &p.access_keys {
                let sk = read_secret(
                    &format!("projects.access_keys '{}'", k.ak),
                    k.sk.as_deref(),
                    k.sk_file.as_deref(),
                )?;
                keys.insert(
                    k.ak.clone(),
                    AccessKey {
                        project: p.id.clone(),
                        secret: sk.into_bytes(),
                    },
                );
            }
            for u in &p.users {
                let password = read_secret(
                    &format!("projects.users '{}'", u.name),
                    u.password.as_deref(),
                    u.password_file.as_deref(),
                )?;
                users.push(User {
                    name: u.name.clone(),
                    domain: u.domain.clone().unwrap_or_else(|| u.name.clone()),
                    password,
                    project: p.id.clone(),
                });
            }
        }
        let projects = projects
            .iter()
            .map(|p| (p.id.clone(), p.name.clone().unwrap_or_else(|| p.id.clone())))
            .collect();
        Ok(Self {
            tokens,
            keys,
            users,
            projects,
            issued: Mutex::new(HashMap::new()),
            temporary: Mutex::new(HashMap::new()),
            caps: Caps {
                max_tokens: crate::config::DEFAULT_MAX_ISSUED_PER_IDENTITY,
                max_keys: crate::config::DEFAULT_MAX_ISSUED_PER_IDENTITY,
                ..Caps::default()
            },
        })
    }

    /// At most `tokens` issued tokens per user and `keys` temporary keys per user (or project,
    /// for keys minted with a configured token); past it the oldest stops working.
    pub fn with_caps(mut self, tokens: usize, keys: usize) -> Self {
        self.caps.max_tokens = tokens;
        self.caps.max_keys = keys;
        self
    }

    /// Who a token's temporary keys count against: its user, or its project.
    fn owner_of(&self, token: &str, project: &str) -> String {
        let issued = self.issued.lock().expect("token table lock");
        match issued.get(token) {
            Some(i) => format!("user:{}/{}", i.domain, i.user),
            None => format!("project:{project}"),
        }
    }

    /// Looks up an `X-Auth-Token` at `now`.
    pub fn check_token(&self, token: &str, now: SystemTime) -> TokenCheck {
        if let Some(p) = self.tokens.get(token) {
            return TokenCheck::Valid(p.clone());
        }
        let issued = self.issued.lock().expect("token table lock");
        match issued.get(token) {
            Some(i) if i.expires_at > now => TokenCheck::Valid(i.project_id.clone()),
            Some(_) => TokenCheck::Expired,
            None => TokenCheck::Unknown,
        }
    }

    /// Who a valid token names: the user it was issued to, or `token` for a configured one
    /// (found, as [`Self::check_token`] finds it, without taking the issued tokens' lock).
    pub fn who(&self, token: &str) -> String {
        if self.tokens.contains_key(token) {
            return "token".to_owned();
        }
        let issued = self.issued.lock().expect("token table lock");
        issued
            .get(token)
            .map_or_else(|| "token".to_owned(), |i| i.user.clone())
    }

    /// The project and secret of an access key.
    pub fn access_key(&self, ak: &str) -> Option<(&str, &[u8])> {
        self.keys
            .get(ak)
            .map(|k| (k.project.as_str(), k.secret.as_slice()))
    }

    /// Issues a temporary access key for the project of a valid issued token, accepted for
    /// `lifetime` (the caller keeps it within [`TEMPORARY_KEY_SECONDS`]).
    pub fn issue_temporary_key(
        &self,
        token: &str,
        lifetime: Duration,
        now: SystemTime,
    ) -> Result<TemporaryKey, TokenCheck> {
        let project_id = match self.check_token(token, now) {
            TokenCheck::Valid(p) => p,
            other => return Err(other),
        };
        let expires_at = now + lifetime;
        let owner = self.owner_of(token, &project_id);
        let key = TemporaryKey {
            access: format!("TMP{}", random_token()[..20].to_ascii_uppercase()),
            secret: random_token(),
            security_token: random_token(),
            project_id,
            expires_at,
        };
        let mut table = self.temporary.lock().expect("temporary key lock");
        table.retain(|_, k| k.expires_at > now);
        table.insert(key.access.clone(), key.clone());
        let mut owners = self.caps.keys.lock().expect("key ledger lock");
        for old in owners.admit(&owner, &key.access, key.expires_at, self.caps.max_keys, now) {
            table.remove(&old);
        }
        Ok(key)
    }

    /// An access key presented to the OBS/S3 endpoint at `now`: configured, or temporary
    /// (with the security token it needs), or expired, or unknown.
    pub fn s3_key(&self, ak: &str, now: SystemTime) -> S3Key {
        if let Some((p, sk)) = self.access_key(ak) {
            return S3Key::Valid {
                project: p.to_owned(),
                secret: sk.to_vec(),
                security_token: None,
            };
        }
        let table = self.temporary.lock().expect("temporary key lock");
        match table.get(ak) {
            Some(k) if k.expires_at > now => S3Key::Valid {
                project: k.project_id.clone(),
                secret: k.secret.clone().into_bytes(),
                security_token: Some(k.security_token.clone()),
            },
            Some(_) => S3Key::Expired,
            None => S3Key::Unknown,
        }
    }

    /// The configured name of project `id` (its region name for IAM), else the id.
    pub fn project_name(&self, id: &str) -> String {
        self.projects
            .iter()
            .find(|(i, _)| i == id)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| id.to_owned())
    }

    /// Checks a username/password login and issues a project-scoped token; `None` when the
    /// user, password, domain or scope does not match a configured user.
    pub fn login(&self, req: &Login<'_>, now: SystemTime) -> Option<Issued> {
        let wanted = |project: &str| match (req.project_id, req.project_name) {
            (Some(id), _) => id == project,
            (None, Some(name)) => name == self.project_name(project) || name == project,
            (None, None) => true,
        };
        let user = self.users.iter().find(|u| {
            u.name == req.user
                && same(u.password.as_bytes(), req.password.as_bytes())
                && req.domain.is_none_or(|d| d == u.domain)
                && wanted(&u.project)
        })?;
        let token = random_token();
        let issued = Issued {
            token: token.clone(),
            project_id: user.project.clone(),
            project_name: self.project_name(&user.project),
            user: user.name.clone(),
            domain: user.domain.clone(),
            issued_at: now,
            expires_at: now + TOKEN_TTL,
        };
        let mut table = self.issued.lock().expect("token table lock");
        table.retain(|_, i| i.expires_at > now);
        table.insert(token.clone(), issued.clone());
        let owner = format!("user:{}/{}", user.domain, user.name);
        let mut owners = self.caps.tokens.lock().expect("token ledger lock");
        for old in owners.admit(&owner, &token, issued.expires_at, self.caps.max_tokens, now) {
            table.remove(&old);
        }
        Some(issued)
    }

    /// `(id, name)` of the projects a token may see: its own.
    pub fn projects_of(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Vec<(String, String)>, TokenCheck> {
        match self.check_token(token, now) {
            TokenCheck::Valid(p) => {
                let name = self.project_name(&p);
                Ok(vec![(p, name)])
            }
            other => Err(other),
        }
    }
}

fn random_token() -> String {
    let buf: Vec<u8> = (0..32).map(|_| rand::random::<u8>()).collect();
    hex::encode(buf)
}

/// Equality in time independent of where the inputs differ (`subtle`).
fn same(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

/// RFC 3339 UTC with milliseconds, e.g. `2024-01-02T03:04:05.000000Z` (IAM's format).
pub fn rfc3339(t: SystemTime) -> String {
    jiff::Timestamp::try_from(t)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .strftime("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::time::UNIX_EPOCH;

    fn identity() -> Identity {
        let c = Config::from_toml(
            "[[projects]]\nid = \"p1\"\nname = \"cn-north-4\"\ntokens = [\"static\"]\nusers = [{ name = \"alice\", domain = \"acme\", password = \"pw\" }]\n\
             [[projects]]\nid = \"p2\"\nusers = [{ name = \"bob\", password = \"pw2\" }]\n",
        )
        .unwrap();
        Identity::from_projects(&c.projects).unwrap()
    }

    #[test]
    fn issued_tokens_expire_after_24_hours() {
        let id = identity();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let login = Login {
            user: "alice",
            password: "pw",
            domain: Some("acme"),
            project_name: Some("cn-north-4"),
            ..Default::default()
        };
        let issued = id.login(&login, t0).expect("login");
        assert_eq!(issued.project_id, "p1");
        assert_eq!(
            id.check_token(&issued.token, t0 + Duration::from_secs(3600)),
            TokenCheck::Valid("p1".into())
        );
        assert_eq!(
            id.check_token(&issued.token, t0 + TOKEN_TTL),
            TokenCheck::Expired
        );
        assert_eq!(id.check_token("nope", t0), TokenCheck::Unknown);
        assert_eq!(
            id.check_token("static", t0 + TOKEN_TTL * 10),
            TokenCheck::Valid("p1".into())
        );
    }

    #[test]
    fn logins_are_checked() {
        let id = identity();
        let now = SystemTime::now();
        let ok = |user, password, domain, pid, pname| {
            id.login(
                &Login {
                    user,
                    password,
                    domain,
                    project_id: pid,
                    project_name: pname,
                },
                now,
            )
            .map(|i| i.project_id)
        };
        assert_eq!(ok("alice", "pw", None, None, None), Some("p1".into()));
        assert_eq!(
            ok("alice", "pw", Some("acme"), Some("p1"), None),
            Some("p1".into())
        );
        assert_eq!(ok("alice", "bad", None, None, None), None);
        assert_eq!(ok("alice", "pw", Some("other"), None, None), None);
        assert_eq!(ok("alice", "pw", None, Some("p2"), None), None);
        assert_eq!(
            ok("bob", "pw2", Some("bob"), None, Some("p2")),
            Some("p2".into())
        );
        assert_eq!(ok("carol", "pw", None, None, None), None);
    }

    #[test]
    fn temporary_keys_last_their_duration_and_carry_their_token() {
        let id = identity();
        let t0 = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let key = id
            .issue_temporary_key("static", Duration::from_secs(900), t0)
            .expect("issued");
        assert_eq!(key.expires_at, t0 + Duration::from_secs(900));
        match id.s3_key(&key.access, t0 + Duration::from_secs(899)) {
            S3Key::Valid {
                project,
                security_token,
                ..
            } => {
                assert_eq!(project, "p1");
                assert_eq!(security_token.as_deref(), Some(key.security_token.as_str()));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            id.s3_key(&key.access, t0 + Duration::from_secs(900)),
            S3Key::Expired
        );
        assert_eq!(id.s3_key("TMPNOSUCHKEY", t0), S3Key::Unknown);
        assert!(id
            .issue_temporary_key("nope", Duration::from_secs(900), t0)
            .is_err());
    }

    #[test]
    fn each_user_holds_at_most_its_cap_of_tokens_and_keys() {
        let id = identity().with_caps(2, 2);
        let now = SystemTime::now();
        let login = Login {
            user: "alice",
            password: "pw",
            ..Default::default()
        };
        let t: Vec<String> = (0..3)
            .map(|_| id.login(&login, now).unwrap().token)
            .collect();
        assert_eq!(
            id.check_token(&t[0], now),
            TokenCheck::Unknown,
            "oldest evicted"
        );
        assert_eq!(id.check_token(&t[2], now), TokenCheck::Valid("p1".into()));
        let bob = id
            .login(
                &Login {
                    user: "bob",
                    password: "pw2",
                    ..Default::default()
                },
                now,
            )
            .unwrap();
        assert_eq!(
            id.check_token(&t[1], now),
            TokenCheck::Valid("p1".into()),
            "per user"
        );
        let hour = Duration::from_secs(3600);
        let k: Vec<String> = (0..3)
            .map(|_| id.issue_temporary_key(&t[1], hour, now).unwrap().access)
            .collect();
        id.issue_temporary_key(&bob.token, hour, now).unwrap();
        id.issue_temporary_key("static", hour, now).unwrap();
        assert_eq!(id.s3_key(&k[0], now), S3Key::Unknown, "oldest key evicted");
        assert!(matches!(id.s3_key(&k[1], now), S3Key::Valid { .. }));
        assert!(matches!(id.s3_key(&k[2], now), S3Key::Valid { .. }));
    }

    #[test]
    fn rfc3339_formats() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
            "2024-02-29T23:59:59.000000Z"
        );
    }
}
