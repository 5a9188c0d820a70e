//! The id-range checks rosterd runs before it starts: in
//! `roster-hostconfig`, which `roster doctor` runs on the same files.

pub use roster_hostconfig::id_ranges::*;
