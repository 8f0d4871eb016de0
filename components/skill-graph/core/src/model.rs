//! The skill graph's data model, in the shape of its JSON form.

use serde::{Deserialize, Serialize};

/// Everything the router knows: agents, channels and the skills that tie keywords to
/// agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[cfg_attr(
    feature = "schema",
    schemars(
        description = "Uploads are also validated as a whole (ids unique, every reference known, at most 50,000 keywords): a graph that breaks a rule is refused with 422 and every error in error.details."
    )
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SkillGraph {
    /// Set on graphs handed out by a server; ignored on input (it is recomputed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Minimum confidence for a keyword match to pick an agent.
    #[serde(default = "default_threshold")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub threshold: f64,
    /// Score of the "nobody" option in the confidence softmax: higher makes the router
    /// more reluctant to pick an agent on thin evidence.
    #[serde(default)]
    pub none_score: f64,
    /// Added to the "nobody" score for each word of the message. A long message gathers
    /// weak evidence from common words whatever its topic; this asks more of it, so a
    /// topic the graph does not know is refused more often. `skills learn` chooses it
    /// with the threshold; 0 (the default) leaves "nobody" the same for every message.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 10.0)))]
    pub none_per_word: f64,
    /// How an agent's skills combine (`sum`, the default, or `probability`).
    #[serde(default, skip_serializing_if = "Pooling::is_sum")]
    pub pooling: Pooling,
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(required, length(min = 1)))]
    pub agents: Vec<Agent>,
    #[serde(default)]
    pub channels: Vec<Channel>,
    #[serde(default)]
    pub skills: Vec<Skill>,
    /// How the threshold was chosen when the graph was learned (`agency skills learn`):
    /// the abstention level and what the folds expect of it. Absent on hand-written
    /// graphs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<Calibration>,
    /// Conversation affinity: a message in a conversation that an agent already holds
    /// stays with that agent unless its own evidence picks another one confidently
    /// enough. Absent: every message is routed alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,
}

/// How long a conversation stays with its agent, and what it takes to switch.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Affinity {
    /// A conversation with no message for this long is forgotten (1 s to 30 days).
    #[serde(alias = "ttl_seconds")]
    #[cfg_attr(feature = "schema", schemars(range(min = 1, max = 2_592_000)))]
    pub ttl_seconds: u64,
    /// The confidence at or above which a message's own match for another agent moves
    /// the conversation to that agent (0..1).
    #[serde(alias = "switch_margin")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub switch_margin: f64,
}

/// The longest a conversation is kept: 30 days.
pub const MAX_AFFINITY_TTL_SECONDS: u64 = 30 * 24 * 3600;

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

/// How the skills of one agent combine into the agent's score.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The agent's score is the sum of its skills' scores: skills of one agent found in
    /// the same message reinforce each other. What hand-written graphs want.
    #[default]
    Sum,
    /// Every skill competes in the confidence softmax on its own, and an agent's
    /// confidence is the sum of its skills' probabilities (its score is the log-sum-exp
    /// of theirs). A message must fit one skill well, not gather weak evidence across
    /// many: what `skills learn` writes when the examples carry an `intent`, one skill
    /// per intent, and what makes topics the graph does not know score low.
    Probability,
}

impl Pooling {
    pub fn is_sum(&self) -> bool {
        *self == Pooling::Sum
    }
}

