//! The `linli` command line, black-box: user management refuses bad input with a clear
//! message, `backup` → `restore` → `check` round-trips a real store, `check` names a
//! damaged document, and the settings precedence flag > `LINLI_*` > `linli.toml` holds.

use automerge::{ChangeHash, ReadDoc};
use linli_shared::{DocumentId, Message, PeerId};
use linli_tests::backup::{parse_backup, write_backup, Records};
use linli_tests::domain::{create, household, read, set};
use linli_tests::peer::Received;
use linli_tests::server::{linli_bin, linli_cli, ALICE, BOB, CAROL};
use linli_tests::{Community, RawConn, ServerProcess, TestPeer};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

const T: Duration = Duration::from_secs(20);

/// Runs `linli --data DATA ARGS` in `cwd` with `stdin`; no `LINLI_*` variable is inherited.
fn linli(data: &Path, args: &[&str], stdin: &str) -> Output {
    let mut cmd = std::process::Command::new(linli_bin());
    cmd.arg("--data").arg(data).args(args);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LINLI_")) {
        cmd.env_remove(k);
    }
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn linli");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write stdin");
    child.wait_with_output().expect("linli output")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The command failed, and its stderr says `what`.
fn assert_fails_saying(out: &Output, what: &str) {
    assert!(!out.status.success(), "expected failure, got success: {}", text(&out.stdout));
    let err = text(&out.stderr);
    assert!(err.contains(what), "stderr does not say {what:?}: {err}");
}

fn new_store_with_grid() -> anyhow::Result<(tempfile::TempDir, PathBuf)> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    linli_cli(&data, &["grid", "add", "g1", "--name", "一网格"], "")?;
    Ok((dir, data))
}

#[test]
fn user_add_refuses_a_short_password() -> anyhow::Result<()> {
    let (_dir, data) = new_store_with_grid()?;
    let add = ["user", "add", "--username", "wang", "--role", "coordinator", "--grid", "g1"];
    for short in ["short", "1234567\n"] {
        let out = linli(&data, &add, short);
        assert_fails_saying(&out, "password must be at least 8 characters");
    }
    assert_fails_saying(&linli(&data, &add, ""), "password must not be blank");
    // Nothing was created: the same user with a good password is added now.
    let out = linli(&data, &add, "a-long-password\n");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("user wang (coordinator) added"), "{}", text(&out.stdout));
    assert_fails_saying(&linli(&data, &add, "a-long-password"), "already exists");
    Ok(())
}

#[test]
fn user_add_refuses_an_unknown_grid() -> anyhow::Result<()> {
    let (_dir, data) = new_store_with_grid()?;
    let out =
        linli(&data, &["user", "add", "--username", "li", "--role", "volunteer", "--grid", "g9"], "a-long-password");
    assert_fails_saying(&out, "grid `g9` does not exist");
    assert_fails_saying(&out, "linli grid add");
    let out = linli(&data, &["user", "add", "--username", "li", "--role", "volunteer"], "a-long-password");
    assert_fails_saying(&out, "at least one grid");
    let out =
        linli(&data, &["user", "add", "--username", "li", "--role", "volunteer", "--grid", "g1"], "a-long-password");
    assert!(out.status.success(), "{}", text(&out.stderr));
    Ok(())
}

/// Alice syncs `n` households through the server; returns their ids and heads. The first
/// document is written in two syncs, so it is stored as two chunks.
async fn store_documents(c: &Community, n: usize) -> anyhow::Result<Vec<(DocumentId, Vec<ChangeHash>)>> {
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&c.token(ALICE).await?)).await?;
    let mut ids = Vec::new();
    for i in 0..n {
        ids.push(create(&mut alice, household("g1", &format!("{}", 501 + i))));
    }
    alice.sync_all(T).await?;
    set(&mut alice, &ids[0], "notes", serde_json::json!("独居老人"));
    alice.sync_all(T).await?;
    Ok(ids.into_iter().map(|id| (id, alice.heads(&id))).collect())
}

