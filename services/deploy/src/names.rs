//! What an environment calls each Worker and resource. Every name carries the
//! environment, so staging and production can share an account:
//! `agency-router-production`, the D1 database `agency-router-production`, the KV
//! namespace `agency-assistant-sessions-production`, the queue
//! `agency-webhook-work-production`, the bucket `agency-archive-production`.

use agency_kit::Part;

/// Why an environment name is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "environment {0:?}: use 1 to 20 lowercase letters, digits and dashes, starting with a letter"
)]
pub struct BadEnv(pub String);

/// The names of one environment's Workers and resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    env: String,
}

impl Names {
    pub fn new(env: &str) -> Result<Names, BadEnv> {
        let ok = (1..=20).contains(&env.len())
            && env.starts_with(|c: char| c.is_ascii_lowercase())
            && env
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !env.ends_with('-');
        if ok {
            Ok(Names {
                env: env.to_owned(),
            })
        } else {
            Err(BadEnv(env.to_owned()))
        }
    }

    pub fn env(&self) -> &str {
        &self.env
    }

    /// `agency-router-production`.
    pub fn worker(&self, part: Part) -> String {
        format!("{}-{}", part.worker(), self.env)
    }

    /// The D1 database of `part`: `agency-router-production`.
    pub fn database(&self, part: Part) -> String {
        self.worker(part)
    }

    /// The KV namespace `binding` of `part`: `agency-skill-graph-cache-production`.
    pub fn namespace(&self, part: Part, binding: &str) -> String {
        format!(
            "{}-{}-{}",
            part.worker(),
            binding.to_ascii_lowercase().replace('_', "-"),
            self.env
        )
    }

    /// A queue declared as `name`: `agency-webhook-work-production`.
    pub fn queue(&self, name: &str) -> String {
        format!("{name}-{}", self.env)
    }

    /// The R2 bucket archives go to: `agency-archive-production`.
    pub fn bucket(&self) -> String {
        format!("agency-archive-{}", self.env)
    }

    /// Whether `name` (a Worker's or a resource's) belongs to this environment.
    pub fn owns(&self, name: &str) -> bool {
        name.starts_with("agency-") && name.ends_with(&format!("-{}", self.env))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_carries_the_environment() {
        let n = Names::new("staging").unwrap();
        assert_eq!(n.worker(Part::SkillGraph), "agency-skill-graph-staging");
        assert_eq!(n.database(Part::Router), "agency-router-staging");
        assert_eq!(
            n.namespace(Part::Assistant, "SESSIONS"),
            "agency-assistant-sessions-staging"
        );
        assert_eq!(
            n.queue("agency-webhook-dead"),
            "agency-webhook-dead-staging"
        );
        assert_eq!(n.bucket(), "agency-archive-staging");
        assert!(n.owns("agency-router-staging"));
        assert!(!n.owns("agency-router-production"));
        for bad in ["", "Prod", "1st", "a_b", "x-", &"a".repeat(21)] {
            assert!(Names::new(bad).is_err(), "{bad:?}");
        }
    }
}
