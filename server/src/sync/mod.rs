//! The sync side of the server: connections, the hub and one actor per open document.

pub mod conn;
pub mod doc_actor;
pub mod gate;
pub mod hub;
pub mod rate;
pub mod session;

pub use conn::{ConnHandle, ConnId};
pub use doc_actor::{ActorSettings, DocCommand, ReplaceFn, ServerWriteFn, Subscription};
pub use gate::{Deferral, Gate, GateError, Incoming, OpenGate, Refusal};
pub use hub::{Hub, HubSettings, TokenIds};
pub use session::{Session, SessionSettings};

#[cfg(test)]
mod tests;