async fn fetch(server: &ServerProcess, token: &str, id: DocumentId) -> anyhow::Result<TestPeer> {
    let mut p = TestPeer::new(&format!("fetch-{id}"));
    p.connect(&server.ws_url(token)).await?;
    p.want(id);
    p.sync_all(T).await?;
    Ok(p)
}

#[tokio::test]
async fn backup_restore_and_check_round_trip_a_real_store() -> anyhow::Result<()> {
    let mut c = Community::start(&[]).await?;
    let docs = store_documents(&c, 3).await?;
    let data = c.dir.path().join("data");
    let file = c.dir.path().join("linli.backup");
    let file_s = file.to_str().expect("utf-8");

    // The store is locked while the server runs: a refusal, not a torn copy.
    let out = linli(&data, &["backup", file_s], "");
    assert!(!out.status.success(), "backup of a store in use succeeded");
    assert!(!file.exists(), "a backup file was written from a store in use");
    c.server.kill9().await?;

    let out = linli(&data, &["backup", file_s], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("backed up"), "{}", text(&out.stdout));

    let restored = c.dir.path().join("restored");
    let out = linli(&restored, &["restore", file_s], "");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = linli(&restored, &["check"], "");
    let report = text(&out.stdout);
    assert!(out.status.success(), "check failed: {report}{}", text(&out.stderr));
    // The three households, plus what the server writes itself (DESIGN §3): an inbox per
    // user, a grid index and a medic index per grid. Community::start adds six users in
    // two grids.
    let documents = format!("{} documents", 3 + 6 + 2 * 2);
    assert!(report.contains(&documents), "{report}");
    assert!(report.contains("6 users"), "{report}");
    assert!(report.contains("2 grids"), "{report}");
    assert!(report.contains("store OK"), "{report}");
    // The original store checks the same.
    let out = linli(&data, &["check"], "");
    assert!(out.status.success() && text(&out.stdout).contains(&documents), "{}", text(&out.stdout));

    // Restoring over a store is refused; so is a damaged backup.
    assert_fails_saying(&linli(&restored, &["restore", file_s], ""), "already holds a store");
    let mut bytes = std::fs::read(&file)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    let damaged = c.dir.path().join("damaged.backup");
    std::fs::write(&damaged, &bytes)?;
    let elsewhere = c.dir.path().join("elsewhere");
    assert_fails_saying(&linli(&elsewhere, &["restore", damaged.to_str().expect("utf-8")], ""), "damaged");

    // A server on the restored store serves the same users and the same documents (to
    // carol, the grid's other coordinator: a volunteer such as bob may not read them).
    let server = ServerProcess::start(&restored, 0, &[]).await?;
    server.login(BOB.0, BOB.1).await?;
    let token = server.login(CAROL.0, CAROL.1).await?;
    for (i, (id, heads)) in docs.iter().enumerate() {
        let mut p = fetch(&server, &token, *id).await?;
        assert!(!p.docs[id].unavailable, "{id} is missing after restore");
        let (mut got, mut want) = (p.heads(id), heads.clone());
        got.sort();
        want.sort();
        assert_eq!(got, want, "{id} differs after restore");
        // Strings are stored as Text objects: read them through the domain reader.
        assert_eq!(read(p.doc(id))["kind"], "household");
        let mut want = household("g1", &format!("{}", 501 + i));
        if i == 0 {
            want["notes"] = serde_json::json!("独居老人");
        }
        assert_eq!(read(p.doc(id)), want, "{id}'s content differs after restore");
    }
    Ok(())
}

#[tokio::test]
async fn a_command_on_a_store_in_use_says_to_stop_the_server() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let data = c.dir.path().join("data");
    let file = c.dir.path().join("linli.backup");
    for args in
        [vec!["backup", file.to_str().expect("utf-8")], vec!["check"], vec!["grid", "add", "g2", "--name", "二网格"]]
    {
        let out = linli(&data, &args, "");
        assert_fails_saying(&out, "in use by another linli process");
        assert_fails_saying(&out, "stop the server first");
    }
    Ok(())
}

