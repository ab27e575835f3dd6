//! Who may do what: manager users and their permissions (`users`), manager JWTs and the
//! signing secret (`jwt`), and comparison of secrets in constant time (`secret_eq`).
//!
//! The policies that combine them per listener (API port, manager port) live in
//! `api::access`; the CONNECT token rules live with the uid's owner in `shard`.

mod jwt;
mod users;

pub use jwt::{issue_jwt, resolve_jwt_secret, verify_jwt, Claims, PUBLIC_DEFAULT_SECRET};
pub use users::{parse_users, Access, ManagerUser, Permission};

/// Compares two secrets without leaking, through timing, how long a matching prefix is. Only
/// the length is revealed (an attacker learns nothing useful from it).
pub fn secret_eq(given: &str, expected: &str) -> bool {
    let (a, b) = (given.as_bytes(), expected.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::secret_eq;

    #[test]
    fn secrets_compare_exactly() {
        assert!(secret_eq("s3cr3t", "s3cr3t"));
        assert!(!secret_eq("s3cr3", "s3cr3t"));
        assert!(!secret_eq("s3cr3x", "s3cr3t"));
        assert!(!secret_eq("", "s3cr3t"));
        assert!(secret_eq("", ""));
    }
}
