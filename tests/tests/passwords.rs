//! Password rules when an account is made (`linli user add` and `POST /api/users`): no
//! blank passwords, not the username or a trivial variant of it, nothing guessable
//! (zxcvbn's common-password lists and patterns), with the least score a setting.

use linli_tests::api::post;
use linli_tests::server::{linli_cli, ADMIN};
use linli_tests::Community;
use serde_json::json;

const ADD: [&str; 8] = ["user", "add", "--username", "wang.coord", "--role", "coordinator", "--grid", "g1"];

fn refused_saying(result: anyhow::Result<String>, what: &str) {
    match result {
        Ok(out) => panic!("accepted ({out}); expected a refusal saying {what:?}"),
        Err(e) => assert!(e.to_string().contains(what), "{e} does not say {what:?}"),
    }
}

#[test]
fn user_add_refuses_blank_username_like_and_common_passwords() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    linli_cli(&data, &["grid", "add", "g1", "--name", "一网格"], "")?;
    refused_saying(linli_cli(&data, &ADD, "            \n"), "must not be blank");
    refused_saying(linli_cli(&data, &ADD, "Wang.Coord\n"), "must not be the username");
    refused_saying(linli_cli(&data, &ADD, "wang.coord2026\n"), "must not be the username");
    refused_saying(linli_cli(&data, &ADD, "Wang.Coord!9\n"), "must not be the username");
    refused_saying(linli_cli(&data, &ADD, "coord.wang\n"), "too easy to guess");
    for common in ["password123", "qwertyuiop", "iloveyou1", "P@ssw0rd!"] {
        refused_saying(linli_cli(&data, &ADD, &format!("{common}\n")), "too easy to guess");
    }
    // The least score is a setting (flag or LINLI_PASSWORD_MIN_SCORE); blank stays refused.
    let lax = [&ADD[..], &["--password-min-score", "0"]].concat();
    refused_saying(linli_cli(&data, &lax, "          \n"), "must not be blank");
    let out = linli_cli(&data, &lax, "password123\n")?;
    assert!(out.contains("user wang.coord (coordinator) added"), "{out}");
    let out = linli_cli(
        &data,
        &["user", "add", "--username", "li.vol", "--role", "volunteer", "--grid", "g1"],
        "three unrelated words\n",
    )?;
    assert!(out.contains("user li.vol (volunteer) added"), "{out}");
    Ok(())
}

#[tokio::test]
async fn the_api_refuses_weak_passwords_with_the_reason() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&[]).await?;
    let admin = c.token(ADMIN).await?;
    let add =
        |password: &str| json!({"username": "zhou.vol", "password": password, "role": "volunteer", "grids": ["g1"]});
    for (password, why) in [
        ("          ", "must not be blank"),
        ("ZHOU.VOL", "must not be the username"),
        ("zhou.vol.zhou.vol", "must not be the username"),
        ("zhou.vol!1", "must not be the username"),
        ("12345678", "too easy to guess"),
        ("password1", "too easy to guess"),
    ] {
        let r = post(&c.server, &admin, "/api/users", Some(&add(password))).await?;
        assert_eq!(r.status, 400, "{password:?}: {}", r.body);
        assert_eq!(r.json()["error"]["code"], "bad_request", "{}", r.body);
        let message = r.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.contains(why), "{password:?}: {message}");
    }
    let r = post(&c.server, &admin, "/api/users", Some(&add("stairwell lantern 42"))).await?;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!c.server.login("zhou.vol", "stairwell lantern 42").await?.is_empty());
    Ok(())
}