// --- Damaging a stored chunk from outside ---------------------------------------------
//
// sled's files cannot be edited safely from outside (its own checksums would make it drop
// or refuse the whole log), but the backup format is documented (server/src/store/export.rs):
// `LINLI-BACKUP 2\n`, records `<tag> <len u32 LE> <payload>`, then `Z` and the SHA-256 of
// everything before it; a chunk is tag `C` with payload `<len> <key> <len> <bytes>`. So a
// chunk is damaged by editing a backup, re-sealing it, and restoring it.

/// A chunk record's (key, bytes) and where its bytes start in the payload.
fn chunk_fields(payload: &[u8]) -> (Vec<u8>, Vec<u8>, usize) {
    let klen = u32::from_le_bytes(payload[..4].try_into().expect("4 bytes")) as usize;
    let key = payload[4..4 + klen].to_vec();
    let start = 4 + klen + 4;
    (key, payload[start..].to_vec(), start)
}

/// The chunks stored for `doc` in a parsed backup: (index of the record, chunk bytes).
fn chunks_of(records: &Records, doc: &DocumentId) -> Vec<(usize, Vec<u8>)> {
    let prefix = format!("doc/{doc}/");
    records
        .iter()
        .enumerate()
        .filter(|(_, (tag, _))| *tag == b'C')
        .map(|(i, (_, p))| (i, chunk_fields(p)))
        .filter(|(_, (k, _, _))| k.starts_with(prefix.as_bytes()))
        .map(|(i, (_, v, _))| (i, v))
        .collect()
}

/// A store holding `docs`, backed up to a file that is returned parsed.
async fn backed_up_store() -> anyhow::Result<(Community, Vec<(DocumentId, Vec<ChangeHash>)>, Records)> {
    let mut c = Community::start(&[]).await?;
    let docs = store_documents(&c, 2).await?;
    c.server.kill9().await?;
    let data = c.dir.path().join("data");
    let file = c.dir.path().join("linli.backup");
    linli_cli(&data, &["backup", file.to_str().expect("utf-8")], "")?;
    let records = parse_backup(&std::fs::read(&file)?);
    // Re-sealing an unmodified parse gives back the same file: the parser is faithful.
    assert_eq!(write_backup(&records), std::fs::read(&file)?);
    Ok((c, docs, records))
}

/// Damages the chunk records at `indexes`, restores into a new directory and runs
/// `linli check` there.
fn check_with_damaged_chunks(c: &Community, records: &Records, indexes: &[usize]) -> anyhow::Result<Output> {
    let mut records = records.clone();
    for &index in indexes {
        let payload = &mut records[index].1;
        let (_, value, start) = chunk_fields(payload);
        payload[start + value.len() / 2] ^= 0xff;
    }
    let name = indexes.iter().map(|i| i.to_string()).collect::<Vec<_>>().join("-");
    let file = c.dir.path().join(format!("damaged-{name}.backup"));
    std::fs::write(&file, write_backup(&records))?;
    let restored = c.dir.path().join(format!("restored-{name}"));
    linli_cli(&restored, &["restore", file.to_str().expect("utf-8")], "")?;
    Ok(linli(&restored, &["check"], ""))
}

fn check_with_damaged_chunk(c: &Community, records: &Records, index: usize) -> anyhow::Result<Output> {
    check_with_damaged_chunks(c, records, &[index])
}

fn assert_check_names(out: &Output, doc: &DocumentId) {
    let report = text(&out.stdout) + &text(&out.stderr);
    assert!(!out.status.success(), "check succeeded on a damaged store: {report}");
    assert!(report.contains(&doc.to_string()), "check does not name {doc}: {report}");
    assert!(!report.contains("store OK"), "{report}");
}

