//! The sync side of the server: connections, the hub and one actor per open document.

pub mod conn;
pub mod doc_actor;
pub mod gate;
pub mod hub;
pub mod rate;
pub mod session;

pub use conn::{ConnHandle, ConnId};
pub use gate::{Gate, Incoming, OpenGate, Refusal};
pub use hub::{Hub, HubSettings};
pub use session::{Session, SessionSettings};

#[cfg(test)]
mod tests;
