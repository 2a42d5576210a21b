//! PostgreSQL advisory lock keys, shared by the duties (`postgres.rs`) and the creates'
//! per-project quota lock (`ops.rs`).

/// The advisory lock key of a duty: a stable 64-bit FNV-1a hash of `trainyard:<duty>`, so
/// every server (and every version of it) computes the same key. Creates lock their project's
/// quota under `quota:<project>` (`ops.rs`).
pub(crate) fn duty_key(duty: &str) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in b"trainyard:".iter().chain(duty.as_bytes()) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h as i64
}

#[cfg(test)]
mod tests {
    #[test]
    fn duty_keys_are_stable_and_distinct() {
        assert_eq!(super::duty_key("scheduler"), super::duty_key("scheduler"));
        assert_ne!(super::duty_key("scheduler"), super::duty_key("other"));
    }
}
