//! Random ids from a user-space CSPRNG (`rand`'s thread-local ChaCha, seeded and reseeded from the OS).
//!
//! `uuid::Uuid::new_v4` makes a `getrandom` system call per id, and a request needs several (request id, extended
//! request id, X-Ray root; with telemetry on, the extension's event id): measured under wrk, `getrandom` was 4 of the
//! gateway's 14 system calls per request.

/// A version 4 UUID, as `uuid::Uuid::new_v4` makes it.
pub(crate) fn uuid_v4() -> uuid::Uuid {
    uuid::Builder::from_random_bytes(rand::random()).into_uuid()
}

/// `N` random bytes.
pub(crate) fn bytes<const N: usize>() -> [u8; N] {
    rand::random()
}

#[cfg(test)]
mod tests {
    #[test]
    fn uuids_are_version_4_and_differ() {
        let (a, b) = (super::uuid_v4(), super::uuid_v4());
        assert_eq!(a.get_version_num(), 4);
        assert_eq!(a.get_variant(), uuid::Variant::RFC4122);
        assert_ne!(a, b);
    }
}
