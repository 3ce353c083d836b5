//! One module per instruction: its accounts (with every binding as a constraint) and handler.

pub mod buy;
pub mod buyback_and_burn;
pub mod claim_creator_revenue;
pub mod initialize;
mod market;
pub mod register_model;
pub mod release_held_revenue;
pub mod sell;
pub mod tokenize_model;
pub mod update_config;
pub mod update_model;

pub use buy::*;
pub use buyback_and_burn::*;
pub use claim_creator_revenue::*;
pub use initialize::*;
pub use market::*;
pub use register_model::*;
pub use release_held_revenue::*;
pub use sell::*;
pub use tokenize_model::*;
pub use update_config::*;
pub use update_model::*;
