//! The runners of this workspace's transports, behind the features of the same names.

#[cfg(feature = "hyper")]
mod asynchronous;
#[cfg(feature = "ureq")]
mod blocking;

#[cfg(feature = "hyper")]
pub use asynchronous::{Async, runtime};
#[cfg(feature = "ureq")]
pub use blocking::Blocking;
