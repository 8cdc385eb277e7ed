//! Password policy messages and bcrypt hashing through `PasswordHasher` (real bcrypt at cost 4,
//! the lowest bcrypt allows, to keep the suite fast).

use actors::auth::passwords::{PasswordError, PasswordHasher, PasswordPolicy};

#[test]
fn policy_lists_every_unmet_rule() {
    let unmet = PasswordPolicy::default().check("abc").unwrap_err();
    assert_eq!(
        unmet,
        vec![
            "must be at least 8 characters long (it has 3)",
            "must contain an uppercase letter",
            "must contain a digit",
            "must contain a special character (anything but a letter or digit)",
        ]
    );
}

#[test]
fn policy_accepts_a_password_meeting_every_rule() {
    assert_eq!(PasswordPolicy::default().check("Corr3ct-horse"), Ok(()));
}

#[test]
fn policy_counts_characters_not_bytes() {
    let policy = PasswordPolicy {
        min_length: 4,
        require_uppercase: false,
        require_lowercase: false,
        require_digit: false,
        require_special: false,
    };
    assert_eq!(policy.check("äöüß"), Ok(()));
    assert!(policy.check("äöü").is_err());
}

#[test]
fn policy_rejects_empty_and_over_long_passwords_even_when_relaxed() {
    let relaxed = PasswordPolicy {
        min_length: 0,
        require_uppercase: false,
        require_lowercase: false,
        require_digit: false,
        require_special: false,
    };
    assert_eq!(
        relaxed.check(""),
        Err(vec!["must not be empty".to_string()])
    );
    let long = "x".repeat(73);
    assert_eq!(
        relaxed.check(&long),
        Err(vec![
            "must be at most 72 bytes long (it has 73); bcrypt ignores the rest".to_string()
        ])
    );
    assert_eq!(relaxed.check(&"x".repeat(72)), Ok(()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_and_verify_round_trip() {
    let hasher = PasswordHasher::new(4, 2);
    let hash = hasher.hash("Corr3ct-horse").await.expect("hash");
    assert!(hash.starts_with("$2b$04$"), "{hash}");
    assert!(hasher.verify("Corr3ct-horse", &hash).await.expect("verify"));
    assert!(!hasher.verify("corr3ct-horse", &hash).await.expect("verify"));
    // A hash made on the calling thread (CLI) verifies the same way.
    let blocking = hasher.hash_blocking("Another-0ne").expect("hash_blocking");
    assert!(
        hasher
            .verify("Another-0ne", &blocking)
            .await
            .expect("verify")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_hash_what_bcrypt_would_truncate() {
    let hasher = PasswordHasher::new(4, 1);
    let err = hasher.hash(&"x".repeat(73)).await.unwrap_err();
    assert!(matches!(err, PasswordError::TooLong), "{err:?}");
    let hash = hasher
        .hash(&"x".repeat(72))
        .await
        .expect("72 bytes is fine");
    // bcrypt alone would accept this 73-byte guess against a 72-byte password.
    assert!(!hasher.verify(&"x".repeat(73), &hash).await.expect("verify"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verifying_against_something_that_is_not_a_hash_is_an_error() {
    let hasher = PasswordHasher::new(4, 1);
    let err = hasher.verify("pw", "plaintext-in-db").await.unwrap_err();
    assert!(matches!(err, PasswordError::Bcrypt(_)), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dummy_verification_does_real_bcrypt_work() {
    let hasher = PasswordHasher::new(4, 1);
    assert_eq!(hasher.peak_in_flight(), 0);
    hasher.verify_dummy("whatever").await;
    // One hash to create the dummy, then one verification: both went through the bounded pool.
    assert_eq!(hasher.peak_in_flight(), 1);
    hasher.verify_dummy("again").await;
    assert_eq!(hasher.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_bound_is_honoured() {
    let hasher = PasswordHasher::new(6, 2);
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let hasher = hasher.clone();
            tokio::spawn(async move {
                let pw = format!("Passw0rd-{i}");
                let hash = hasher.hash(&pw).await?;
                hasher.verify(&pw, &hash).await
            })
        })
        .collect();
    for task in tasks {
        assert!(task.await.expect("task").expect("hash and verify"));
    }
    let peak = hasher.peak_in_flight();
    assert!((1..=2).contains(&peak), "peak {peak} outside 1..=2");
    assert_eq!(hasher.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_caller_keeps_its_permit_until_bcrypt_finishes() {
    let hasher = PasswordHasher::new(10, 1);
    let slow = {
        let hasher = hasher.clone();
        tokio::spawn(async move { hasher.hash("Passw0rd-slow").await })
    };
    // Wait until the blocking work has really started, then abandon the caller.
    while hasher.in_flight() == 0 {
        tokio::task::yield_now().await;
    }
    slow.abort();
    // The next hash must still wait for the abandoned one: never two at once.
    hasher.hash("Passw0rd-next").await.expect("hash");
    assert_eq!(hasher.peak_in_flight(), 1);
}
