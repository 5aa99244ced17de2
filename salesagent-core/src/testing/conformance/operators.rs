//! Conformance of [`OperatorStore`]: names are validated, tokens are kept only as hashes, a
//! live name or hash is unique, revocation stops lookups and frees the name.

use super::{expect_err, ok, unique};
use crate::ports::{
    ADMIN_OPERATOR, OperatorStore, claimed_operator, new_operator_token, operator_token_hash,
};
use secrecy::ExposeSecret as _;

/// A fresh operator name (fits the 32-character limit).
fn fresh_name() -> String {
    format!("op-{}", &unique()[..20])
}

/// Runs every check against `store`. Uses fresh names, so a store can be reused across runs.
pub async fn run<S: OperatorStore + ?Sized>(store: &S) {
    let name = fresh_name();
    let token = ok(new_operator_token(&name), "new token");
    let token = token.expose_secret();
    assert_eq!(claimed_operator(token), Some(name.as_str()));
    let hash = operator_token_hash(token);

    let added = ok(store.add_operator(&name, &hash).await, "add");
    assert_eq!(added.name, name);
    assert_eq!(added.token_hash, hash);
    assert!(added.is_live(), "a new operator is live");

    let found = ok(store.operator_by_token_hash(&hash).await, "lookup");
    assert_eq!(found.as_ref().map(|o| o.name.as_str()), Some(name.as_str()));
    assert_eq!(
        found.map(|o| o.created_at),
        Some(added.created_at),
        "created_at round-trips"
    );
    let other = operator_token_hash(&format!("{token}x"));
    assert!(
        ok(store.operator_by_token_hash(&other).await, "lookup other").is_none(),
        "an unknown hash finds nobody"
    );

    let listed = ok(store.list_operators().await, "list");
    assert!(listed.iter().any(|o| o.name == name && o.is_live()));
    assert!(
        listed.windows(2).all(|w| w[0].name <= w[1].name),
        "listed by name"
    );
    assert!(
        listed.iter().all(|o| !o.token_hash.contains(token)),
        "the token itself is never stored"
    );

    // A live name or token is unique.
    let second = operator_token_hash(&format!("{token}-2"));
    expect_err(
        store.add_operator(&name, &second).await,
        "conflict",
        "adding a live name twice",
    );
    expect_err(
        store.add_operator(&fresh_name(), &hash).await,
        "conflict",
        "reusing a token hash",
    );

    // Bad names and hashes are refused.
    for bad in ["", "Alice", "a b", ADMIN_OPERATOR, "-x"] {
        expect_err(
            store.add_operator(bad, &second).await,
            "invalid_input",
            &format!("name {bad:?}"),
        );
    }
    for bad in ["", "abc", &hash.to_uppercase(), token] {
        expect_err(
            store.add_operator(&fresh_name(), bad).await,
            "invalid_input",
            "a hash that is not 64 lowercase hex digits",
        );
    }

    // Revocation stops the token and frees the name.
    assert!(ok(store.revoke_operator(&name).await, "revoke"));
    assert!(
        !ok(store.revoke_operator(&name).await, "revoke again"),
        "revoking twice reports nothing to revoke"
    );
    assert!(
        ok(store.operator_by_token_hash(&hash).await, "lookup revoked").is_none(),
        "a revoked token finds nobody"
    );
    let listed = ok(store.list_operators().await, "list after revoke");
    assert!(
        listed
            .iter()
            .any(|o| o.name == name && o.revoked_at.is_some()),
        "a revoked operator is listed as revoked"
    );
    assert!(!ok(
        store.revoke_operator(&fresh_name()).await,
        "revoke unknown"
    ));

    let again = ok(store.add_operator(&name, &second).await, "re-add");
    assert!(again.is_live());
    assert!(
        ok(store.operator_by_token_hash(&hash).await, "old token").is_none(),
        "re-adding does not bring the old token back"
    );
    assert_eq!(
        ok(store.operator_by_token_hash(&second).await, "new token").map(|o| o.name),
        Some(name.clone())
    );
    let listed = ok(store.list_operators().await, "list after re-add");
    assert_eq!(
        listed.iter().filter(|o| o.name == name).count(),
        1,
        "one record per name"
    );
}
