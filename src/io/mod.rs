//! The only module that makes syscalls for the Raft log and the listeners.
#![allow(unsafe_code)]

pub mod listen;
pub mod log_files;
pub mod rpc_tls;
