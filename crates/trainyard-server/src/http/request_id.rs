//! The ids the server gives requests that come without an `x-request-id`: shaped as UUIDs
//! (version 4, RFC 4122 variant, 36 characters, as the docs promise), made of a random part
//! drawn once per process and a counter. A random UUID per request drew from the kernel and
//! formatted through `uuid` on every request; this costs an atomic add and a hex encoding. Ids
//! never repeat within a process, and two processes share ids only if they drew the same 60
//! random bits.

use axum::http::{HeaderValue, Request};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use tower_http::request_id::{MakeRequestId, RequestId};

/// The random half of this process's ids, with the version nibble already set.
static PREFIX: LazyLock<u64> = LazyLock::new(|| (rand::random::<u64>() & !0xF000) | 0x4000);

/// Requests given an id so far.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// Makes the ids of [`tower_http::request_id::SetRequestIdLayer`].
#[derive(Clone, Copy, Debug, Default)]
pub struct MakeRequestIds;

impl MakeRequestId for MakeRequestIds {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Some(RequestId::new(format_id(*PREFIX, n)))
    }
}

/// `prefix` then `n` as a UUID: the variant's two bits take the top of the counter's half
/// (a process would need 2^62 requests to wrap it).
fn format_id(prefix: u64, n: u64) -> HeaderValue {
    let bytes =
        ((u128::from(prefix) << 64) | u128::from(n & (u64::MAX >> 2)) | (2 << 62)).to_be_bytes();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[at] = b'-';
            at += 1;
        }
        out[at] = HEX[usize::from(b >> 4)];
        out[at + 1] = HEX[usize::from(b & 0xF)];
        at += 2;
    }
    HeaderValue::from_bytes(&out).expect("hex digits and dashes are a valid header value")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_version_4_uuids_that_differ() {
        let mut make = MakeRequestIds;
        let req = Request::new(());
        let a = make.make_request_id(&req).unwrap().into_header_value();
        let b = make.make_request_id(&req).unwrap().into_header_value();
        assert_ne!(a, b);
        for id in [a, b] {
            let text = id.to_str().unwrap().as_bytes();
            assert_eq!(text.len(), 36, "{id:?}");
            for (i, c) in text.iter().enumerate() {
                let dash = matches!(i, 8 | 13 | 18 | 23);
                assert_eq!(*c == b'-', dash, "{id:?}");
                assert!(dash || c.is_ascii_hexdigit(), "{id:?}");
            }
            assert_eq!(text[14], b'4', "version: {id:?}");
            assert!(b"89ab".contains(&text[19]), "variant: {id:?}");
        }
    }

    #[test]
    fn the_counter_is_the_last_part() {
        let id = format_id(0x0123_4567_89ab_4def, 0x2a);
        assert_eq!(id, "01234567-89ab-4def-8000-00000000002a");
    }
}
