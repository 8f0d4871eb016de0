//! From one `agency.toml` to five Workers, pure. [`names`] says what an environment
//! calls each Worker and resource; [`desired`] reads the service registry's
//! declarations and the config file's parts into the state the environment should be
//! in; [`wrangler`] writes each Worker's configuration; [`plan`] turns the desired
//! state and what the account has into ordered steps, and lists what must be supplied
//! first. The `agency deploy` command observes the account, prints or carries out the
//! steps, and records what it did.

pub mod desired;
pub mod names;
pub mod plan;
pub mod wrangler;

pub use desired::{Desired, Inputs, Resource, Secret, Worker};
pub use names::{BadEnv, Names};
pub use plan::{Local, Missing, Observed, Plan, Step, plan};

#[cfg(test)]
mod tests;