#[tokio::test]
async fn check_names_a_document_whose_first_chunk_is_damaged() -> anyhow::Result<()> {
    let (c, docs, records) = backed_up_store().await?;
    let (doc, _) = docs[0];
    let chunks = chunks_of(&records, &doc);
    assert_eq!(chunks.len(), 2, "the first document was written in two syncs");
    // The chunk the other depends on: loaded alone, it needs nothing.
    let first = chunks
        .iter()
        .find(|(_, v)| {
            let mut d = automerge::Automerge::new();
            d.load_incremental(v).is_ok() && d.get_missing_deps(&[]).is_empty() && !d.get_heads().is_empty()
        })
        .map(|(i, _)| *i)
        .expect("a chunk that stands alone");
    let out = check_with_damaged_chunk(&c, &records, first)?;
    assert_check_names(&out, &doc);
    Ok(())
}

#[tokio::test]
async fn check_names_a_document_whose_last_chunk_is_damaged() -> anyhow::Result<()> {
    let (c, docs, records) = backed_up_store().await?;
    // Document 1 was stored as a single chunk; document 0's second chunk is its last.
    let (single, _) = docs[1];
    let chunks = chunks_of(&records, &single);
    assert_eq!(chunks.len(), 1);
    let out = check_with_damaged_chunk(&c, &records, chunks[0].0)?;
    assert_check_names(&out, &single);

    let (doc, _) = docs[0];
    let last = chunks_of(&records, &doc)
        .into_iter()
        .find(|(_, v)| {
            let mut d = automerge::Automerge::new();
            d.load_incremental(v).is_ok() && !d.get_missing_deps(&[]).is_empty()
        })
        .map(|(i, _)| i)
        .expect("a chunk that depends on the other");
    let out = check_with_damaged_chunk(&c, &records, last)?;
    assert_check_names(&out, &doc);
    Ok(())
}

/// `linli check` lists every damaged document, not only the first it meets.
#[tokio::test]
async fn check_lists_every_damaged_document() -> anyhow::Result<()> {
    let (c, docs, records) = backed_up_store().await?;
    let damaged: Vec<usize> = docs.iter().map(|(doc, _)| chunks_of(&records, doc)[0].0).collect();
    let out = check_with_damaged_chunks(&c, &records, &damaged)?;
    for (doc, _) in &docs {
        assert_check_names(&out, doc);
    }
    assert!(text(&out.stderr).contains("2 problems found"), "{}", text(&out.stderr));
    Ok(())
}

/// The audit log is hash-chained: an entry edited in a copy of the store (here, through a
/// backup, which restore takes as written) is reported by `linli check`, naming it.
#[tokio::test]
async fn check_reports_an_edited_audit_entry() -> anyhow::Result<()> {
    let (c, _docs, records) = backed_up_store().await?;
    let audit: Vec<usize> = records.iter().enumerate().filter(|(_, (t, _))| *t == b'L').map(|(i, _)| i).collect();
    assert!(audit.len() >= 3, "the store has audit entries: {}", audit.len());
    // Untouched, the chain verifies.
    let file = c.dir.path().join("audit-intact.backup");
    std::fs::write(&file, write_backup(&records))?;
    let intact = c.dir.path().join("audit-intact");
    linli_cli(&intact, &["restore", file.to_str().expect("utf-8")], "")?;
    let out = linli(&intact, &["check"], "");
    assert!(out.status.success() && text(&out.stdout).contains("store OK"), "{}", text(&out.stdout));
    // Who did it, changed after the fact.
    let mut edited = records.clone();
    let target = audit[audit.len() / 2];
    let mut entry: serde_json::Value = serde_json::from_slice(&edited[target].1)?;
    let seq = entry["seq"].as_u64().expect("seq");
    entry["user"] = serde_json::json!("u-someone-else");
    edited[target].1 = serde_json::to_vec(&entry)?;
    let file = c.dir.path().join("audit-edited.backup");
    std::fs::write(&file, write_backup(&edited))?;
    let restored = c.dir.path().join("audit-edited");
    linli_cli(&restored, &["restore", file.to_str().expect("utf-8")], "")?;
    let out = linli(&restored, &["check"], "");
    let report = text(&out.stdout) + &text(&out.stderr);
    assert!(!out.status.success(), "check passed an edited audit log: {report}");
    assert!(report.contains(&format!("audit log: entry {seq} ")), "check does not name entry {seq}: {report}");
    // A removed entry is found too.
    let mut removed = records.clone();
    removed.remove(target);
    let file = c.dir.path().join("audit-removed.backup");
    std::fs::write(&file, write_backup(&removed))?;
    let restored = c.dir.path().join("audit-removed");
    linli_cli(&restored, &["restore", file.to_str().expect("utf-8")], "")?;
    let out = linli(&restored, &["check"], "");
    assert!(!out.status.success(), "check passed an audit log with an entry missing");
    Ok(())
}

