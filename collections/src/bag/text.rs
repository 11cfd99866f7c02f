//! Text files for bags: the blocks on line boundaries of local or `s3://` files, now served
//! by the storage layer ([`crate::storage::blocks`]); re-exported here for the bag code.

pub use crate::storage::blocks::{blocks, lines, read_block, TextBlock};
pub use crate::storage::expand;
