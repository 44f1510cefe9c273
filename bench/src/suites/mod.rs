//! The measurements, each a suite that starts the servers it needs one at a time (so they
//! never compete for the CPU), measures, and stops them.

pub mod breakdown;
pub mod cold_start;
pub mod hold;
pub mod load;
