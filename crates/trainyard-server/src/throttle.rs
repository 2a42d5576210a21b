//! Sign-in throttling and per-identity caps: pure decisions, no IO, no HTTP types.
//!
//! [`Backoff`] decides whether a credential check may run now. Every failed check (wrong
//! password, unknown token, bad AK/SK signature) counts against the identity it named (a user
//! or an access key) and against the client address it came from. The first failures are free;
//! after them each failure closes that key for `2^(n - free)` seconds (at most `max`), and
//! while a key is closed its checks are refused without being evaluated, so a right password
//! sent too early is refused too. A success clears the identity's count (never the address's:
//! a valid account must not reset the count of the address it guesses others' passwords from).
//! A key that saw no failure for `max` is forgotten.
//!
//! [`Ledger`] keeps the newest `cap` ids (tokens, temporary keys, console sessions) of each
//! owner and names the oldest to evict.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

/// Most keys [`Backoff`] tracks; past it, forgotten keys are dropped first, then the quietest.
const MAX_KEYS: usize = 65_536;

/// What a failure counts against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// A user name or access key, e.g. `user:alice` or `ak:AK123`.
    Identity(String),
    /// The client's address.
    Address(IpAddr),
}

/// How quickly failures close a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Failures of one identity before the first delay.
    pub free_per_identity: u32,
    /// Failures from one address before the first delay.
    pub free_per_address: u32,
    /// The longest delay; also how long a quiet key is remembered.
    pub max: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            free_per_identity: 10,
            free_per_address: 50,
            max: Duration::from_secs(900),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    closed_until: Instant,
    last_failure: Instant,
}

/// Failure counts by identity and address.
#[derive(Debug, Default)]
pub struct Backoff {
    policy: Policy,
    entries: HashMap<Key, Entry>,
}