// --- Settings precedence ----------------------------------------------------------------

/// `linli serve` started by hand: in `cwd`, with exactly `env` as its `LINLI_*` variables.
struct Served {
    child: tokio::process::Child,
    addr: SocketAddr,
}

async fn serve(cwd: &Path, data: &Path, env: &[(&str, &str)], flags: &[&str]) -> anyhow::Result<Served> {
    let mut cmd = tokio::process::Command::new(linli_bin());
    cmd.current_dir(cwd).arg("--data").arg(data).arg("serve").args(flags);
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LINLI_")) {
        cmd.env_remove(k);
    }
    cmd.envs(env.iter().copied());
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = tokio::time::timeout(T, async {
        while let Some(line) = lines.next_line().await? {
            if let Some(rest) = line.strip_prefix("linli listening on http://") {
                return Ok(rest.trim().parse::<SocketAddr>()?);
            }
        }
        anyhow::bail!("serve exited before listening")
    })
    .await
    .map_err(|_| anyhow::anyhow!("serve did not start within {T:?}"))??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Served { child, addr })
}

impl Served {
    async fn stop(mut self) -> anyhow::Result<()> {
        self.child.start_kill()?;
        self.child.wait().await?;
        Ok(())
    }

    /// Whether a frame of about `size` bytes is accepted: a `join` padded with an unknown
    /// key (which the protocol says to ignore) gets `peer`, or the socket is closed 1009.
    async fn accepts_frame_of(&self, size: usize) -> anyhow::Result<bool> {
        let resp = reqwest::Client::new()
            .post(format!("http://{}/api/auth/login", self.addr))
            .json(&serde_json::json!({"username": ALICE.0, "password": ALICE.1}))
            .send()
            .await?;
        let body: serde_json::Value = resp.json().await?;
        let token = body["token"].as_str().expect("token");
        let mut raw = RawConn::connect(&format!("ws://{}/sync?token={token}", self.addr)).await?;
        let mut frame = linli_shared::encode(&Message::Join {
            sender_id: PeerId::new("peer-probe".to_owned())?,
            peer_metadata: None,
            supported_protocol_versions: Some(vec!["1".to_owned()]),
        });
        assert!((0xa1..0xb7).contains(&frame[0]), "a small CBOR map");
        frame[0] += 1;
        let pad = size - frame.len() - 7;
        frame.extend_from_slice(&[0x63, b'p', b'a', b'd', 0x59]);
        frame.extend_from_slice(&(pad as u16).to_be_bytes());
        frame.extend(std::iter::repeat_n(0u8, pad));
        assert_eq!(frame.len(), size);
        raw.send_bytes(frame).await?;
        match raw.recv(T).await? {
            Received::Message(Message::Peer { .. }) => Ok(true),
            Received::Closed(Some((1009, _))) => Ok(false),
            other => anyhow::bail!("unexpected answer to a {size}-byte frame: {other:?}"),
        }
    }
}

