//! The data directory holds the signing key, password hashes and health data (issue
//! "Hostile input", item 12): it is 0700 and every file in it 0600, whatever the umask,
//! for a store the server creates, one created before (opened and tightened), and a
//! backup file.

use linli_tests::server::{linli_bin, ALICE};
use linli_tests::Community;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// Every path under `dir` whose mode gives anything to the group or others.
fn too_open(dir: &Path, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        // The test harness's own log of the server's stderr, not the server's file.
        if path.file_name().is_some_and(|n| n == "server.log") {
            continue;
        }
        let mode = entry.metadata()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            out.push(format!("{} is {mode:o}", path.display()));
        }
        if entry.file_type()?.is_dir() {
            too_open(&path, out)?;
        }
    }
    Ok(())
}

/// Runs `linli` with a permissive umask (as a shell with `umask 022` would).
fn linli_with_umask(data: &Path, args: &[&str], stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" \"$@\"")
        .arg(linli_bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("linli");
    child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("stdin");
    child.wait_with_output().expect("output")
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    // Created by a command run under umask 022.
    let out = linli_with_umask(&data, &["grid", "add", "g1", "--name", "一网格"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = std::fs::metadata(&data)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the data directory is {mode:o}");
    let mut open = Vec::new();
    too_open(&data, &mut open)?;
    assert!(open.is_empty(), "readable by others: {open:?}");

    // A store made before this rule, with files open to all: opening it tightens them.
    for entry in std::fs::read_dir(data.join("store"))? {
        std::fs::set_permissions(entry?.path(), std::fs::Permissions::from_mode(0o644))?;
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755))?;
    let out = linli_with_umask(&data, &["grid", "add", "g2", "--name", "二网格"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut open = Vec::new();
    too_open(dir.path(), &mut open)?;
    assert!(open.is_empty(), "still readable by others after opening: {open:?}");

    // A backup file is private too.
    let file = dir.path().join("linli.backup");
    let out = linli_with_umask(&data, &["backup", file.to_str().expect("utf-8")], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the backup file is {mode:o}");
    Ok(())
}

#[tokio::test]
async fn a_running_server_writes_only_private_files() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    // Sessions, the signing key, documents: everything the server writes.
    let _ = c.token(ALICE).await?;
    let mut open = Vec::new();
    too_open(&c.data_dir(), &mut open)?;
    assert!(open.is_empty(), "readable by others: {open:?}");
    Ok(())
}
