//! Test support for black-box tests of the real `linli` binary: start and `kill -9` a
//! server process ([`server::ServerProcess`]), and speak the automerge-repo protocol as a
//! phone would ([`peer::TestPeer`]) or send raw frames ([`peer::RawConn`]).

pub mod api;
pub mod backup;
pub mod domain;
pub mod exports;
pub mod faulty;
pub mod outcome;
pub mod peer;
pub mod postgres;
pub mod server;

pub use peer::{RawConn, TestPeer};
pub use server::{Community, ServerProcess};