#[tokio::test]
async fn settings_come_from_flag_then_env_then_linli_toml() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    linli_cli(&data, &["grid", "add", "g1", "--name", "一网格"], "")?;
    linli_cli(&data, &["user", "add", "--username", ALICE.0, "--role", "coordinator", "--grid", "g1"], ALICE.1)?;
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(&cwd)?;
    std::fs::write(cwd.join("linli.toml"), "bind = \"127.0.0.2:0\"\nmax_frame_bytes = 4096\n")?;
    let frame = 8000;

    // The file alone: its bind address, and its frame limit (not the 8 MiB default).
    let s = serve(&cwd, &data, &[], &[]).await?;
    assert_eq!(s.addr.ip().to_string(), "127.0.0.2");
    assert!(!s.accepts_frame_of(frame).await?, "linli.toml max_frame_bytes = 4096 was not applied");
    s.stop().await?;

    // The environment beats the file.
    let env = [("LINLI_BIND", "127.0.0.3:0"), ("LINLI_MAX_FRAME_BYTES", "16384")];
    let s = serve(&cwd, &data, &env, &[]).await?;
    assert_eq!(s.addr.ip().to_string(), "127.0.0.3");
    assert!(s.accepts_frame_of(frame).await?, "LINLI_MAX_FRAME_BYTES did not override linli.toml");
    s.stop().await?;

    // A flag beats the environment.
    let s = serve(&cwd, &data, &env, &["--bind", "127.0.0.4:0", "--max-frame-bytes", "4096"]).await?;
    assert_eq!(s.addr.ip().to_string(), "127.0.0.4");
    assert!(!s.accepts_frame_of(frame).await?, "--max-frame-bytes did not override LINLI_MAX_FRAME_BYTES");
    s.stop().await?;

    // `--config FILE` is used instead of ./linli.toml.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "bind = \"127.0.0.5:0\"\nmax_frame_bytes = 16384\n")?;
    let s = serve(&cwd, &data, &[], &["--config", other.to_str().expect("utf-8")]).await?;
    assert_eq!(s.addr.ip().to_string(), "127.0.0.5");
    assert!(s.accepts_frame_of(frame).await?, "--config file was not used");
    s.stop().await?;

    // Without any file, the defaults: an 8000-byte frame is far below 8 MiB.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty)?;
    let s = serve(&empty, &data, &[], &["--bind", "127.0.0.1:0"]).await?;
    assert!(s.accepts_frame_of(frame).await?);
    s.stop().await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_setting_is_refused_with_a_clear_message() -> anyhow::Result<()> {
    let (dir, data) = new_store_with_grid()?;
    let cwd = dir.path().join("work");
    std::fs::create_dir_all(&cwd)?;
    let run = |env: &[(&str, &str)], flags: &[&str]| {
        let mut cmd = std::process::Command::new(linli_bin());
        cmd.current_dir(&cwd).arg("--data").arg(&data).arg("serve").arg("--bind").arg("127.0.0.1:0").args(flags);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LINLI_")) {
            cmd.env_remove(k);
        }
        cmd.envs(env.iter().copied());
        // A server that starts anyway would run forever: bound the wait and kill it.
        let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("spawn");
        let deadline = std::time::Instant::now() + T;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                let mut err = String::new();
                std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut err).expect("stderr");
                return (status, err);
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("serve with a bad setting did not exit");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    // A misspelt key in ./linli.toml names the file and the key.
    std::fs::write(cwd.join("linli.toml"), "max_frame_byts = 4096\n")?;
    let (status, err) = run(&[], &[]);
    assert!(!status.success());
    assert!(err.contains("linli.toml") && err.contains("max_frame_byts"), "{err}");
    std::fs::remove_file(cwd.join("linli.toml"))?;
    // A zero limit, from the environment or a flag.
    let (status, err) = run(&[("LINLI_MAX_FRAME_BYTES", "0")], &[]);
    assert!(!status.success());
    assert!(err.contains("max_frame_bytes must be greater than 0"), "{err}");
    let (status, err) = run(&[], &["--ping-interval-secs", "0"]);
    assert!(!status.success());
    assert!(err.contains("ping_interval_secs"), "{err}");
    // A short signing key.
    let (status, err) = run(&[("LINLI_JWT_SECRET", "too-short")], &[]);
    assert!(!status.success());
    assert!(err.contains("jwt_secret must be at least 32 bytes"), "{err}");
    assert!(!err.contains("too-short"), "the secret was printed: {err}");
    Ok(())
}