/// What `skills learn` measured when it chose the threshold: on folds in which some
/// agents were left out of training (their messages playing topics never seen) and
/// labelled out-of-scope messages were held out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Calibration {
    /// `low`, `medium`, `high`, or the target recall asked for.
    pub abstain: String,
    /// The out-of-scope recall the level asks for.
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub target_recall: f64,
    /// The threshold chosen (also the graph's `threshold` when learned).
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub threshold: f64,
    /// The per-word "nobody" score chosen with it (also the graph's `nonePerWord`).
    #[serde(default)]
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 10.0)))]
    pub none_per_word: f64,
    /// Expected in-scope accuracy at that threshold.
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub in_scope_accuracy: f64,
    /// Expected out-of-scope recall: the lower of the two below.
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub out_of_scope_recall: f64,
    /// Messages of agents left out of training that were routed to nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub unseen_recall: Option<f64>,
    /// Held-out labelled out-of-scope messages that were routed to nobody.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0.0, max = 1.0)))]
    pub labelled_recall: Option<f64>,
    /// Folds learned.
    #[cfg_attr(feature = "schema", schemars(range(max = 1000)))]
    pub folds: usize,
    /// Labelled messages learned from.
    #[cfg_attr(feature = "schema", schemars(range(max = 1_000_000_000)))]
    pub examples: usize,
}

pub fn default_threshold() -> f64 {
    0.5
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Agent {
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::GraphId"))]
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// Who takes over when this agent is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::GraphId>"))]
    pub fallback: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The agent's pool: work is spread among its healthy instances by spare capacity
    /// and weight. Absent: one implicit instance, the agent itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(length(max = 64)))]
    pub instances: Vec<Instance>,
}

/// One instance of an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Instance {
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::GraphId"))]
    pub id: String,
    /// Its capacity relative to its siblings' (default 1): at equal load, an instance
    /// of weight 2 gets twice the work of one of weight 1.
    #[serde(default = "one")]
    #[cfg_attr(feature = "schema", schemars(range(min = 0.001, max = 1000.0)))]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

/// The most instances an agent may list.
pub const MAX_INSTANCES: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Channel {
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::GraphId"))]
    pub id: String,
    /// What this channel is about; searchable, shown to operators.
    #[serde(default)]
    pub context: String,
    /// Takes messages that match nothing well enough.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::GraphId>"))]
    pub default_agent: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum Complexity {
    Simple,
    Moderate,
    Complex,
}

impl Complexity {
    pub fn parse(s: &str) -> Option<Complexity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "simple" => Some(Complexity::Simple),
            "moderate" => Some(Complexity::Moderate),
            "complex" => Some(Complexity::Complex),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Complexity::Simple => "simple",
            Complexity::Moderate => "moderate",
            Complexity::Complex => "complex",
        }
    }

    pub fn rank(self) -> i32 {
        self as i32
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Skill {
    #[cfg_attr(feature = "schema", schemars(with = "crate::schema::GraphId"))]
    pub id: String,
    /// Owning agent; null for shared skills that only feed others through links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "schema", schemars(with = "Option<crate::schema::GraphId>"))]
    pub agent: Option<String>,
    #[serde(default)]
    pub keywords: Vec<Keyword>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<crate::schema::GraphId>"))]
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complexity: Option<Complexity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "schema", schemars(with = "Vec<crate::schema::GraphId>"))]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The file the skill came from (reported as `skillFilesUsed`); defaults to
    /// `skills/<id>.md`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Written by `agency skills learn`: relearning (`--from-audit`) replaces its
    /// keywords. Skills without it are hand-written and never touched by the learner.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub learned: bool,
}

impl Skill {
    pub fn file_name(&self) -> String {
        self.file
            .clone()
            .unwrap_or_else(|| format!("skills/{}.md", self.id))
    }
}

/// A word or phrase that points at a skill, with how strongly it does.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Keyword {
    pub phrase: String,
    pub weight: f64,
}

impl Keyword {
    pub fn new(phrase: impl Into<String>, weight: f64) -> Keyword {
        Keyword {
            phrase: phrase.into(),
            weight,
        }
    }
}

/// Keywords are written either as a bare string (weight 1) or `{phrase, weight}`.
impl<'de> Deserialize<'de> for Keyword {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Bare(String),
            Full {
                phrase: String,
                #[serde(default = "one")]
                weight: f64,
            },
        }
        fn one() -> f64 {
            1.0
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Bare(phrase) => Keyword {
                phrase,
                weight: 1.0,
            },
            Repr::Full { phrase, weight } => Keyword { phrase, weight },
        })
    }
}
