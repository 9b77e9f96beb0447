//! The in-memory engine, for tests and simulations. "Durable" here means "visible to every
//! later call", which is all a process-local store can promise. With [`Faults`] it fails
//! on demand, like a disk that fills up, so the server's behaviour under storage failure
//! can be tested in process.

use super::faults::Faults;
use super::layout::Table;
use super::{Generation, KvEngine, KvOp};
use crate::store::{Health, StoreError};
use async_trait::async_trait;
use parking_lot::RwLock;
use std::collections::BTreeMap;

type Tables = [BTreeMap<Vec<u8>, Vec<u8>>; Table::ALL.len()];

#[derive(Debug, Default)]
pub struct MemoryKv {
    tables: RwLock<Tables>,
    faults: Faults,
}

/// Every store trait, in memory.
pub type MemoryEngine = KvEngine<MemoryKv>;

impl MemoryEngine {
    /// An empty in-memory engine.
    pub fn new() -> Self {
        Self::with_faults(Faults::default())
    }

    /// An empty in-memory engine that fails as `faults` says.
    pub fn with_faults(faults: Faults) -> Self {
        // An empty store has nothing to migrate, so this cannot fail or wait.
        KvEngine { kv: MemoryKv { tables: RwLock::default(), faults }, writer: parking_lot::Mutex::new(None) }
    }
}

impl Default for MemoryEngine {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl super::Kv for MemoryKv {
    fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.faults.check_read()?;
        Ok(self.tables.read()[t.index()].get(key).cloned())
    }

    fn scan(&self, t: Table, prefix: &[u8]) -> Result<super::Entries, StoreError> {
        self.faults.check_read()?;
        let tables = self.tables.read();
        Ok(tables[t.index()]
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn scan_rev(
        &self,
        t: Table,
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.faults.check_read()?;
        let tables = self.tables.read();
        let table = &tables[t.index()];
        let iter: Box<dyn Iterator<Item = (&Vec<u8>, &Vec<u8>)>> = match below {
            Some(b) => Box::new(table.range(..b.to_vec()).rev()),
            None => Box::new(table.iter().rev()),
        };
        for (k, v) in iter {
            if !visit(k, v) {
                break;
            }
        }
        Ok(())
    }

    fn apply(&self, ops: Vec<KvOp>) -> Result<Generation, StoreError> {
        self.faults.check_write()?;
        let mut tables = self.tables.write();
        for op in ops {
            match op {
                KvOp::Put(t, k, v) => {
                    tables[t.index()].insert(k, v);
                }
                KvOp::Delete(t, k) => {
                    tables[t.index()].remove(&k);
                }
            }
        }
        Ok(self.faults.generation())
    }

    async fn durable(&self, generation: Generation) -> Result<(), StoreError> {
        self.faults.check_flush(generation).await
    }

    fn health(&self) -> Health {
        self.faults.health()
    }

    async fn recover(&self) -> Result<(), StoreError> {
        self.faults.recover()
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}
