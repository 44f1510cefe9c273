//! Nothing here: this crate exists for its tests (`tests/`), which show how to test Spin
//! apps with `runner::testing` from outside the runner's repository.
