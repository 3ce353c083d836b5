//! Program-owned accounts. Each stores its own bump so no instruction re-derives it.

mod config;
mod model;
mod pool;

pub use config::*;
pub use model::*;
pub use pool::*;
