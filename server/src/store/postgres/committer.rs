//! Group commit: one task takes every batch queued while the previous transaction ran,
//! and commits them in one transaction.
//!
//! The batches' statements go down one connection without waiting for each other
//! (tokio-postgres pipelines them), then one `COMMIT`; each caller is answered only after
//! `COMMIT` returned. A batch that breaks a uniqueness rule (its `INSERT … ON CONFLICT DO
//! NOTHING` touched no row) or whose data the database refuses is answered with its
//! error and the transaction is run again without it, so it fails alone and the others
//! still commit together. (The same as a `SAVEPOINT` per batch, without two more round
//! trips for every batch in the common case where none fails.) A serialisation failure
//! (CockroachDB and SERIALIZABLE databases report them) is retried a few times.
//!
//! If the connection fails or `COMMIT` does not answer, the outcome is unknown: every
//! batch of the group is answered `Unavailable`, the engine fails, and nothing is
//! acknowledged. Retrying such a batch later is harmless (chunks are content addressed,
//! quarantine entries keyed by their content).

use super::plan::{plan, touches_audit, Op, AUDIT_HEAD_LOCK};
use super::{classify, head_from_row, PgError, Shared};
use crate::store::chain::{AuditHead, GENESIS};
use crate::store::{Conflict, StoreError, Write};
use deadpool_postgres::{Client, Object};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, oneshot};

/// A batch waiting for its commit, and where to send the outcome.
pub(crate) struct Job {
    pub batch: Vec<Write>,
    pub done: oneshot::Sender<Result<(), StoreError>>,
}

/// A serialisation failure is retried this many times before the group fails.
const MAX_RETRIES: usize = 3;

/// Starts the committer; it runs until every sender is dropped.
pub(super) fn start(shared: Arc<Shared>) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel(shared.options.group_max.max(1) * 4);
    tokio::spawn(run(shared, rx));
    tx
}

async fn run(shared: Arc<Shared>, mut rx: mpsc::Receiver<Job>) {
    let mut conn: Option<Client> = None;
    let max = shared.options.group_max.max(1);
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < max {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let started = Instant::now();
        let served = jobs.len() as u64;
        commit_group(&shared, &mut conn, jobs).await;
        (shared.options.observe)(started.elapsed(), served);
    }
}

fn answer_all(jobs: Vec<Job>, outcome: Result<(), StoreError>) {
    for job in jobs {
        // A caller that stopped waiting has nothing to be told.
        let _ = job.done.send(outcome.clone());
    }
}

/// Drops a connection from the pool for good (its server side rolls back whatever it
/// had open).
fn discard(conn: &mut Option<Client>) {
    if let Some(c) = conn.take() {
        drop(Object::take(c));
    }
}

/// What one transaction of a group came to.
enum Outcome {
    Committed,
    /// Batch `i` fails alone with this error; the transaction was rolled back.
    Rejected(usize, StoreError),
}

pub(super) async fn commit_group(shared: &Shared, conn: &mut Option<Client>, mut jobs: Vec<Job>) {
    if let Err(e) = shared.refuse_if_failing() {
        return answer_all(jobs, Err(e));
    }
    let mut retries = 0;
    while !jobs.is_empty() {
        if conn.as_ref().is_some_and(|c| c.is_closed()) {
            discard(conn);
        }
        let client = match conn {
            Some(c) => c,
            None => match shared.client().await {
                Ok(c) => conn.insert(c),
                Err(e) => return answer_all(jobs, Err(shared.fail(e))),
            },
        };
        let batches: Vec<&[Write]> = jobs.iter().map(|j| j.batch.as_slice()).collect();
        match tokio::time::timeout(shared.options.timeout, attempt(shared, client, &batches)).await {
            Ok(Ok(Outcome::Committed)) => return answer_all(jobs, Ok(())),
            Ok(Ok(Outcome::Rejected(i, e))) => {
                let _ = jobs.remove(i).done.send(Err(e));
            }
            Ok(Err(PgError::Retry(why))) if retries < MAX_RETRIES => {
                retries += 1;
                tracing::debug!(error = %why, retries, "group commit retried");
            }
            Ok(Err(e)) => {
                discard(conn);
                return answer_all(jobs, Err(shared.fail(e)));
            }
            Err(_) => {
                discard(conn);
                let e = PgError::Down("a commit did not finish within the timeout".into());
                return answer_all(jobs, Err(shared.fail(e)));
            }
        }
    }
}

/// One transaction over `batches`.
async fn attempt(shared: &Shared, client: &Client, batches: &[&[Write]]) -> Result<Outcome, PgError> {
    client.batch_execute("BEGIN").await.map_err(classify)?;
    let result = async {
        let mut head = if batches.iter().any(|b| touches_audit(b)) {
            lock_head(client).await?
        } else {
            AuditHead { seq: 0, hash: GENESIS.to_owned() }
        };
        let plans: Vec<Vec<Op>> = batches.iter().map(|b| plan(b, &mut head)).collect();
        execute(client, &plans).await
    }
    .await;
    match result {
        Ok(None) => {
            client.batch_execute("COMMIT").await.map_err(classify)?;
            Ok(Outcome::Committed)
        }
        Ok(Some((i, problem))) => {
            client.batch_execute("ROLLBACK").await.map_err(classify)?;
            Ok(Outcome::Rejected(i, problem.into_error(shared)))
        }
        Err(e) => {
            // The caller discards the connection if this fails too.
            client.batch_execute("ROLLBACK").await.map_err(classify)?;
            Err(e)
        }
    }
}

