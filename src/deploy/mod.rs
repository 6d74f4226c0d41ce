//! Deployment to AWS: the SAM template of a stage, generated from the route table and the
//! stage's settings. (The table and the secret parameter themselves: `checkoff resources`.)

pub mod template;
mod yaml;

pub use template::{Template, template};