impl Backoff {
    /// An empty table under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            policy,
            entries: HashMap::new(),
        }
    }

    fn free(&self, key: &Key) -> u32 {
        match key {
            Key::Identity(_) => self.policy.free_per_identity,
            Key::Address(_) => self.policy.free_per_address,
        }
    }

    /// The delay after the `failures`-th failure of `key`.
    fn delay(&self, key: &Key, failures: u32) -> Duration {
        let free = self.free(key);
        if failures < free.max(1) {
            return Duration::ZERO;
        }
        let exp = (failures - free.max(1)).min(30);
        Duration::from_secs(1u64 << exp).min(self.policy.max)
    }

    /// `Ok` when a check for `keys` may run at `now`, else how long to wait (at least 1 s).
    pub fn check(&self, keys: &[Key], now: Instant) -> Result<(), Duration> {
        let wait = keys
            .iter()
            .filter_map(|k| self.entries.get(k))
            .map(|e| e.closed_until.saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        if wait.is_zero() {
            Ok(())
        } else {
            Err(wait.max(Duration::from_secs(1)))
        }
    }

    /// Counts a failed check against every key in `keys`.
    pub fn failure(&mut self, keys: &[Key], now: Instant) {
        if self.entries.len() >= MAX_KEYS {
            self.prune(now);
        }
        for key in keys {
            let forget = self.policy.max;
            let entry = self.entries.entry(key.clone()).or_insert(Entry {
                failures: 0,
                closed_until: now,
                last_failure: now,
            });
            if now.saturating_duration_since(entry.last_failure) > forget
                && entry.closed_until <= now
            {
                entry.failures = 0;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            let failures = entry.failures;
            let delay = self.delay(key, failures);
            if let Some(e) = self.entries.get_mut(key) {
                e.closed_until = now + delay;
            }
        }
    }

    /// A successful check: the identities in `keys` start again from zero.
    pub fn success(&mut self, keys: &[Key]) {
        for key in keys {
            if matches!(key, Key::Identity(_)) {
                self.entries.remove(key);
            }
        }
    }

    /// Drops forgotten keys; when none is, the quietest one.
    fn prune(&mut self, now: Instant) {
        let forget = self.policy.max;
        self.entries.retain(|_, e| {
            e.closed_until > now || now.saturating_duration_since(e.last_failure) <= forget
        });
        if self.entries.len() >= MAX_KEYS {
            if let Some(quietest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.last_failure)
                .map(|(k, _)| k.clone())
            {
                self.entries.remove(&quietest);
            }
        }
    }

    /// How many keys are tracked.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A [`Backoff`] shared by every door that checks credentials, on the monotonic clock.
#[derive(Debug, Default)]
pub struct Throttle {
    backoff: std::sync::Mutex<Backoff>,
    /// How many keys the table held after its last change. While none is tracked (no failure
    /// in the last `max`), every check passes without taking the lock: every authenticated
    /// request checks, from every worker thread at once.
    tracked: AtomicUsize,
}

impl Throttle {
    /// An empty table under `policy`.
    pub fn new(policy: Policy) -> Self {
        Self {
            backoff: std::sync::Mutex::new(Backoff::new(policy)),
            tracked: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Backoff> {
        self.backoff.lock().expect("throttle lock")
    }

    /// `Ok` when a check for `keys` may run now, else how long to wait.
    pub fn check(&self, keys: &[Key]) -> Result<(), Duration> {
        if self.tracked.load(Ordering::Acquire) == 0 {
            return Ok(());
        }
        self.lock().check(keys, Instant::now())
    }

    /// Counts a failed check.
    pub fn failure(&self, keys: &[Key]) {
        let mut backoff = self.lock();
        backoff.failure(keys, Instant::now());
        self.tracked.store(backoff.len(), Ordering::Release);
    }

    /// Counts a successful check.
    pub fn success(&self, keys: &[Key]) {
        let mut backoff = self.lock();
        backoff.success(keys);
        self.tracked.store(backoff.len(), Ordering::Release);
    }
}

/// The keys of a check naming `identity` (if any) from `addr` (if known).
pub fn keys(identity: Option<String>, addr: Option<IpAddr>) -> Vec<Key> {
    identity
        .map(Key::Identity)
        .into_iter()
        .chain(addr.map(Key::Address))
        .collect()
}

/// The newest ids of each owner, at most `cap` of them: who holds which token, temporary key or
/// console session, and which one to evict when an owner gets one too many.
#[derive(Debug, Default)]
pub struct Ledger {
    owners: HashMap<String, VecDeque<(String, SystemTime)>>,
}

impl Ledger {
    /// Records `id` (valid until `expires_at`) for `owner`; returns the ids that leave: expired
    /// ones at `now` and, past `cap`, the oldest.
    pub fn admit(
        &mut self,
        owner: &str,
        id: &str,
        expires_at: SystemTime,
        cap: usize,
        now: SystemTime,
    ) -> Vec<String> {
        let ids = self.owners.entry(owner.to_owned()).or_default();
        let mut gone = Vec::new();
        ids.retain(|(i, exp)| {
            let live = *exp > now;
            if !live {
                gone.push(i.clone());
            }
            live
        });
        ids.push_back((id.to_owned(), expires_at));
        while ids.len() > cap.max(1) {
            if let Some((old, _)) = ids.pop_front() {
                gone.push(old);
            }
        }
        gone
    }

    /// Forgets `id` of `owner` (signed out, revoked).
    pub fn forget(&mut self, owner: &str, id: &str) {
        if let Some(ids) = self.owners.get_mut(owner) {
            ids.retain(|(i, _)| i != id);
            if ids.is_empty() {
                self.owners.remove(owner);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> Key {
        Key::Identity(format!("user:{name}"))
    }

    fn addr(last: u8) -> Key {
        Key::Address(IpAddr::from([10, 0, 0, last]))
    }

    fn policy() -> Policy {
        Policy {
            free_per_identity: 3,
            free_per_address: 5,
            max: Duration::from_secs(60),
        }
    }

    #[test]
    fn the_shared_throttle_closes_and_reopens_keys_as_its_table_says() {
        let t = Throttle::new(policy());
        let keys = [user("alice"), addr(1)];
        assert_eq!(t.check(&keys), Ok(()), "nothing tracked yet");
        for _ in 0..3 {
            t.failure(&keys);
        }
        assert_eq!(t.check(&keys), Err(Duration::from_secs(1)));
        assert_eq!(t.check(&[addr(2)]), Ok(()), "another address");
        t.success(&keys);
        assert_eq!(
            t.check(&[user("alice")]),
            Ok(()),
            "a success clears the identity"
        );
        assert_eq!(
            t.check(&[user("bob"), addr(1)]),
            Ok(()),
            "the address has failures left"
        );
        for _ in 0..5 {
            t.failure(&[addr(1)]);
        }
        assert!(t.check(&[addr(1)]).is_err(), "the address is closed too");
    }

    #[test]
    fn free_failures_then_doubling_delays_up_to_the_max() {
        let mut b = Backoff::new(policy());
        let t0 = Instant::now();
        let keys = [user("alice")];
        b.failure(&keys, t0);
        b.failure(&keys, t0);
        assert_eq!(b.check(&keys, t0), Ok(()), "two failures are free");
        b.failure(&keys, t0);
        assert_eq!(b.check(&keys, t0), Err(Duration::from_secs(1)));
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(b.check(&keys, t1), Ok(()), "open again after the delay");
        b.failure(&keys, t1);
        assert_eq!(b.check(&keys, t1), Err(Duration::from_secs(2)));
        let mut t = t1;
        for _ in 0..20 {
            t += Duration::from_secs(59);
            b.failure(&keys, t);
        }
        assert_eq!(b.check(&keys, t), Err(Duration::from_secs(60)), "capped");
        assert_eq!(
            b.check(&keys, t + Duration::from_millis(59_500)),
            Err(Duration::from_secs(1)),
            "a wait is never under a second"
        );
    }

    #[test]
    fn a_success_clears_the_identity_but_not_the_address() {
        let mut b = Backoff::new(policy());
        let t0 = Instant::now();
        for _ in 0..5 {
            b.failure(&[user("alice"), addr(1)], t0);
        }
        assert!(b.check(&[user("alice")], t0).is_err());
        assert!(b.check(&[addr(1)], t0).is_err());
        let later = t0 + Duration::from_secs(10);
        b.success(&[user("alice"), addr(1)]);
        b.failure(&[user("alice"), addr(1)], later);
        assert_eq!(b.check(&[user("alice")], later), Ok(()), "counted anew");
        assert!(b.check(&[addr(1)], later).is_err(), "the address stays");
    }

    #[test]
    fn an_address_closes_for_every_identity_and_others_stay_open() {
        let mut b = Backoff::new(policy());
        let t0 = Instant::now();
        for i in 0..5 {
            b.failure(&[user(&format!("u{i}")), addr(1)], t0);
        }
        assert!(b.check(&[user("new"), addr(1)], t0).is_err());
        assert_eq!(b.check(&[user("new"), addr(2)], t0), Ok(()));
        assert_eq!(b.check(&[user("u0"), addr(2)], t0), Ok(()));
    }

    #[test]
    fn quiet_keys_are_forgotten() {
        let mut b = Backoff::new(policy());
        let t0 = Instant::now();
        for _ in 0..3 {
            b.failure(&[user("alice")], t0);
        }
        let later = t0 + Duration::from_secs(61);
        b.failure(&[user("alice")], later);
        assert_eq!(b.check(&[user("alice")], later), Ok(()), "count restarted");
        b.prune(later + Duration::from_secs(61));
        assert!(b.is_empty());
    }

    #[test]
    fn ledgers_keep_the_newest_per_owner() {
        let mut l = Ledger::default();
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let later = now + Duration::from_secs(100);
        assert!(l.admit("alice", "t1", later, 2, now).is_empty());
        assert!(l.admit("alice", "t2", later, 2, now).is_empty());
        assert!(l.admit("bob", "b1", later, 2, now).is_empty());
        assert_eq!(l.admit("alice", "t3", later, 2, now), vec!["t1".to_owned()]);
        l.forget("alice", "t2");
        assert!(l.admit("alice", "t4", later, 2, now).is_empty());
        let expired = l.admit("alice", "t5", later + Duration::from_secs(1), 5, later);
        assert_eq!(expired, vec!["t3".to_owned(), "t4".to_owned()]);
    }
}