/// The chain's head, locked until the transaction ends: appends are serialised by the
/// database, across servers too.
async fn lock_head(client: &Client) -> Result<AuditHead, PgError> {
    let stmt = client.prepare_cached(AUDIT_HEAD_LOCK).await.map_err(classify)?;
    let row = client.query_one(&stmt, &[]).await.map_err(classify)?;
    Ok(head_from_row(&row))
}

/// Why one batch of a group fails alone.
pub(super) enum Problem {
    Conflict(Conflict),
    Refused(String),
}

impl Problem {
    fn into_error(self, shared: &Shared) -> StoreError {
        match self {
            Problem::Conflict(c) => StoreError::Conflict(c),
            Problem::Refused(why) => shared.fail(PgError::Refused(why)),
        }
    }
}

/// Sends every statement of every plan, pipelined, and reads the answers in order: the
/// first batch that broke a rule or whose data was refused, if any. An error that is the
/// database's (not one batch's) is returned as `Err`.
pub(super) async fn execute(client: &Client, plans: &[Vec<Op>]) -> Result<Option<(usize, Problem)>, PgError> {
    let mut sqls: Vec<&str> = plans.iter().flatten().map(|op| op.sql).collect();
    sqls.sort_unstable();
    sqls.dedup();
    let statements = futures_util::future::join_all(sqls.iter().map(|sql| client.prepare_cached(sql))).await;
    let statements = statements.into_iter().collect::<Result<Vec<_>, _>>().map_err(classify)?;
    let params: Vec<Vec<_>> = plans.iter().flatten().map(Op::params).collect();
    let runs = plans.iter().flatten().zip(&params).map(|(op, p)| {
        // `sqls` holds every op's statement.
        let i = sqls.binary_search(&op.sql).unwrap_or(0);
        client.execute(&statements[i], p)
    });
    let mut results = futures_util::future::join_all(runs).await.into_iter();
    let mut first: Option<(usize, Problem)> = None;
    for (i, plan) in plans.iter().enumerate() {
        for op in plan {
            let Some(result) = results.next() else { break };
            if first.is_some() {
                // After the first failure the database refuses the rest (transaction aborted).
                continue;
            }
            match result {
                Ok(0) if op.conflict_if_none.is_some() => {
                    first = op.conflict_if_none.clone().map(|c| (i, Problem::Conflict(c)));
                }
                Ok(_) => {}
                Err(e) => match classify(e) {
                    PgError::Refused(why) => first = Some((i, Problem::Refused(why))),
                    other => return Err(other),
                },
            }
        }
    }
    Ok(first)
}

/// A bulk import: one transaction over every batch, committed by `finish`. Dropped
/// unfinished, its connection is closed and the database rolls everything back.
pub(crate) struct Bulk {
    shared: Arc<Shared>,
    conn: Option<Client>,
    head: AuditHead,
}

impl Bulk {
    pub(super) async fn begin(shared: Arc<Shared>) -> Result<Self, PgError> {
        let client = shared.client().await?;
        let timeout = shared.options.timeout;
        let head = tokio::time::timeout(timeout, async {
            client.batch_execute("BEGIN").await.map_err(classify)?;
            lock_head(&client).await
        })
        .await
        .map_err(|_| PgError::Down("the database did not answer within the timeout".into()))??;
        Ok(Bulk { shared, conn: Some(client), head })
    }

    fn timed_out() -> PgError {
        PgError::Down("the database did not answer within the timeout".into())
    }
}

#[async_trait::async_trait]
impl crate::store::BulkImport for Bulk {
    async fn write(&mut self, batch: Vec<Write>) -> Result<(), StoreError> {
        let Some(client) = self.conn.as_ref() else {
            return Err(StoreError::Unavailable("this import has already failed".into()));
        };
        let plans = vec![plan(&batch, &mut self.head)];
        let outcome = tokio::time::timeout(self.shared.options.timeout, execute(client, &plans))
            .await
            .unwrap_or_else(|_| Err(Self::timed_out()));
        let error = match outcome {
            Ok(None) => return Ok(()),
            Ok(Some((_, problem))) => problem.into_error(&self.shared),
            Err(e) => self.shared.fail(e),
        };
        discard(&mut self.conn);
        Err(error)
    }

    async fn finish(mut self: Box<Self>) -> Result<(), StoreError> {
        let Some(client) = self.conn.as_ref() else {
            return Err(StoreError::Unavailable("this import has already failed".into()));
        };
        let committed = tokio::time::timeout(self.shared.options.timeout, client.batch_execute("COMMIT"))
            .await
            .map_err(|_| Self::timed_out())
            .and_then(|r| r.map_err(classify));
        match committed {
            Ok(()) => {
                self.conn.take();
                Ok(())
            }
            Err(e) => {
                discard(&mut self.conn);
                Err(self.shared.fail(e))
            }
        }
    }
}

impl Drop for Bulk {
    fn drop(&mut self) {
        discard(&mut self.conn);
    }
}
