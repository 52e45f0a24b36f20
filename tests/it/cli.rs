//! The commands as an operator or an app developer runs them: the real binary against a
//! running gateway binary.

use std::process::Output;

use sealgate_testkit::*;

use crate::process::Binary;
use crate::reload::Files;

/// `sealgate client <args>` as the demo's client `MOB-APP`, its secret in the environment.
async fn client(args: &[&str]) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .arg("client")
        .args(args)
        .args(["--channel", "MOB-APP-2001", "--api-key", "MOB-APP"])
        .args(["--token-path", TOKEN_PATH])
        .env("SEALGATE_CLIENT_SECRET", "a client secret")
        .env_remove("SEALGATE_CONFIG")
        .output()
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[tokio::test]
async fn the_cli_client_prints_the_signed_answer_and_makes_a_sealed_call() {
    let upstream = spawn_upstream(Behaviour::Echo).await;
    let files = Files::new(&[7; 32]);
    files.write_config(
        upstream.addr,
        upstream.addr,
        &[("MOB-APP", "a client secret")],
    );
    let gateway = Binary::start(&files.config()).await;

    // The token answer as the gateway sent it: the published members in their order, then
    // the handshake signature.
    let printed = stdout(&client(&["token", &gateway.url("")]).await);
    let answer: serde_json::Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(answer["resCode"], "TOK200");
    let order: Vec<usize> = [
        "resCode",
        "resDesc",
        "token",
        "expiry",
        "serverPublicKey",
        "signature",
    ]
    .iter()
    .map(|member| printed.find(&format!("\"{member}\":")).expect(member))
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{printed}");
    // Whether the signature was checked is said, on the log: here it was not.
    let unpinned = client(&["token", &gateway.url("")]).await;
    assert!(
        String::from_utf8_lossy(&unpinned.stderr).contains("signature was NOT checked"),
        "{}",
        String::from_utf8_lossy(&unpinned.stderr)
    );
    // With the gateway's JWK Set it is checked (and the token request sealed to it).
    let jwks = gateway.url("/.well-known/jwks.json");
    let pinned = client(&["token", &gateway.url(""), "--jwks", &jwks]).await;
    stdout(&pinned);
    assert!(
        String::from_utf8_lossy(&pinned.stderr).contains("signature verified"),
        "{}",
        String::from_utf8_lossy(&pinned.stderr)
    );

    // A sealed call: the upstream sees plaintext and the caller's identity, the caller
    // reads the opened answer.
    let printed = stdout(
        &client(&[
            "call",
            "POST",
            &gateway.url("/api/echo"),
            "--data",
            r#"{"amount":100}"#,
        ])
        .await,
    );
    assert!(
        printed.starts_with("HTTP 200 OK (sealed, opened"),
        "{printed}"
    );
    // The echo's answer, opened: it quotes the body it received as a JSON string.
    assert!(
        printed.contains(r#""body":"{\"amount\":100}""#),
        "{printed}"
    );
    let seen = upstream.requests();
    let last = seen.last().unwrap();
    assert_eq!(&last.body[..], br#"{"amount":100}"#);
    assert_eq!(last.headers["x-client-id"], "MOB-APP");

    // A wrong secret is an error on standard error and a failure status, nothing printed.
    let refused = tokio::process::Command::new(env!("CARGO_BIN_EXE_sealgate"))
        .args(["client", "token", &gateway.url("")])
        .args(["--channel", "MOB-APP-2001", "--api-key", "MOB-APP"])
        .env("SEALGATE_CLIENT_SECRET", "not the secret")
        .output()
        .await
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(refused.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("TOK004"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
